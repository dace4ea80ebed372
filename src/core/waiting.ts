/**
 * Stanzas that wait for the first resource after (re)connecting, in arrival
 * order, indexed so that admitting one more stays O(1) however many wait.
 */
import { Tally } from "./tally.ts";

/** What waits: until when, for whom, and (a request) under which key. */
export interface Waiting {
  /** When it stops waiting and gets an error. */
  readonly until: number;
  /** The sender's bare JID, lowercase (per-requester limits). */
  readonly requesterBare: string;
  /** The sender's domain, prepared (per-domain limits). */
  readonly requesterDomain: string;
  /** `from\0id` of a request (duplicate ids); none for a message. */
  readonly key?: string;
}

/** A list of waiting stanzas with their keys, counts per sender and earliest `until`. */
export class WaitingList<T extends Waiting> {
  #items: T[] = [];
  readonly #keys = new Set<string>();
  readonly #perBare = new Tally();
  readonly #perDomain = new Tally();
  #earliest: number | undefined;

  /** How many wait. */
  get length(): number {
    return this.#items.length;
  }

  /** The earliest `until`, or undefined when none waits. */
  get nextUntil(): number | undefined {
    return this.#earliest;
  }

  /** Whether a request with this key waits. */
  has(key: string): boolean {
    return this.#keys.has(key);
  }

  /** How many of this sender's stanzas wait. */
  countFor(requesterBare: string): number {
    // Nearly always empty: no lookup then.
    return this.#items.length === 0 ? 0 : this.#perBare.get(requesterBare);
  }

  /** How many stanzas from this domain wait. */
  countForDomain(domain: string): number {
    return this.#items.length === 0 ? 0 : this.#perDomain.get(domain);
  }

  /** Adds one at the end. */
  push(item: T): void {
    this.#items.push(item);
    if (item.key !== undefined) this.#keys.add(item.key);
    this.#perBare.add(item.requesterBare);
    this.#perDomain.add(item.requesterDomain);
    if (this.#earliest === undefined || item.until < this.#earliest) this.#earliest = item.until;
  }

  /** Removes and returns all, in arrival order. */
  takeAll(): T[] {
    const all = this.#items;
    this.#items = [];
    this.#keys.clear();
    this.#perBare.clear();
    this.#perDomain.clear();
    this.#earliest = undefined;
    return all;
  }

  /** Removes and returns those whose `until` is at or before `now`, in arrival order. */
  takeExpired(now: number): T[] {
    if (this.#earliest === undefined || this.#earliest > now) return [];
    const expired: T[] = [];
    const kept: T[] = [];
    for (const item of this.takeAll()) (item.until <= now ? expired : kept).push(item);
    for (const item of kept) this.push(item);
    return expired;
  }
}

/**
 * Tables of requests that await their one reply, with deadlines.
 *
 * Deadlines are kept in one queue per timeout value: within a queue they
 * nearly always grow with insertion order, so the earliest deadline of the
 * table is at the head of one of a handful of queues, and removal stays
 * O(1). One that does not (a request that waited for its resource while
 * later ones went out) is put in its place.
 */
import type { Pending, Timed } from "./held.ts";
import { Tally } from "./tally.ts";

export type { Pending, Timed } from "./held.ts";

/** One timeout's entries, in deadline order, and the latest deadline it has held. */
interface Queue<T> {
  readonly entries: Set<T>;
  /** What a new entry appended must not precede. */
  latest: number;
}

/** Entries by key, with their deadline queues. */
export class DeadlineTable<T extends Timed> {
  #byKey = new Map<string, T>();
  #queues = new Map<number, Queue<T>>();

  /** How many entries there are. */
  get size(): number {
    return this.#byKey.size;
  }

  /** The entry with this key. */
  get(key: string): T | undefined {
    return this.#byKey.get(key);
  }

  /** Adds an entry; the caller checked its key is free. */
  add(entry: T): void {
    this.#byKey.set(entry.key, entry);
    let queue = this.#queues.get(entry.timeoutMs);
    if (!queue) {
      this.#queues.set(entry.timeoutMs, queue = { entries: new Set(), latest: -Infinity });
    }
    if (entry.deadline >= queue.latest) {
      queue.entries.add(entry);
      queue.latest = entry.deadline;
      return;
    }
    // Rare: earlier than one already queued. Rebuilt in order.
    const ordered = [...queue.entries];
    let at = ordered.length;
    while (at > 0 && ordered[at - 1].deadline > entry.deadline) at--;
    ordered.splice(at, 0, entry);
    queue.entries.clear();
    for (const item of ordered) queue.entries.add(item);
  }

  /**
   * Removes an entry from the table and its queue. Returns false, changing
   * nothing, when it is not in the table (removed already, or its key now
   * belongs to a newer entry).
   */
  remove(entry: T): boolean {
    if (this.#byKey.get(entry.key) !== entry) return false;
    this.#byKey.delete(entry.key);
    const queue = this.#queues.get(entry.timeoutMs);
    if (queue) {
      queue.entries.delete(entry);
      if (queue.entries.size === 0) this.#queues.delete(entry.timeoutMs);
    }
    return true;
  }

  /** The earliest deadline, or undefined when the table is empty. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const queue of this.#queues.values()) {
      const head = queue.entries.values().next().value;
      if (head && (next === undefined || head.deadline < next)) {
        next = head.deadline;
      }
    }
    return next;
  }

  /** Removes and returns every entry whose deadline is at or before now. */
  takeExpired(now: number): T[] {
    const expired: T[] = [];
    for (const queue of this.#queues.values()) {
      for (const entry of queue.entries) {
        if (entry.deadline > now) break;
        expired.push(entry);
      }
    }
    for (const entry of expired) this.remove(entry);
    return expired;
  }

  /** Removes and returns every entry. */
  takeAll(): T[] {
    const all = [...this.#byKey.values()];
    for (const entry of all) this.remove(entry);
    return all;
  }

  /** Every entry, oldest first within each timeout. */
  values(): IterableIterator<T> {
    return this.#byKey.values();
  }
}

/**
 * Forwarded requests; each also counted on the resource that holds it, per
 * requester bare JID (max_pending_per_requester) and per requester domain
 * (max_pending_per_domain).
 */
export class PendingTable extends DeadlineTable<Pending> {
  readonly #perRequester = new Tally();
  readonly #perDomain = new Tally();

  /** How many requests of this requester bare JID are pending. */
  countFor(requesterBare: string): number {
    return this.#perRequester.get(requesterBare);
  }

  /** How many requests from this domain (see domainKey) are pending. */
  countForDomain(domain: string): number {
    return this.#perDomain.get(domain);
  }

  override add(entry: Pending): void {
    super.add(entry);
    entry.resource?.pending.add(entry);
    entry.requesterCount = this.#perRequester.add(entry.requesterBare);
    entry.domainCount = this.#perDomain.add(entry.requesterDomain);
  }

  override remove(entry: Pending): boolean {
    if (!super.remove(entry)) return false;
    entry.resource?.pending.delete(entry);
    entry.resource = undefined;
    if (entry.requesterCount) this.#perRequester.release(entry.requesterCount);
    if (entry.domainCount) this.#perDomain.release(entry.domainCount);
    return true;
  }
}

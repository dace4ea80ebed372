/**
 * The table of forwarded requests that await their one reply.
 *
 * Deadlines are kept in one queue per timeout value: within a queue they
 * grow with insertion order, so the earliest deadline of the table is at the
 * head of one of a handful of queues, and removal stays O(1).
 */
import type { Resource } from "./resources.ts";
import type { XmlElement } from "./xml.ts";

/** A request forwarded to a resource that has not been answered yet. */
export interface Pending {
  /** `<resource of our JID used as from>\0<id>`: how the reply finds it. */
  readonly key: string;
  /** The requester's full JID, as the server stamped it. */
  readonly requester: string;
  /** The requester's bare JID, lowercase (balancing, limits). */
  readonly requesterBare: string;
  readonly id: string;
  readonly type: "get" | "set";
  /** The resource of our JID the request was sent from. */
  readonly via: string;
  /** The request as received; kept only for a get (re-sent on failover). */
  readonly request: XmlElement | undefined;
  readonly started: number;
  readonly deadline: number;
  readonly timeoutMs: number;
  /** The resource holding it, or undefined while it waits unattached. */
  resource: Resource | undefined;
  /** The full JID the reply must come from. */
  resourceJid: string;
  /** Whether it was already re-sent once after a failover. */
  retried: boolean;
}

/** The pending-request table with its deadline queues. */
export class PendingTable {
  #byKey = new Map<string, Pending>();
  #queues = new Map<number, Set<Pending>>();

  /** How many requests are pending. */
  get size(): number {
    return this.#byKey.size;
  }

  /** The pending request a reply with this key answers. */
  get(key: string): Pending | undefined {
    return this.#byKey.get(key);
  }

  /** Adds a request; the caller checked its key is free. */
  add(entry: Pending): void {
    this.#byKey.set(entry.key, entry);
    let queue = this.#queues.get(entry.timeoutMs);
    if (!queue) this.#queues.set(entry.timeoutMs, queue = new Set());
    queue.add(entry);
    entry.resource?.pending.add(entry);
  }

  /** Removes a request from the table, its queue and its resource. */
  remove(entry: Pending): void {
    this.#byKey.delete(entry.key);
    const queue = this.#queues.get(entry.timeoutMs);
    if (queue) {
      queue.delete(entry);
      if (queue.size === 0) this.#queues.delete(entry.timeoutMs);
    }
    entry.resource?.pending.delete(entry);
    entry.resource = undefined;
  }

  /** The earliest deadline, or undefined when nothing is pending. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const queue of this.#queues.values()) {
      const head = queue.values().next().value;
      if (head && (next === undefined || head.deadline < next)) {
        next = head.deadline;
      }
    }
    return next;
  }

  /** Removes and returns every request whose deadline is at or before now. */
  takeExpired(now: number): Pending[] {
    const expired: Pending[] = [];
    for (const queue of this.#queues.values()) {
      for (const entry of queue) {
        if (entry.deadline > now) break;
        expired.push(entry);
      }
    }
    for (const entry of expired) this.remove(entry);
    return expired;
  }

  /** Removes and returns every pending request. */
  takeAll(): Pending[] {
    const all = [...this.#byKey.values()];
    for (const entry of all) this.remove(entry);
    return all;
  }
}

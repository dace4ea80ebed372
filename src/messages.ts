/**
 * What the proxy remembers of messages the target sent (`messages: forward`):
 * enough to return a message error to the resource whose message caused it.
 * Bounded: the oldest entries are forgotten first.
 */
import { normalizeJid } from "./jid.ts";
import { detach } from "./xml.ts";

/** Recent outgoing messages: (peer, id) → the resource that sent it. */
export class SentMessages {
  readonly #byKey = new Map<string, string>();
  readonly #limit: number;

  /** @param limit entries kept at most (default 10000). */
  constructor(limit = 10_000) {
    this.#limit = limit;
  }

  /** Remembers that `resourceJid` sent message `id` to `peer`. */
  remember(peer: string, id: string, resourceJid: string): void {
    const key = `${normalizeJid(peer)}\0${id}`;
    this.#byKey.delete(key);
    // Kept for a while: copies, see detach().
    this.#byKey.set(detach(key), detach(resourceJid));
    if (this.#byKey.size > this.#limit) {
      this.#byKey.delete(this.#byKey.keys().next().value as string);
    }
  }

  /** The resource a message error from `peer` about `id` belongs to (and forgets it). */
  take(peer: string, id: string): string | undefined {
    const key = `${normalizeJid(peer)}\0${id}`;
    const resourceJid = this.#byKey.get(key);
    this.#byKey.delete(key);
    return resourceJid;
  }

  /** How many are remembered. */
  get size(): number {
    return this.#byKey.size;
  }
}

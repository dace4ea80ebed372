/**
 * What the proxy remembers of messages the target sent (`messages: forward`):
 * enough to return a message error to the resource whose message caused it.
 * Bounded: the oldest entries are forgotten first.
 */
import { normalizeJid } from "./jid.ts";
import { detach } from "./xml.ts";

/** What a message error is about: the resource whose message it was, if that can be told. */
export type SentBy =
  | { readonly kind: "resource"; readonly jid: string }
  /** Two resources sent the same id to the same JID: whose it is cannot be told. */
  | { readonly kind: "ambiguous" }
  | { readonly kind: "unknown" };

/** Two resources used one id towards one JID (ids are theirs: never rewritten). */
const AMBIGUOUS = "";
const UNKNOWN: SentBy = Object.freeze({ kind: "unknown" });
const TWO: SentBy = Object.freeze({ kind: "ambiguous" });

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
    const before = this.#byKey.get(key);
    this.#byKey.delete(key);
    const sender = before === undefined || before === resourceJid ? detach(resourceJid) : AMBIGUOUS;
    // Kept for a while: copies, see detach().
    this.#byKey.set(detach(key), sender);
    if (this.#byKey.size > this.#limit) {
      this.#byKey.delete(this.#byKey.keys().next().value as string);
    }
  }

  /**
   * Whose message an error from `peer` about `id` is (and forgets it). A
   * message sent to a bare JID may be refused by one of its resources: the
   * error then comes from that full JID.
   */
  take(peer: string, id: string): SentBy {
    const full = normalizeJid(peer);
    const slash = full.indexOf("/");
    const exactKey = `${full}\0${id}`;
    const bareKey = slash < 0 ? undefined : `${full.slice(0, slash)}\0${id}`;
    const exact = this.#byKey.get(exactKey);
    const bare = bareKey === undefined ? undefined : this.#byKey.get(bareKey);
    const key = exact !== undefined ? exactKey : bareKey;
    const sender = exact ?? bare;
    if (sender === undefined || key === undefined) return UNKNOWN;
    this.#byKey.delete(key);
    // Sent to the full JID by one resource and to its bare JID by another,
    // under one id: the error could be about either.
    const other = exact !== undefined && bare !== undefined && bare !== exact;
    return sender === AMBIGUOUS || other ? TWO : { kind: "resource", jid: sender };
  }

  /** How many are remembered. */
  get size(): number {
    return this.#byKey.size;
  }
}

/**
 * What a closing stream could not answer, kept for the stream that serves
 * the domain next (src/app/proxy.ts): the rules of what is worth carrying,
 * how many are kept, and which have waited too long. Pure: the caller says
 * what time it is.
 */
import { bareOf } from "../core/jid.ts";
import { serialize, type XmlElement } from "../core/xml.ts";
import { isRequest } from "../core/stanza.ts";

/** A stanza kept to carry, and when it arrived (ms, the proxies' clock). */
export interface Carried {
  readonly stanza: XmlElement;
  readonly at: number;
}

/**
 * Stanzas kept at most, and their characters: the server routes them for
 * the moment it takes to read a stream's end (or while a trial runs), and a
 * flood then must not grow memory without bound (a thousand stanzas of
 * `max_stanza_size` could be a gigabyte).
 */
export const MAX_CARRIED = 1_000;
export const MAX_CARRIED_CHARS = 32 * 1024 * 1024;

/** A bounded store of stanzas to carry, oldest first. */
export class CarryOver {
  #items: Carried[] = [];
  #chars = 0;
  #dropped = 0;
  readonly #limit: number;
  readonly #maxChars: number;

  constructor(limit = MAX_CARRIED, maxChars = MAX_CARRIED_CHARS) {
    this.#limit = limit;
    this.#maxChars = maxChars;
  }

  /** How many the limit left out so far. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Keeps `item`; false when it would pass either limit and is dropped (counted). */
  keep(item: Carried): boolean {
    // Measured as written: only a closing stream's stanzas come here, so rarely.
    const chars = serialize(item.stanza).length;
    if (this.#items.length >= this.#limit || this.#chars + chars > this.#maxChars) {
      this.#dropped++;
      return false;
    }
    this.#items.push(item);
    this.#chars += chars;
    return true;
  }

  /** Everything kept, oldest first; the store is left empty. */
  takeAll(): Carried[] {
    const items = this.#items;
    this.#items = [];
    this.#chars = 0;
    return items;
  }
}

/**
 * Whether a stanza that reached a stream after its end is worth routing
 * on the next one: not an answer (the requests it answers were settled as
 * the stream closed), and not the target's presence (state that the next
 * stream asks for afresh; a stale one would bring back a resource gone),
 * but for its `subscribe`, which it would not send again.
 */
export function worthCarrying(stanza: XmlElement, targetAddress: string): boolean {
  if (stanza.name === "iq") return isRequest(stanza);
  if (stanza.name === "presence" && fromAccount(stanza, targetAddress)) {
    return stanza.attrs.type === "subscribe";
  }
  return true;
}

/** Whether a stanza came from the account at `address` (a bare JID), any of its resources. */
export function fromAccount(stanza: XmlElement, address: string): boolean {
  return bareOf(stanza.attrs.from ?? "") === address.toLowerCase();
}

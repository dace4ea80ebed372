/**
 * What a closing stream could not answer, kept for the stream that serves
 * the domain next (src/app/proxy.ts): the rules of what is worth carrying,
 * how many are kept, and which have waited too long. Pure: the caller says
 * what time it is.
 */
import { bareOf } from "../core/jid.ts";
import type { XmlElement } from "../core/xml.ts";
import { isRequest } from "../core/stanza.ts";

/** A stanza kept to carry, and when it arrived (ms, the proxies' clock). */
export interface Carried {
  readonly stanza: XmlElement;
  readonly at: number;
}

/**
 * Stanzas kept at most: the server routes them for the moment it takes to
 * read a stream's end (or while a trial runs), and a flood then must not
 * grow memory without bound (each is at most `max_stanza_size`).
 */
export const MAX_CARRIED = 1_000;

/** A bounded store of stanzas to carry, oldest first. */
export class CarryOver {
  #items: Carried[] = [];
  #dropped = 0;
  readonly #limit: number;

  constructor(limit = MAX_CARRIED) {
    this.#limit = limit;
  }

  /** How many the limit left out so far. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Keeps `item`; false when the store is full and it is dropped (counted). */
  keep(item: Carried): boolean {
    if (this.#items.length >= this.#limit) {
      this.#dropped++;
      return false;
    }
    this.#items.push(item);
    return true;
  }

  /** Everything kept, oldest first; the store is left empty. */
  takeAll(): Carried[] {
    const items = this.#items;
    this.#items = [];
    return items;
  }
}

/**
 * Whether a stanza that reached a stream after its end is worth routing
 * on the next one: not an answer (the requests it answers were settled as
 * the stream closed), and not the target's presence (state that the next
 * stream asks for afresh; a stale one would bring back a resource gone).
 */
export function worthCarrying(stanza: XmlElement, targetAddress: string): boolean {
  if (stanza.name === "iq") return isRequest(stanza);
  if (stanza.name === "presence") {
    return bareOf(stanza.attrs.from ?? "") !== targetAddress.toLowerCase();
  }
  return true;
}

/** Whether a carried request waited past `timeoutMs` already: it is answered as timed out. */
export function expired(item: Carried, now: number, timeoutMs: number): boolean {
  return isRequest(item.stanza) && now - item.at >= timeoutMs;
}

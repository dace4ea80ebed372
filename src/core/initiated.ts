/**
 * Requests started by the implementing client (`allow_target_requests`):
 * a get/set from a target resource to `<domain>/<JID>` goes to `<JID>` from
 * the bare domain under an id of ours (two resources may use the same id
 * towards the same JID); the one reply from exactly that JID with that id
 * goes back to the resource, from `<domain>/<JID>`, with its original id.
 */
import { jidKey } from "./jid.ts";
import { DeadlineTable, type Timed } from "./pending.ts";
import { runPrefix } from "./run_prefix.ts";
import { errorReply, type StanzaError } from "./stanza.ts";
import { copyString, readdress, type XmlElement } from "./xml.ts";

/** One request of a target resource in flight. */
interface Initiated extends Timed {
  /** The id we sent it with. */
  readonly key: string;
  /** The id the resource used. */
  readonly id: string;
  readonly resourceName: string;
  readonly resourceJid: string;
  /** The JID it was sent to, as the resource wrote it. */
  readonly peer: string;
  /** {@link peer} as the server stamps replies from it. */
  readonly peerNorm: string;
  readonly started: number;
}

/** A request answered or given up, for logs and metrics. */
export interface Settled {
  readonly send: XmlElement;
  readonly resource: string;
  readonly durationMs: number;
}

/** The target's requests in flight, with their deadlines. */
export class InitiatedRequests {
  readonly #table = new DeadlineTable<Initiated>();
  readonly #domain: string;
  readonly #randomBits: () => number;
  /**
   * Differs per run (src/core/run_prefix.ts), so that a late reply to a
   * request of an earlier run matches nothing. Drawn at the first request:
   * a run that starts none draws nothing.
   */
  #prefix: string | undefined;
  #next = 0;

  /**
   * @param domain the component's domain (where the replies come to)
   * @param options `randomBits`: the secure source this run's id prefix is drawn from
   */
  constructor(domain: string, options: { randomBits: () => number }) {
    this.#domain = domain;
    this.#randomBits = options.randomBits;
  }

  /** How many are in flight. */
  get size(): number {
    return this.#table.size;
  }

  /** The earliest deadline, if any. */
  nextDeadline(): number | undefined {
    return this.#table.nextDeadline();
  }

  /** Records a request from `resource` to `peer`; returns the stanza for the peer. */
  start(
    stanza: XmlElement,
    peer: string,
    options: { resourceName: string; started: number; timeoutMs: number },
  ): XmlElement {
    this.#prefix ??= `cp${runPrefix(this.#randomBits)}-`;
    const key = this.#prefix + (this.#next++).toString(36);
    this.#table.add({
      key,
      // Kept until the reply: copies, see copyString().
      id: copyString(stanza.attrs.id ?? ""),
      resourceName: copyString(options.resourceName),
      resourceJid: copyString(stanza.attrs.from ?? ""),
      peer: copyString(peer),
      peerNorm: copyString(jidKey(peer)),
      started: options.started,
      deadline: options.started + options.timeoutMs,
      timeoutMs: options.timeoutMs,
    });
    return readdress(stanza, {
      id: key,
      to: peer,
      from: this.#domain,
    });
  }

  /**
   * The reply to one of our requests, for the resource that asked (or, with
   * `instead`, that error in its place); undefined when it answers nothing
   * of ours (unknown id, or not from that JID).
   */
  reply(stanza: XmlElement, now: number, instead?: StanzaError): Settled | undefined {
    const entry = this.#table.get(stanza.attrs.id ?? "");
    if (!entry || jidKey(stanza.attrs.from ?? "") !== entry.peerNorm) return undefined;
    this.#table.remove(entry);
    const addressing = {
      id: entry.id,
      to: entry.resourceJid,
      from: `${this.#domain}/${entry.peer}`,
    };
    return {
      send: instead ? errorReply("iq", addressing, instead) : readdress(stanza, addressing),
      resource: entry.resourceName,
      durationMs: now - entry.started,
    };
  }

  /** Forgets the requests of every resource not `online`: nobody is left to answer them. */
  forgetAbsent(online: (name: string) => boolean): void {
    for (const entry of [...this.#table.values()]) {
      if (!online(entry.resourceName)) this.#table.remove(entry);
    }
  }

  /** Forgets the requests of a resource that went away: nobody is left to answer. */
  forgetResource(name: string): void {
    for (const entry of [...this.#table.values()]) {
      if (entry.resourceName === name) this.#table.remove(entry);
    }
  }

  /** Answers the requests past their deadline (or all of them) with `error`. */
  settle(now: number, error: StanzaError, options: { all?: boolean } = {}): Settled[] {
    const entries = options.all ? this.#table.takeAll() : this.#table.takeExpired(now);
    return entries.map((entry) => ({
      send: errorReply("iq", {
        id: entry.id,
        to: entry.resourceJid,
        from: `${this.#domain}/${entry.peer}`,
      }, error),
      resource: entry.resourceName,
      durationMs: now - entry.started,
    }));
  }
}

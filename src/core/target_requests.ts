/**
 * The rule for requests the implementing client starts
 * (`allow_target_requests`): admitted or refused, sent on under an id of
 * ours, and answered once: by the peer's reply, or by an error when time
 * runs out or the proxy stops. The table they wait in is initiated.ts.
 */
import type { RouterContext } from "./context.ts";
import { drop, outcome, refuse } from "./effects.ts";
import { InitiatedRequests, type Settled } from "./initiated.ts";
import { peerAddress } from "./jat.ts";
import type { Effects, Outcome } from "./router_events.ts";
import type { StanzaError } from "./stanza.ts";
import { ANSWER_TOO_BIG, BAD_REQUEST, BUSY, MALFORMED, SHUTTING_DOWN } from "./stanza_errors.ts";
import type { XmlElement } from "./xml.ts";

/** The target's own requests, from its get/set to their one answer. */
export class TargetRequests {
  readonly #ctx: RouterContext;
  readonly #initiated: InitiatedRequests;

  /** @param randomBits the secure source this run's id prefix is drawn from */
  constructor(context: RouterContext, randomBits: () => number) {
    this.#ctx = context;
    this.#initiated = new InitiatedRequests(context.settings.domain, { randomBits });
  }

  /** How many are in flight. */
  get size(): number {
    return this.#initiated.size;
  }

  /** The earliest deadline, if any. */
  nextDeadline(): number | undefined {
    return this.#initiated.nextDeadline();
  }

  /** A get/set from a target resource to `<domain>/<JID>`. */
  start(fx: Effects, stanza: XmlElement, toResource: string, now: number): void {
    const { id, from } = stanza.attrs as { id?: string; from: string };
    const { settings, accepting, inFlightCount } = this.#ctx;
    const peer = peerAddress(toResource, settings.domain);
    if (id === undefined) return refuse(fx, stanza, BAD_REQUEST, "bad_request");
    if (!accepting) return refuse(fx, stanza, SHUTTING_DOWN, "shutdown");
    if (peer === undefined) return refuse(fx, stanza, MALFORMED, "bad_address");
    if (inFlightCount >= settings.maxPending) return refuse(fx, stanza, BUSY, "busy");
    const resourceName = from.slice(from.indexOf("/") + 1);
    fx.send.push(this.#initiated.start(stanza, peer, {
      resourceName,
      now,
      timeoutMs: settings.requestTimeoutMs,
    }));
    fx.events.push({ type: "passed", stanza: "target_request", from, to: peer, id });
  }

  /** The reply to a request the target started, if it is one. */
  reply(fx: Effects, stanza: XmlElement, now: number): void {
    const settled = this.#initiated.reply(stanza, now);
    if (!settled) return void drop(fx, "unmatched", stanza);
    this.#deliver(fx, settled, stanza.attrs.type === "error" ? "error" : "result");
  }

  /**
   * A reply over `max_stanza_size` (its payload unread): dropped, and the
   * resource whose request it answers gets an error now, not at its timeout.
   */
  replyTooBig(fx: Effects, stanza: XmlElement, now: number): void {
    drop(fx, "too_big", stanza);
    const settled = this.#initiated.reply(stanza, now, ANSWER_TOO_BIG);
    if (settled) this.#deliver(fx, settled, "error");
  }

  /** Answers those past their deadline (or, with `all`, every one) with `error`. */
  settle(fx: Effects, now: number, error: StanzaError, why: Outcome, all: boolean): void {
    for (const settled of this.#initiated.settle(now, error, { all })) {
      this.#deliver(fx, settled, why);
    }
  }

  /** A resource went away: nobody is left to answer its requests' replies. */
  forgetResource(name: string): void {
    if (this.#initiated.size > 0) this.#initiated.forgetResource(name);
  }

  #deliver(fx: Effects, settled: Settled, why: Outcome): void {
    fx.send.push(settled.send);
    outcome(fx, why, settled.send.attrs.to as string, settled.send.attrs.id, settled.durationMs);
  }
}

/**
 * The rule for requests the implementing client starts
 * (`allow_target_requests`): admitted or refused, sent on under an id of
 * ours, and answered once: by the peer's reply, or by an error when time
 * runs out or the proxy stops. The table they wait in is initiated.ts.
 */
import type { RouterContext } from "./context.ts";
import { drop, earliest, outcome, refuse } from "./effects.ts";
import { InitiatedRequests, type Settled } from "./initiated.ts";
import { peerAddress } from "./jat.ts";
import type { ResourceSet } from "./resources.ts";
import type { Effects, Outcome } from "./router_events.ts";
import { requestError, type StanzaError } from "./stanza.ts";
import {
  ANSWER_TOO_BIG,
  BAD_REQUEST,
  BUSY,
  MALFORMED,
  SHUTTING_DOWN,
  TIMEOUT,
} from "./stanza_errors.ts";
import type { XmlElement } from "./xml.ts";

/** The target's own requests, from its get/set to their one answer. */
export class TargetRequests {
  readonly #ctx: RouterContext;
  readonly #initiated: InitiatedRequests;
  /** After a reconnect with requests in flight: when those of a resource not back are forgotten. */
  #checkBy: number | undefined;

  /** @param randomBits the secure source this run's id prefix is drawn from */
  constructor(context: RouterContext, randomBits: () => number) {
    this.#ctx = context;
    this.#initiated = new InitiatedRequests(context.settings.domain, { randomBits });
  }

  /** How many are in flight. */
  get size(): number {
    return this.#initiated.size;
  }

  /** The earliest deadline, or the end of a reconnect's first second, if any is due. */
  nextWake(): number | undefined {
    if (this.#initiated.size === 0) return undefined;
    return earliest(this.#initiated.nextDeadline(), this.#checkBy);
  }

  /** The stream is back: the resources are learnt again until `learnUntil`. */
  online(learnUntil: number): void {
    this.#checkBy = this.#initiated.size > 0 ? learnUntil : undefined;
  }

  /**
   * After a reconnect's first second: if the server has said which
   * resources are online (`heard`), the requests of one not back have
   * nobody to answer them, as when it leaves: forgotten.
   */
  reattachDue(now: number, heard: boolean, online: ResourceSet): void {
    if (this.#checkBy === undefined || this.#checkBy > now) return;
    this.#checkBy = undefined;
    if (heard) this.#initiated.forgetAbsent((name) => online.get(name) !== undefined);
  }

  /**
   * A get/set from a target resource to `<domain>/<JID>`; `arrived`: when,
   * if before now (carried over from a closed stream): its time runs from then.
   */
  start(fx: Effects, stanza: XmlElement, toResource: string, now: number, arrived = now): void {
    const { id, from } = stanza.attrs as { id?: string; from: string };
    const { settings, accepting, inFlightCount } = this.#ctx;
    const peer = peerAddress(toResource, settings.domain);
    if (id === undefined) return refuse(fx, stanza, BAD_REQUEST, "bad_request");
    if (!accepting) return refuse(fx, stanza, SHUTTING_DOWN, "shutdown");
    if (peer === undefined) return refuse(fx, stanza, MALFORMED, "bad_address");
    if (inFlightCount >= settings.maxPending) return refuse(fx, stanza, BUSY, "busy");
    if (arrived + settings.requestTimeoutMs <= now) {
      fx.send.push(requestError(stanza, settings.domain, TIMEOUT)!);
      return outcome(fx, "timeout", from, id, now - arrived);
    }
    const resourceName = from.slice(from.indexOf("/") + 1);
    fx.send.push(this.#initiated.start(stanza, peer, {
      resourceName,
      started: arrived,
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
    if (all) this.#checkBy = undefined;
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

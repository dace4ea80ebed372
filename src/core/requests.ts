/**
 * Users' requests, from arrival to their one answer: who is let in
 * (src/core/admission.ts), the wait for a resource just after a
 * (re)connect, and which resource gets each; forwarded.ts takes them from
 * there (replies, failover, timeouts).
 */
import { affinityValueOf } from "./affinity_key.ts";
import type { RouterContext } from "./context.ts";
import { earliest, outcome, refuse } from "./effects.ts";
import { type Admitted, Forwarded, placementKind, placeRequest } from "./forwarded.ts";
import { gateError } from "./gate.ts";
import { fitsResource } from "./jat.ts";
import { bareOf, domainKey } from "./jid.ts";
import type { Resource } from "./resources.ts";
import type { Effects, Outcome, PlacementKind, RefusalOutcome } from "./router_events.ts";
import { requestError, type StanzaError } from "./stanza.ts";
import {
  BAD_REQUEST,
  BUSY,
  DUPLICATE,
  NO_RESOURCE,
  SHUTTING_DOWN,
  TIMEOUT,
  TOO_MANY,
  TOO_MANY_FROM_DOMAIN,
} from "./stanza_errors.ts";
import { WaitingList } from "./waiting.ts";
import { copyString, type XmlElement } from "./xml.ts";

/**
 * An admitted request, until it is forwarded: waiting, if it arrived while
 * no resource was known yet (see the router's LEARN_MS), or while the one
 * its affinity key is pinned to was not announced again.
 */
interface Parked extends Admitted {
  /** What it is about (`affinity`), as written (placement prepares it), if anything. */
  readonly affinityKey: string | undefined;
  /** When it stops waiting and gets `service-unavailable`. */
  readonly until: number;
}

/** Users' requests waiting for a resource or for their reply. */
export class Requests {
  readonly #ctx: RouterContext;
  readonly #forwarded: Forwarded;
  /** Requests waiting for the first resource, in arrival order. */
  readonly #parked = new WaitingList<Parked>();

  /** @param randomBits 32-bit draws from a secure source: this run's long-address tokens */
  constructor(context: RouterContext, randomBits: () => number) {
    this.#ctx = context;
    this.#forwarded = new Forwarded(context, randomBits);
  }

  /** How many await a reply, also those waiting for a resource. */
  get size(): number {
    return this.#forwarded.size + this.#parked.length;
  }

  /** The next deadline, reattach time or end of a wait for a resource. */
  nextWake(): number | undefined {
    return earliest(this.#forwarded.nextWake(), this.#parked.nextUntil);
  }

  /**
   * Admits a get/set from a requester, or refuses it (the checks of
   * src/core/admission.ts). `arrived`: when it reached the proxy, if that
   * was before now (carried over from a closed stream): its time runs from then.
   */
  admit(fx: Effects, stanza: XmlElement, type: "get" | "set", now: number, arrived = now): void {
    const attrs = stanza.attrs as { id?: string; from: string };
    const ctx = this.#ctx;
    const settings = ctx.settings;
    const shapes = settings.affinity;
    // As written (prepared by placement); once forwarded, the pin's copy is kept.
    const affinityKey = shapes === undefined ? undefined : affinityValueOf(stanza, shapes);
    const placement = this.#placementOf(affinityKey);
    if (attrs.id === undefined) {
      refuse(fx, stanza, BAD_REQUEST, "bad_request");
      return outcome(fx, "bad_request", attrs.from, undefined, 0, placement);
    }
    // Kept while the request waits (and by the limits): copies, see copyString().
    const id = copyString(attrs.id);
    const from = copyString(attrs.from);
    if (!ctx.accepting) {
      return this.#turnAway(fx, stanza, SHUTTING_DOWN, "shutdown", from, id, placement);
    }
    const requesterBare = bareOf(from);
    const refused = ctx.gate.check(requesterBare, now);
    if (refused) {
      return this.#turnAway(fx, stanza, gateError(refused, settings), refused, from, id, placement);
    }
    if (arrived + settings.requestTimeoutMs <= now) {
      fx.send.push(requestError(stanza, settings.domain, TIMEOUT)!);
      return outcome(fx, "timeout", from, id, now - arrived, placement);
    }
    const long = !fitsResource(from);
    const key = `${from}\0${id}`;
    if (this.#forwarded.has(key, long) || this.#parked.has(key)) {
      return this.#turnAway(fx, stanza, DUPLICATE, "duplicate", from, id, placement);
    }
    if (ctx.inFlightCount >= settings.maxPending) {
      return this.#turnAway(fx, stanza, BUSY, "busy", from, id, placement);
    }
    const perRequester = settings.maxPendingPerRequester;
    if (
      perRequester !== undefined &&
      this.#forwarded.countFor(requesterBare) + this.#parked.countFor(requesterBare) >= perRequester
    ) return this.#turnAway(fx, stanza, TOO_MANY, "rejected", from, id, placement);
    const requesterDomain = domainKey(requesterBare);
    const perDomain = settings.maxPendingPerDomain;
    if (
      perDomain !== undefined &&
      this.#forwarded.countForDomain(requesterDomain) +
            this.#parked.countForDomain(requesterDomain) >=
        perDomain
    ) return this.#turnAway(fx, stanza, TOO_MANY_FROM_DOMAIN, "rejected", from, id, placement);
    // Waiting for the first resource lasts until the window closes, and
    // never beyond the request's own timeout.
    const until = Math.min(ctx.learnUntil ?? now, arrived + settings.requestTimeoutMs);
    const p: Parked = {
      stanza,
      from,
      requesterBare,
      requesterDomain,
      id,
      type,
      affinityKey,
      long,
      key,
      arrived,
      until,
    };
    this.#dispatch(fx, p, now);
  }

  /** The requests that waited for a resource go now, in order. */
  dispatchParked(fx: Effects, now: number): void {
    for (const p of this.#parked.takeAll()) this.#dispatch(fx, p, now);
  }

  /** A reply from a target resource to `<domain>/<toResource>`. */
  reply(fx: Effects, stanza: XmlElement, toResource: string, now: number): void {
    this.#forwarded.reply(fx, stanza, toResource, now);
  }

  /** A reply from a target resource over `max_stanza_size`: its requester gets an error now. */
  replyTooBig(fx: Effects, stanza: XmlElement, toResource: string, now: number): void {
    this.#forwarded.replyTooBig(fx, stanza, toResource, now);
  }

  /** The stream is back: forwarded requests wait for their resource until `reattachBy`. */
  detachAll(resources: readonly Resource[], reattachBy: number): void {
    this.#forwarded.detachAll(resources, reattachBy);
  }

  /** A resource announced again after a reconnect takes back its requests. */
  reattach(resource: Resource): void {
    this.#forwarded.reattach(resource);
  }

  /** A resource went away: each request it held fails over. */
  lose(fx: Effects, resource: Resource, now: number): void {
    this.#forwarded.lose(fx, resource, now);
  }

  /** Answers the requests past their deadline. */
  expire(fx: Effects, now: number): void {
    this.#forwarded.expire(fx, now);
  }

  /**
   * The requests whose wait is over: refused, but one that waited for the
   * resource its key is pinned to is placed anew if it can be (and if its
   * own time is not over).
   */
  expireParked(fx: Effects, now: number): void {
    const timeoutMs = this.#ctx.settings.requestTimeoutMs;
    for (const p of this.#parked.takeExpired(now)) {
      if (p.affinityKey !== undefined && p.arrived + timeoutMs > now) this.#dispatch(fx, p, now);
      else this.#refuseParked(fx, p, NO_RESOURCE, "no_resource", now);
    }
  }

  /** After a reconnect's first second, requests whose resource is not back fail over. */
  reattachDue(fx: Effects, now: number, heard: boolean): void {
    this.#forwarded.reattachDue(fx, now, heard);
  }

  /** Refuses every request still waiting for a resource. */
  refuseParked(fx: Effects, error: StanzaError, why: RefusalOutcome, now: number): void {
    for (const p of this.#parked.takeAll()) this.#refuseParked(fx, p, error, why, now);
  }

  /** Answers every forwarded request with `error`. */
  answerPending(fx: Effects, error: StanzaError, why: Outcome, now: number): void {
    this.#forwarded.answerAll(fx, error, why, now);
  }

  #turnAway(
    fx: Effects,
    stanza: XmlElement,
    error: StanzaError,
    why: RefusalOutcome,
    from: string,
    id: string,
    placement: PlacementKind | undefined,
  ): void {
    refuse(fx, stanza, error, why);
    outcome(fx, why, from, id, 0, placement);
  }

  /**
   * Forwards an admitted request to a resource; with none known yet, just
   * after (re)connecting, it waits for the first one (or, with a key, for
   * the one its key is pinned to).
   */
  #dispatch(fx: Effects, p: Parked, now: number): void {
    const choice = placeRequest(
      this.#ctx,
      fx,
      p.requesterBare,
      p.affinityKey,
      now,
      this.#learning(now),
    );
    if (choice.kind === "none" && p.until > now) return void this.#parked.push(p);
    if (choice.kind !== "chosen") {
      const full = choice.kind === "full";
      const why = full ? "busy" : "no_resource";
      refuse(fx, p.stanza, full ? BUSY : NO_RESOURCE, why);
      return outcome(fx, why, p.from, p.id, now - p.arrived, this.#placementOf(p.affinityKey));
    }
    this.#forwarded.forward(fx, p, choice.resource, choice.key);
  }

  /** Answers a request that waited for a resource. */
  #refuseParked(
    fx: Effects,
    p: Parked,
    error: StanzaError,
    why: RefusalOutcome,
    now: number,
  ): void {
    refuse(fx, p.stanza, error, why);
    outcome(fx, why, p.from, p.id, now - p.arrived, this.#placementOf(p.affinityKey));
  }

  /** How a request is placed, for its outcome: told only with `affinity` on. */
  #placementOf(affinityKey: string | undefined): PlacementKind | undefined {
    return placementKind(this.#ctx.settings, affinityKey);
  }

  /** Just after a (re)connect, before the server has had its second to say who is online. */
  #learning(now: number): boolean {
    const until = this.#ctx.learnUntil;
    return until !== undefined && now < until;
  }
}

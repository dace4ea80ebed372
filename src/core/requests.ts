/**
 * Users' requests, from admission to their one answer: who is let in
 * (src/core/admission.ts), which resource gets each, how its reply finds the
 * requester, and what happens when the resource holding it goes away
 * (failover), when time runs out, or when the proxy stops.
 */
import { affinityValueOf } from "./affinity_key.ts";
import { drop, earliest, outcome, refuse } from "./effects.ts";
import { gateError } from "./gate.ts";
import { decodeResource, fitsResource, Tokens } from "./jat.ts";
import { bareOf, domainKey } from "./jid.ts";
import { type Pending, PendingTable } from "./pending.ts";
import type { Resource } from "./resources.ts";
import type { Effects, Outcome, PlacementKind, RefusalOutcome } from "./router_events.ts";
import type { RouterContext } from "./context.ts";
import { errorCondition, errorReply, type StanzaError } from "./stanza.ts";
import {
  BAD_REQUEST,
  BUSY,
  DUPLICATE,
  NO_RESOURCE,
  SET_LOST,
  SHUTTING_DOWN,
  TIMEOUT,
  TOO_MANY,
  TOO_MANY_FROM_DOMAIN,
} from "./stanza_errors.ts";
import { WaitingList } from "./waiting.ts";
import { parseStanza } from "./xml_scan.ts";
import { copyString, readdress, serialize, type XmlElement } from "./xml.ts";

/**
 * An admitted request, until it is forwarded: waiting, if it arrived while
 * no resource was known yet (see the router's LEARN_MS), or while the one
 * its affinity key is pinned to was not announced again.
 */
interface Parked {
  readonly stanza: XmlElement;
  readonly from: string;
  readonly requesterBare: string;
  readonly requesterDomain: string;
  readonly id: string;
  readonly type: "get" | "set";
  /** What it is about (`affinity`), as written (placement prepares it), if anything. */
  readonly affinityKey: string | undefined;
  /** `from` too long for a resourcepart (a token stands for it). */
  readonly long: boolean;
  /** `from\0id`. */
  readonly key: string;
  readonly arrived: number;
  /** When it stops waiting and gets `service-unavailable`. */
  readonly until: number;
}

/** Users' requests waiting for a resource or for their reply. */
export class Requests {
  readonly #ctx: RouterContext;
  readonly #pending = new PendingTable();
  /** Long-address requests by `requester\0id`, to catch reused ids. */
  readonly #long = new Map<string, Pending>();
  readonly #tokens: Tokens;
  /** Requests waiting for the first resource, in arrival order. */
  readonly #parked = new WaitingList<Parked>();
  /** Whether some pending requests lost their resource to a reconnect. */
  #hasUnattached = false;
  /**
   * When, after a reconnect, requests whose resource was not announced
   * again fail over, as if it had gone (if the server has spoken by then).
   */
  #reattachBy: number | undefined;

  /** @param randomBits 32-bit draws from a secure source: this run's long-address tokens */
  constructor(context: RouterContext, randomBits: () => number) {
    this.#ctx = context;
    this.#tokens = new Tokens(randomBits);
  }

  /** How many await a reply, also those waiting for a resource. */
  get size(): number {
    return this.#pending.size + this.#parked.length;
  }

  /** The next deadline, reattach time or end of a wait for a resource. */
  nextWake(): number | undefined {
    const at = earliest(this.#pending.nextDeadline(), this.#reattachBy);
    return earliest(at, this.#parked.nextUntil);
  }

  /** Admits a get/set from a requester, or refuses it (the checks of src/core/admission.ts). */
  admit(fx: Effects, stanza: XmlElement, type: "get" | "set", now: number): void {
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
    const long = !fitsResource(from);
    // A short address is its own `via`, so this is also the entry's key.
    const key = `${from}\0${id}`;
    if ((long ? this.#long.has(key) : this.#pending.get(key)) || this.#parked.has(key)) {
      return this.#turnAway(fx, stanza, DUPLICATE, "duplicate", from, id, placement);
    }
    if (ctx.inFlightCount >= settings.maxPending) {
      return this.#turnAway(fx, stanza, BUSY, "busy", from, id, placement);
    }
    const perRequester = settings.maxPendingPerRequester;
    if (
      perRequester !== undefined &&
      this.#pending.countFor(requesterBare) + this.#parked.countFor(requesterBare) >= perRequester
    ) return this.#turnAway(fx, stanza, TOO_MANY, "rejected", from, id, placement);
    const requesterDomain = domainKey(requesterBare);
    const perDomain = settings.maxPendingPerDomain;
    if (
      perDomain !== undefined &&
      this.#pending.countForDomain(requesterDomain) +
            this.#parked.countForDomain(requesterDomain) >=
        perDomain
    ) return this.#turnAway(fx, stanza, TOO_MANY_FROM_DOMAIN, "rejected", from, id, placement);
    // Waiting for the first resource lasts until the window closes, and
    // never beyond the request's own timeout.
    const until = Math.min(ctx.learnUntil ?? now, now + settings.requestTimeoutMs);
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
      arrived: now,
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
    const id = stanza.attrs.id;
    const entry = id === undefined ? undefined : this.#pending.get(`${toResource}\0${id}`);
    if (!entry) {
      // Only a miss needs to know why: a resource that is no JID is a client bug.
      const invalid = decodeResource(toResource).kind === "invalid";
      return void drop(fx, invalid ? "bad_address" : "unmatched", stanza);
    }
    if (stanza.attrs.from !== entry.resourceJid) return void drop(fx, "wrong_resource", stanza);
    if (stanza.attrs.type === "error" && entry.resource === undefined) {
      const condition = errorCondition(stanza);
      // A get/set to a full JID that went offline bounces from that JID
      // with one of these (RFC 6120 §10.5.3.2): settle it as a failover.
      // Only for a resource not known to be online: one that is online
      // answers these itself (an unsupported payload, RFC 6120 §8.4), and
      // its answer goes through as it is.
      if (condition === "service-unavailable" || condition === "recipient-unavailable") {
        return this.#failover(fx, entry, undefined, now);
      }
    }
    this.#settle(entry);
    fx.send.push(readdress(stanza, { to: entry.requester, from: this.#ctx.settings.domain }));
    const what = stanza.attrs.type === "error" ? "error" : "result";
    const placement = this.#placementOf(entry.affinityKey);
    outcome(fx, what, entry.requester, entry.id, now - entry.started, placement);
  }

  /**
   * The stream is back: every resource is forgotten, so pending requests
   * wait unattached until their resource is announced again, or until
   * `reattachBy`.
   */
  detachAll(resources: readonly Resource[], reattachBy: number): void {
    for (const resource of resources) {
      for (const entry of resource.pending) entry.resource = undefined;
      resource.pending.clear();
    }
    if (this.#pending.size > 0) {
      this.#hasUnattached = true;
      this.#reattachBy = reattachBy;
    }
  }

  /** A resource announced again after a reconnect takes back its requests. */
  reattach(resource: Resource): void {
    if (!this.#hasUnattached) return;
    let left = 0;
    for (const entry of this.#pending.values()) {
      if (entry.resource !== undefined) continue;
      if (entry.resourceJid === resource.jid) {
        entry.resource = resource;
        resource.pending.add(entry);
      } else left++;
    }
    this.#hasUnattached = left > 0;
  }

  /** A resource went away: each request it held fails over. */
  lose(fx: Effects, resource: Resource, now: number): void {
    for (const entry of [...resource.pending]) this.#failover(fx, entry, resource, now);
  }

  /** Answers the requests past their deadline. */
  expire(fx: Effects, now: number): void {
    for (const entry of this.#pending.takeExpired(now)) {
      this.#forgetLong(entry);
      this.#answer(fx, entry, TIMEOUT, "timeout", now);
    }
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

  /**
   * After a reconnect's first second: if the server has told us who is
   * online (`heard`), a resource not back is gone and its requests fail
   * over; without a word from it, they wait for their reply or timeout.
   */
  reattachDue(fx: Effects, now: number, heard: boolean): void {
    if (this.#reattachBy === undefined || this.#reattachBy > now) return;
    this.#reattachBy = undefined;
    if (!heard) return;
    this.#hasUnattached = false;
    for (const entry of [...this.#pending.values()]) {
      if (entry.resource === undefined) this.#failover(fx, entry, undefined, now);
    }
  }

  /** Refuses every request still waiting for a resource. */
  refuseParked(fx: Effects, error: StanzaError, why: RefusalOutcome, now: number): void {
    for (const p of this.#parked.takeAll()) this.#refuseParked(fx, p, error, why, now);
  }

  /** Answers every pending request with `error`. */
  answerPending(fx: Effects, error: StanzaError, why: Outcome, now: number): void {
    for (const entry of this.#pending.takeAll()) {
      this.#forgetLong(entry);
      this.#answer(fx, entry, error, why, now);
    }
    this.#hasUnattached = false;
    this.#reattachBy = undefined;
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
    const ctx = this.#ctx;
    const settings = ctx.settings;
    const choice = p.affinityKey === undefined
      ? ctx.placement.choose(settings.balance, p.requesterBare, settings.maxPendingPerResource)
      : ctx.placement.chooseByKey(fx, p.affinityKey, now, this.#learning(now));
    if (choice.kind === "none" && p.until > now) return void this.#parked.push(p);
    if (choice.kind !== "chosen") {
      const full = choice.kind === "full";
      const why = full ? "busy" : "no_resource";
      refuse(fx, p.stanza, full ? BUSY : NO_RESOURCE, why);
      return outcome(fx, why, p.from, p.id, now - p.arrived, this.#placementOf(p.affinityKey));
    }
    const resource = choice.resource;
    const via = p.long ? this.#tokens.next() : p.from;
    // A get is kept as forwarded (re-sent on failover with a new `to`):
    // serialised once, here, for the table and the stream alike.
    const forwarded = this.#forward(p.stanza, resource, via);
    const entry: Pending = {
      key: p.long ? `${via}\0${p.id}` : p.key,
      requester: p.from,
      requesterBare: p.requesterBare,
      requesterDomain: p.requesterDomain,
      id: p.id,
      type: p.type,
      affinityKey: choice.key,
      via,
      request: p.type === "get" ? copyString(serialize(forwarded)) : undefined,
      // The wait for a resource counts towards the request's timeout.
      started: p.arrived,
      deadline: p.arrived + settings.requestTimeoutMs,
      timeoutMs: settings.requestTimeoutMs,
      resource,
      resourceJid: resource.jid,
      retried: false,
      requesterCount: undefined,
      domainCount: undefined,
    };
    this.#pending.add(entry);
    if (p.long) this.#long.set(p.key, entry);
    fx.send.push(forwarded);
    fx.events.push({
      type: "forwarded",
      requester: p.from,
      id: p.id,
      resource: resource.name,
      retry: false,
    });
  }

  /**
   * The resource holding `entry` is gone: a get is re-sent once to another
   * resource; a set is never re-sent (it may have taken effect).
   */
  #failover(fx: Effects, entry: Pending, gone: Resource | undefined, now: number): void {
    entry.resource?.pending.delete(entry);
    entry.resource = undefined;
    // Also while draining: the request was admitted, and the grace is for it.
    if (entry.request && !entry.retried) {
      const settings = this.#ctx.settings;
      const placement = this.#ctx.placement;
      const choice = entry.affinityKey === undefined
        ? placement.choose(
          settings.balance,
          entry.requesterBare,
          settings.maxPendingPerResource,
          gone,
        )
        : placement.chooseByKey(fx, entry.affinityKey, now, false, gone);
      if (choice.kind === "chosen") {
        const resource = choice.resource;
        entry.retried = true;
        entry.resource = resource;
        entry.resourceJid = resource.jid;
        resource.pending.add(entry);
        fx.send.push(this.#forward(parseStanza(entry.request), resource, entry.via));
        fx.events.push({
          type: "forwarded",
          requester: entry.requester,
          id: entry.id,
          resource: resource.name,
          retry: true,
        });
        return;
      }
    }
    this.#settle(entry);
    this.#answer(fx, entry, entry.type === "get" ? NO_RESOURCE : SET_LOST, "failover", now);
  }

  /** The request as the implementing client sees it (mod_client_proxy's JAT). */
  #forward(stanza: XmlElement, resource: Resource, via: string): XmlElement {
    return readdress(stanza, { to: resource.jid, from: `${this.#ctx.settings.domain}/${via}` });
  }

  /** Removes an answered request from every table. */
  #settle(entry: Pending): void {
    this.#pending.remove(entry);
    this.#forgetLong(entry);
  }

  #forgetLong(entry: Pending): void {
    if (entry.via !== entry.requester) this.#long.delete(`${entry.requester}\0${entry.id}`);
  }

  /** Answers a pending request ourselves, from the bare domain. */
  #answer(fx: Effects, entry: Pending, error: StanzaError, why: Outcome, now: number): void {
    const addressing = { to: entry.requester, from: this.#ctx.settings.domain, id: entry.id };
    fx.send.push(errorReply("iq", addressing, error));
    const placement = this.#placementOf(entry.affinityKey);
    outcome(fx, why, entry.requester, entry.id, now - entry.started, placement);
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
    if (affinityKey !== undefined) return "affinity";
    return this.#ctx.settings.affinity === undefined ? undefined : "balance";
  }

  /** Just after a (re)connect, before the server has had its second to say who is online. */
  #learning(now: number): boolean {
    const until = this.#ctx.learnUntil;
    return until !== undefined && now < until;
  }
}

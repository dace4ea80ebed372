/**
 * Users' requests forwarded to a resource, until their one answer: the
 * resource's reply, a failover when the resource holding one goes (or is
 * not announced again after a reconnect), or the timeout. A requester's
 * address too long for our resourcepart travels as a token.
 */
import type { Choice } from "./balance.ts";
import type { RouterContext } from "./context.ts";
import { drop, earliest, outcome } from "./effects.ts";
import { decodeResource, Tokens } from "./jat.ts";
import { type Pending, PendingTable } from "./pending.ts";
import type { Resource } from "./resources.ts";
import type { Effects, Outcome, PlacementKind } from "./router_events.ts";
import type { RouterSettings } from "./settings.ts";
import { errorCondition, errorReply, type StanzaError } from "./stanza.ts";
import { ANSWER_TOO_BIG, BUSY, NO_RESOURCE, SET_LOST, TIMEOUT } from "./stanza_errors.ts";
import { parseStanza } from "./xml_scan.ts";
import { copyString, readdress, serialize, type XmlElement } from "./xml.ts";
import { normalizeJid } from "./jid.ts";

/** An admitted request, as it is handed to a resource. */
export interface Admitted {
  readonly stanza: XmlElement;
  readonly from: string;
  readonly requesterBare: string;
  readonly requesterDomain: string;
  readonly id: string;
  readonly type: "get" | "set";
  /** `from` too long for a resourcepart (a token stands for it). */
  readonly long: boolean;
  /** `from\0id`. */
  readonly key: string;
  readonly arrived: number;
}

/**
 * The resource a request goes to: by its affinity key if it has one, else
 * by the balancing policy; never `gone`, the one a failover leaves.
 */
export function placeRequest(
  ctx: RouterContext,
  fx: Effects,
  requesterBare: string,
  affinityKey: string | undefined,
  now: number,
  waitForPinned: boolean,
  gone?: Resource,
): Choice {
  const settings = ctx.settings;
  return affinityKey === undefined
    ? ctx.placement.choose(settings.balance, requesterBare, settings.maxPendingPerResource, gone)
    : ctx.placement.chooseByKey(fx, affinityKey, now, waitForPinned, gone);
}

/** How a request is placed, for its outcome: told only with `affinity` on. */
export function placementKind(
  settings: RouterSettings,
  affinityKey: string | undefined,
): PlacementKind | undefined {
  if (affinityKey !== undefined) return "affinity";
  return settings.affinity === undefined ? undefined : "balance";
}

/**
 * The characters of the gets kept for a failover, all pending requests
 * together: a remote domain's share of `max_pending` at `max_stanza_size`
 * each could otherwise hold gigabytes.
 */
export const MAX_KEPT_CHARS = 32 * 1024 * 1024;

/** Requests forwarded and awaiting their reply. */
export class Forwarded {
  readonly #ctx: RouterContext;
  readonly #pending = new PendingTable();
  /** Long-address requests by `requester\0id`, to catch reused ids. */
  readonly #long = new Map<string, Pending>();
  readonly #tokens: Tokens;
  /** The characters of the gets' copies held (see {@link MAX_KEPT_CHARS}). */
  #keptChars = 0;
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

  /** How many await a reply. */
  get size(): number {
    return this.#pending.size;
  }

  /** The next deadline or reattach time. */
  nextWake(): number | undefined {
    return earliest(this.#pending.nextDeadline(), this.#reattachBy);
  }

  /** Whether the request with this key (`from\0id`) awaits its reply. */
  has(key: string, long: boolean): boolean {
    // A short address is its own `via`, so this is also the entry's key.
    return long ? this.#long.has(key) : this.#pending.get(key) !== undefined;
  }

  /** How many of this requester's requests await a reply. */
  countFor(requesterBare: string): number {
    return this.#pending.countFor(requesterBare);
  }

  /** How many requests from this domain await a reply. */
  countForDomain(requesterDomain: string): number {
    return this.#pending.countForDomain(requesterDomain);
  }

  /** Forwards an admitted request to `resource`; `affinityKey`: its key as pinned. */
  forward(fx: Effects, p: Admitted, resource: Resource, affinityKey: string | undefined): void {
    const settings = this.#ctx.settings;
    const via = p.long ? this.#tokens.next() : p.from;
    // A get is kept as forwarded (re-sent on failover with a new `to`):
    // serialised once, here, for the table and the stream alike.
    const forwarded = this.#readdress(p.stanza, resource, via);
    const request = p.type === "get" ? this.#keep(serialize(forwarded)) : undefined;
    const entry: Pending = {
      key: p.long ? `${via}\0${p.id}` : p.key,
      requester: p.from,
      requesterBare: p.requesterBare,
      requesterDomain: p.requesterDomain,
      id: p.id,
      replyFrom: replyFromOf(p.stanza),
      type: p.type,
      affinityKey,
      via,
      request,
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
   * A reply over `max_stanza_size` (its payload unread): dropped, and the
   * request it answers gets an error now, not at its timeout. Not re-sent
   * elsewhere: another resource would most likely answer as big.
   */
  replyTooBig(fx: Effects, stanza: XmlElement, toResource: string, now: number): void {
    drop(fx, "too_big", stanza);
    const entry = this.#answered(stanza, toResource);
    if (!entry || stanza.attrs.from !== entry.resourceJid) return;
    this.#settle(entry);
    this.#answer(fx, entry, ANSWER_TOO_BIG, "error", now);
  }

  /** A reply from a target resource to `<domain>/<toResource>`. */
  reply(fx: Effects, stanza: XmlElement, toResource: string, now: number): void {
    const entry = this.#answered(stanza, toResource);
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
    const from = entry.replyFrom ?? this.#ctx.settings.domain;
    fx.send.push(readdress(stanza, { to: entry.requester, from }));
    const what = stanza.attrs.type === "error" ? "error" : "result";
    const placement = placementKind(this.#ctx.settings, entry.affinityKey);
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
      this.#forget(entry);
      this.#answer(fx, entry, TIMEOUT, "timeout", now);
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

  /** Answers every pending request with `error`. */
  answerAll(fx: Effects, error: StanzaError, why: Outcome, now: number): void {
    for (const entry of this.#pending.takeAll()) {
      this.#forget(entry);
      this.#answer(fx, entry, error, why, now);
    }
    this.#hasUnattached = false;
    this.#reattachBy = undefined;
  }

  /**
   * The resource holding `entry` is gone: a get is re-sent once to another
   * resource; a set is never re-sent (it may have taken effect).
   */
  #failover(fx: Effects, entry: Pending, gone: Resource | undefined, now: number): void {
    entry.resource?.pending.delete(entry);
    entry.resource = undefined;
    // Also while draining: the request was admitted, and the grace is for it.
    let full = false;
    if (entry.request && !entry.retried) {
      const choice = placeRequest(
        this.#ctx,
        fx,
        entry.requesterBare,
        entry.affinityKey,
        now,
        false,
        gone,
      );
      if (choice.kind === "chosen") {
        const resource = choice.resource;
        entry.retried = true;
        entry.resource = resource;
        entry.resourceJid = resource.jid;
        resource.pending.add(entry);
        fx.send.push(this.#readdress(parseStanza(entry.request), resource, entry.via));
        // Re-sent once at most: the copy has done its work.
        this.#unkeep(entry);
        fx.events.push({
          type: "forwarded",
          requester: entry.requester,
          id: entry.id,
          resource: resource.name,
          retry: true,
        });
        return;
      }
      full = choice.kind === "full";
    }
    this.#settle(entry);
    // A get whose next resource is busy may be asked again soon, as at admission.
    const error = entry.type !== "get" ? SET_LOST : full ? BUSY : NO_RESOURCE;
    this.#answer(fx, entry, error, "failover", now);
  }

  /** The request as the implementing client sees it (mod_client_proxy's JAT). */
  #readdress(stanza: XmlElement, resource: Resource, via: string): XmlElement {
    return readdress(stanza, { to: resource.jid, from: `${this.#ctx.settings.domain}/${via}` });
  }

  /** The pending request a reply to `<domain>/<toResource>` answers by its id, whoever sent it. */
  #answered(stanza: XmlElement, toResource: string): Pending | undefined {
    const id = stanza.attrs.id;
    return id === undefined ? undefined : this.#pending.get(`${toResource}\0${id}`);
  }

  /** Removes an answered request from every table. */
  #settle(entry: Pending): void {
    this.#pending.remove(entry);
    this.#forget(entry);
  }

  /** What a request taken from the pending table still holds elsewhere: its token, its copy. */
  #forget(entry: Pending): void {
    if (entry.via !== entry.requester) this.#long.delete(`${entry.requester}\0${entry.id}`);
    this.#unkeep(entry);
  }

  /**
   * A copy of a get as forwarded, for a failover, if the copies held stay
   * within {@link MAX_KEPT_CHARS}; else none (its failover is then an answer).
   */
  #keep(text: string): string | undefined {
    if (this.#keptChars + text.length > MAX_KEPT_CHARS) return undefined;
    this.#keptChars += text.length;
    return copyString(text);
  }

  #unkeep(entry: Pending): void {
    if (entry.request === undefined) return;
    this.#keptChars -= entry.request.length;
    entry.request = undefined;
  }

  /** Answers a pending request ourselves, from the address it was sent to. */
  #answer(fx: Effects, entry: Pending, error: StanzaError, why: Outcome, now: number): void {
    const from = entry.replyFrom ?? this.#ctx.settings.domain;
    const addressing = { to: entry.requester, from, id: entry.id };
    fx.send.push(errorReply("iq", addressing, error));
    const placement = placementKind(this.#ctx.settings, entry.affinityKey);
    outcome(fx, why, entry.requester, entry.id, now - entry.started, placement);
  }
}

/**
 * The address a request was sent to, as our answers' `from`, when it is a
 * resource of our domain (in the form refusals use, effects.ts); undefined
 * for the bare domain. Clients may take an answer only from the address
 * they asked (Smack's reply filter does).
 */
function replyFromOf(stanza: XmlElement): string | undefined {
  const to = stanza.attrs.to;
  if (to === undefined || to.indexOf("/") < 0) return undefined;
  return copyString(normalizeJid(to));
}

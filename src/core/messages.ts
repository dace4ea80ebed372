/**
 * Messages both ways (`messages: forward`): a user's message goes to the
 * resource that has the user's conversation, the target's go out from the
 * bare domain, and a message error goes back to whoever sent the message
 * it refuses, which needs what the proxy remembers of the target's
 * messages (bounded: the oldest entries are forgotten first).
 */
import { drop, passed, refuse } from "./effects.ts";
import { gateError } from "./gate.ts";
import { fitsResource, peerAddress } from "./jat.ts";
import { bareOf, domainKey, jidKey } from "./jid.ts";
import type { Effects, RefusalReason } from "./router_events.ts";
import type { RouterContext } from "./context.ts";
import type { StanzaError } from "./stanza.ts";
import { MALFORMED, NO_RESOURCE, TOO_LONG } from "./stanza_errors.ts";
import { WaitingList } from "./waiting.ts";
import { copyString, readdress, type XmlElement } from "./xml.ts";

/** A user's message that arrived while no resource was known yet. */
interface WaitingMessage {
  readonly stanza: XmlElement;
  readonly from: string;
  readonly requesterBare: string;
  readonly requesterDomain: string;
  /** When it stops waiting and gets `service-unavailable`. */
  readonly until: number;
}

/** The message rules, with the messages that wait for a first resource. */
export class Messages {
  readonly #ctx: RouterContext;
  /** Messages the target sent, to return their errors. */
  readonly #sent = new SentMessages();
  /** Users' messages waiting for the first resource, in arrival order. */
  readonly #waiting = new WaitingList<WaitingMessage>();

  constructor(context: RouterContext) {
    this.#ctx = context;
  }

  /** How many users' messages wait for a resource. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** When the first waiting message stops waiting. */
  get nextUntil(): number | undefined {
    return this.#waiting.nextUntil;
  }

  /** A user's message: the same gate as a request, then to the user's resource. */
  fromUser(fx: Effects, stanza: XmlElement, now: number): void {
    const from = stanza.attrs.from as string;
    const bare = bareOf(from);
    const ctx = this.#ctx;
    const refused = ctx.gate.check(bare, now);
    if (refused) return refuse(fx, stanza, gateError(refused, ctx.settings), refused);
    if (!fitsResource(from)) return refuse(fx, stanza, TOO_LONG, "too_long");
    const requesterDomain = domainKey(bare);
    const until = this.#mayWait(bare, requesterDomain) ? ctx.learnUntil ?? now : now;
    const m = { stanza, from: copyString(from), requesterBare: bare, requesterDomain, until };
    this.#deliver(fx, m, now);
  }

  /**
   * Whether a message may wait for a resource: waiting messages count
   * against `max_pending` with the requests in flight, and one user's or
   * one domain's against the per-requester and per-domain caps.
   */
  #mayWait(bare: string, domain: string): boolean {
    const { settings, inFlightCount } = this.#ctx;
    const { maxPendingPerRequester: perRequester, maxPendingPerDomain: perDomain } = settings;
    return inFlightCount < settings.maxPending &&
      (perRequester === undefined || this.#waiting.countFor(bare) < perRequester) &&
      (perDomain === undefined || this.#waiting.countForDomain(domain) < perDomain);
  }

  /** The messages that waited for a resource go now, in order. */
  deliverWaiting(fx: Effects, now: number): void {
    for (const m of this.#waiting.takeAll()) this.#deliver(fx, m, now);
  }

  /** Refuses the messages whose wait for a first resource is over. */
  expire(fx: Effects, now: number): void {
    for (const m of this.#waiting.takeExpired(now)) {
      refuse(fx, m.stanza, NO_RESOURCE, "no_resource");
    }
  }

  /** Refuses every waiting message with `error`. */
  refuseWaiting(fx: Effects, error: StanzaError, why: RefusalReason): void {
    for (const m of this.#waiting.takeAll()) refuse(fx, m.stanza, error, why);
  }

  /** A message from a target resource to `<domain>/<JID>` goes to the JID. */
  fromTarget(fx: Effects, stanza: XmlElement, toResource: string): void {
    const domain = this.#ctx.settings.domain;
    const peer = peerAddress(toResource, domain);
    if (peer === undefined) return refuse(fx, stanza, MALFORMED, "bad_address");
    const { id, from } = stanza.attrs;
    if (id !== undefined) this.#sent.remember(peer, id, from as string);
    fx.send.push(readdress(stanza, { to: peer, from: domain }));
    passed(fx, stanza, from as string, peer);
  }

  /**
   * A message error from a target resource to `<domain>/<JID>` (it refuses
   * a user's message) goes to the JID like its other messages; an error is
   * never answered, so a bad address only drops it.
   */
  errorFromTarget(fx: Effects, stanza: XmlElement, toResource: string): void {
    const domain = this.#ctx.settings.domain;
    const peer = peerAddress(toResource, domain);
    if (peer === undefined) return void drop(fx, "bad_address", stanza);
    fx.send.push(readdress(stanza, { to: peer, from: domain }));
    passed(fx, stanza, stanza.attrs.from as string, peer);
  }

  /** A message error for a message a resource sent goes back to that resource. */
  errorFromUser(fx: Effects, stanza: XmlElement): void {
    const { from, id } = stanza.attrs as { from: string; id?: string };
    const sender = id === undefined ? undefined : this.#sent.take(from, id);
    if (sender?.kind !== "resource") {
      return void drop(fx, sender?.kind === "ambiguous" ? "ambiguous" : "unmatched", stanza);
    }
    const domain = this.#ctx.settings.domain;
    fx.send.push(readdress(stanza, { to: sender.jid, from: `${domain}/${from}` }));
    passed(fx, stanza, from, sender.jid);
  }

  /**
   * Forwards a user's message to the resource that has the user's
   * conversation (the sticky rule, whatever the request balancing); with
   * none known yet, just after (re)connecting, it waits for the first one.
   */
  #deliver(fx: Effects, m: WaitingMessage, now: number): void {
    const choice = this.#ctx.placement.choose("sticky", m.requesterBare, Infinity);
    if (choice.kind !== "chosen") {
      if (m.until > now) this.#waiting.push(m);
      else refuse(fx, m.stanza, NO_RESOURCE, "no_resource");
      return;
    }
    const domain = this.#ctx.settings.domain;
    fx.send.push(readdress(m.stanza, { to: choice.resource.jid, from: `${domain}/${m.from}` }));
    passed(fx, m.stanza, m.from, choice.resource.jid);
  }
}

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
    const key = `${jidKey(peer)}\0${id}`;
    const before = this.#byKey.get(key);
    this.#byKey.delete(key);
    const sender = before === undefined || before === resourceJid
      ? copyString(resourceJid)
      : AMBIGUOUS;
    // Kept for a while: copies, see copyString().
    this.#byKey.set(copyString(key), sender);
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
    const full = jidKey(peer);
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

/**
 * The model's state: what the router owes and may do, as an observer sees
 * it from the outside (requests, forwards, presence, time). It is not a
 * second router: it never re-implements balancing, and it imports nothing
 * from the router to decide what is right.
 *
 * The state and its bookkeeping live here, with the checks every concern
 * uses; the concerns (requests, messages, presence, time, ...) are the
 * functions of the other files in this folder, which read and update it.
 */
import { isPlausibleJid } from "../../../../src/core/jid.ts";
import type { RouterSettings } from "../../../../src/core/router.ts";
import type { XmlElement } from "../../../../src/core/xml.ts";
import { bareOf, domainAsServer, earliest, ourSpelling, short, show, STANZAS } from "../helpers.ts";
import { emptyStats } from "../stats.ts";
import { type ModelPin, restored } from "./affinity.ts";
import type { Tolerances } from "../tolerances.ts";

/** The wait before resubscribing to the target, doubled after each refusal up to the max. */
export const BACKOFF_MIN_MS = 1_000;
export const BACKOFF_MAX_MS = 60_000;

/** A get/set the router forwarded and still owes an answer. */
export interface Req {
  readonly requester: string;
  /** Lowercase bare JID (access, limits). */
  readonly requesterBare: string;
  readonly id: string;
  readonly type: "get" | "set";
  readonly request: XmlElement;
  /** The resource of our JID the forward came from. */
  readonly via: string;
  readonly deadline: number;
  /** Whether the requester is an address a server could stamp. */
  readonly plausible: boolean;
  /** Its affinity key (`affinity`), if it has one. */
  readonly key: string | undefined;
  /** The full JID the last forward went to: the reply must come from it. */
  resourceJid: string;
  /** The resource holding it, or undefined after a reconnect. */
  attached: string | undefined;
  forwards: number;
  /** Answered by a hand-over (its late reply must be dropped). */
  handedOver: boolean;
}

/** Where every answer to a request comes from: the address it was sent to, as we spell it. */
export function askedOf(req: Req): string | undefined {
  return ourSpelling(req.request.attrs.to);
}

/** A request that found no resource just after (re)connecting, waiting for one. */
export interface Parked {
  readonly el: XmlElement;
  readonly requester: string;
  readonly bare: string;
  readonly id: string;
  readonly type: "get" | "set";
  readonly arrived: number;
  /** When it gets `service-unavailable` if no resource came. */
  readonly until: number;
  /** Its affinity key (`affinity`), if it has one. */
  readonly key: string | undefined;
}

/** A user's message that found no resource just after (re)connecting (messages: forward). */
export interface WaitingMessage {
  readonly el: XmlElement;
  /** When it gets `service-unavailable` if no resource came. */
  readonly until: number;
}

/** A request the target started, sent to a peer under an id of ours. */
export interface Initiated {
  /** The id we sent it with. */
  readonly key: string;
  /** The id the target's resource used. */
  readonly id: string;
  readonly resourceJid: string;
  readonly resourceName: string;
  readonly peer: string;
  readonly deadline: number;
}

/** An online resource of the target, and how many forwarded requests it holds. */
export interface ModelResource {
  readonly jid: string;
  held: number;
  /** Whether its last presence had a negative priority (RFC 6121 §4.7.2.3). */
  negative: boolean;
  /** Whether its last presence said `<show>dnd</show>`. */
  dnd: boolean;
  /** It says `dnd`, or the settings' `drain` names it: no new work for it. */
  draining: boolean;
}

/**
 * What the store (`state_dir`) holds, as the docs say the shell keeps it:
 * each change of the router's pins and subscribers, and whatever the
 * other instance wrote while this one stood by (a standby on one host).
 */
export interface ModelStore {
  /** Every pin made and not ended, in the order made (`seq`). */
  readonly pins: Map<string, ModelPin>;
  readonly subscribers: Set<string>;
}

/** A failed check, with the steps that led to it. */
export class Violation extends Error {
  override name = "Violation";
}

/** The observer: what the router owes and may do, checked step by step. */
export class Model {
  settings: RouterSettings;
  readonly domain: string;
  readonly target: string;
  readonly tolerate: Tolerances;
  now = 0;
  /** When the stanza being received arrived, if before now (carried over from a closed stream). */
  arrivedAt: number | undefined;
  accepting = true;
  settled = false;
  resubscribeAt: number | undefined;
  backoff = BACKOFF_MIN_MS;
  /**
   * After a reconnect with requests pending: when those whose resource was
   * not announced again fail over, if the server has spoken since (`heard`).
   */
  reattachBy: number | undefined;
  /**
   * After a reconnect with the target's requests in flight: when those of a
   * resource not announced again are forgotten, if the server has spoken.
   */
  initiatedCheckBy: number | undefined;
  heard = false;
  maxPendingEver: number;
  maxTimeoutEver: number;
  /** Pending requests by `<via>\0<id>`, the key a reply finds them by. */
  readonly live = new Map<string, Req>();
  /** Pending requests by `<requester>\0<id>`. */
  readonly byRequester = new Map<string, Req[]>();
  /** Online resources by name, in arrival order. */
  readonly resources = new Map<string, ModelResource>();
  /**
   * Until when, after (re)connecting, a request that finds no resource waits
   * for the first one (the router's LEARN_MS after online), and those waiting.
   */
  learnUntil: number | undefined;
  parked: Parked[] = [];
  waitingMessages: WaitingMessage[] = [];
  /** The last requests answered, for late replies. */
  readonly recent: Req[] = [];
  answered = 0;
  /** Requests a restart lost with the process: nobody can answer them now. */
  lost = 0;
  /** Requests the target started (allow_target_requests), by the id we sent. */
  readonly initiated = new Map<string, Initiated>();
  readonly initiatedRecent: Initiated[] = [];
  initiatedStarted = 0;
  initiatedClosed = 0;
  /** Messages the target sent (messages: forward): `<peer, normalised>\0<id>` → its resource. */
  readonly sent = new Map<string, { peer: string; id: string; resourceJid: string }>();
  /** The service's subscribers (presence: true) and what they were last told. */
  readonly subscribers: Set<string>;
  /** What outlives the process, and what a standby reads as it comes to serve. */
  store: ModelStore;
  announced: boolean | undefined;
  announceAt: number | undefined;
  /** Online at least once (the router says nothing to subscribers before). */
  serving = false;
  /** Presence the service owes in this step: direct answers and broadcasts. */
  owed: Array<{ to: string; type: string | undefined }> = [];
  /** When each requester (bare JID) got through the rate limiter. */
  readonly takes = new Map<string, number[]>();
  /** Every long-address token forwarded from, in this run and those before a restart. */
  readonly tokens = new Set<string>();
  /** Affinity pins by key, the least recently used first (see affinity.ts). */
  pins = new Map<string, ModelPin>();
  pinSeq = 0;
  /** After a reconnect, when pins whose resource is not back end (at the next tick). */
  pinSweepAt: number | undefined;
  readonly stats = emptyStats();

  constructor(settings: RouterSettings, tolerate: Tolerances, subscribers: readonly string[]) {
    this.settings = settings;
    this.domain = settings.domain;
    this.target = settings.targetAddress;
    this.tolerate = tolerate;
    this.maxPendingEver = settings.maxPending;
    this.maxTimeoutEver = settings.requestTimeoutMs;
    this.subscribers = new Set(subscribers);
    this.store = { pins: new Map(), subscribers: new Set(subscribers) };
  }

  /**
   * The model of the proxy restarted: a new router's state, with what
   * outlives the process (the store) and what the checks need of the past
   * (the tokens used, requests lost: replies to them come late).
   */
  restarted(): Model {
    const next = new Model(this.settings, this.tolerate, [...this.store.subscribers]);
    next.store = this.store;
    next.now = this.now;
    Object.assign(next.stats, this.stats);
    next.maxPendingEver = this.maxPendingEver;
    next.maxTimeoutEver = this.maxTimeoutEver;
    next.answered = this.answered;
    next.lost = this.lost + this.live.size + this.parked.length;
    for (const token of this.tokens) next.tokens.add(token);
    next.pins = restored(this.store.pins, this.now);
    next.pinSeq = this.pinSeq;
    next.recent.push(...this.recent, ...this.live.values());
    return next;
  }

  /** A user subscribed (presence: true): stored if it is a new one. */
  addSubscriber(bare: string): void {
    if (this.subscribers.has(bare)) return;
    this.subscribers.add(bare);
    this.store.subscribers.add(bare);
  }

  /** A subscriber left, or was forgotten: stored if it was one. */
  removeSubscriber(bare: string): boolean {
    if (!this.subscribers.delete(bare)) return false;
    this.store.subscribers.delete(bare);
    return true;
  }

  fail(message: string): never {
    throw new Violation(message);
  }

  check(ok: unknown, message: string | (() => string)): asserts ok {
    if (!ok) this.fail(typeof message === "string" ? message : message());
  }

  tolerated(what: keyof Tolerances): boolean {
    if (!this.tolerate[what]) return false;
    this.stats.tolerated[what] = (this.stats.tolerated[what] ?? 0) + 1;
    return true;
  }

  ours(to: string): boolean {
    const bare = bareOf(to);
    return bare === this.domain || bare.toLowerCase() === this.domain;
  }

  isTarget(jid: string): boolean {
    const bare = bareOf(jid);
    return bare === this.target || bare.toLowerCase() === this.target;
  }

  /** The JID a target addresses through `<domain>/<JID>`, if valid and not ours. */
  peerOf(toResource: string): string | undefined {
    if (toResource.startsWith("/") || !isPlausibleJid(toResource)) return undefined;
    // Never to ourselves, in any spelling the server would route to us.
    const bare = bareOf(toResource);
    const domain = domainAsServer(bare.slice(bare.indexOf("@") + 1));
    return domain === undefined || domain === domainAsServer(this.domain) ? undefined : toResource;
  }

  attach(req: Req, name: string): void {
    const resource = this.resources.get(name);
    this.check(resource, `attach to unknown resource ${short(name)}`);
    resource.held++;
    req.attached = name;
  }

  unattach(req: Req): void {
    if (req.attached === undefined) return;
    const resource = this.resources.get(req.attached);
    if (resource) resource.held--;
    req.attached = undefined;
  }

  open(req: Req): void {
    const key = `${req.via}\0${req.id}`;
    this.check(
      !this.live.has(key),
      () =>
        `two pending requests share the reply address ${
          short(key)
        }: a reply could not tell them apart`,
    );
    this.live.set(key, req);
    const rkey = `${req.requester}\0${req.id}`;
    const list = this.byRequester.get(rkey);
    if (list) list.push(req);
    else this.byRequester.set(rkey, [req]);
  }

  close(req: Req): void {
    this.unattach(req);
    this.live.delete(`${req.via}\0${req.id}`);
    const rkey = `${req.requester}\0${req.id}`;
    const list = this.byRequester.get(rkey)!;
    list.splice(list.indexOf(req), 1);
    if (list.length === 0) this.byRequester.delete(rkey);
    this.answered++;
    this.recent.push(req);
    if (this.recent.length > 8) this.recent.shift();
  }

  /** The pending request from `to` with `id` that `accept` allows, if any. */
  findOpen(to: string | undefined, id: string | undefined, accept: (r: Req) => boolean) {
    if (to === undefined || id === undefined) return undefined;
    return this.byRequester.get(`${to}\0${id}`)?.find(accept);
  }

  resourceByJid(jid: string | undefined): [string, ModelResource] | undefined {
    if (jid === undefined) return undefined;
    const slash = jid.indexOf("/");
    if (slash < 0) return undefined;
    const name = jid.slice(slash + 1);
    const resource = this.resources.get(name);
    return resource && resource.jid === jid ? [name, resource] : undefined;
  }

  /** What max_pending caps: requests both ways, and what waits for a resource. */
  inFlight(): number {
    return this.live.size + this.parked.length + this.initiated.size +
      this.waitingMessages.length;
  }

  minDeadline(): number | undefined {
    let min: number | undefined;
    for (const req of this.live.values()) {
      if (min === undefined || req.deadline < min) min = req.deadline;
    }
    for (const p of this.parked) min = earliest(min, p.until);
    for (const m of this.waitingMessages) min = earliest(min, m.until);
    return earliest(min, this.reattachBy);
  }

  none(out: XmlElement[]): void {
    this.check(out.length === 0, () => `expected no answer, sent ${out.map(show).join(" | ")}`);
    this.stats.drops++;
  }

  refusal(el: XmlElement, out: XmlElement[], type: string, condition: string): void {
    this.check(out.length === 1, () => `expected one refusal, sent ${out.length}`);
    const s = out[0];
    this.check(
      s.name === el.name && s.attrs.type === "error" && s.attrs.to === el.attrs.from &&
        s.attrs.from === ourSpelling(el.attrs.to) && s.attrs.id === el.attrs.id,
      () => `refusal not addressed back to the sender: ${show(s)}`,
    );
    this.checkError(s, type, condition);
  }

  checkError(s: XmlElement, type: string, condition: string): void {
    const error = s.getChild("error");
    const got = error?.children.find((c): c is XmlElement =>
      typeof c !== "string" && c.attrs.xmlns === STANZAS && c.name !== "text"
    );
    this.check(
      error?.attrs.type === type && got?.name === condition,
      () => `expected ${type}/${condition}, sent ${show(s)}`,
    );
  }

  /** All attributes but to, from and xmlns are the original's. */
  checkCopiedAttrs(s: XmlElement, original: XmlElement, also?: string): void {
    for (const key of new Set([...Object.keys(s.attrs), ...Object.keys(original.attrs)])) {
      if (key === "to" || key === "from" || key === "xmlns" || key === also) continue;
      this.check(
        s.attrs[key] === original.attrs[key],
        () => `attribute ${key} changed: ${show(s)}`,
      );
    }
  }
}

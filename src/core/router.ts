/**
 * The proxy's decisions, as a pure state machine: given its state, one
 * incoming stanza (or the passing of time) and the current time, it updates
 * its state and says which stanzas to send. Sockets, timers, the clock and
 * randomness live in the shell (src/app/proxy.ts) and are injected.
 *
 * The promise it keeps: every get/set that reaches it gets exactly one
 * reply, within `requestTimeoutMs`, and a reply is delivered only to the
 * requester whose request it answers.
 */
import { type AccessCheck, compileAccess } from "./access.ts";
import { Affinity } from "./affinity.ts";
import { type Balance, type Choice, choose } from "./balance.ts";
import { RateLimiter } from "./rate_limit.ts";
import { InitiatedRequests } from "./initiated.ts";
import { decodeResource, fitsResource, TOKEN_PREFIX } from "./jat.ts";
import { SentMessages } from "./messages.ts";
import { ServicePresence } from "./service_presence.ts";
import { bareOf, normalizeJid } from "./jid.ts";
import { type Pending, PendingTable } from "./pending.ts";
import { type Resource, ResourceSet } from "./resources.ts";
import { errorCondition, errorReply, presence, type StanzaError } from "./stanza.ts";
import { WaitingList } from "./waiting.ts";
import { parseStanza } from "./xml_scan.ts";
import { detach, readdress, serialize, type XmlElement } from "./xml.ts";

/** The settings the router follows; a reload may replace them. */
export interface RouterSettings {
  /** The component's domain, lowercase. */
  readonly domain: string;
  /** The implementing account's bare JID, lowercase. */
  readonly targetAddress: string;
  readonly requestTimeoutMs: number;
  readonly balance: Balance;
  readonly maxPendingPerResource: number;
  readonly maxPending: number;
  /** Let target resources start requests to `<domain>/<JID>`. Default: false. */
  readonly allowTargetRequests?: boolean;
  /** `forward` passes messages both ways; `reject` refuses them. Default: "reject". */
  readonly messages?: "reject" | "forward";
  /** Users may subscribe to the service's availability. Default: false. */
  readonly presence?: boolean;
  /** Users subscribed to the service's presence at most. Default: no cap. */
  readonly maxSubscribers?: number;
  /** Requester patterns let in (src/core/access.ts). Default: everyone. */
  readonly allow?: readonly string[];
  /** Requester patterns refused even when allowed. Default: nobody. */
  readonly deny?: readonly string[];
  /** Answer refused requesters `service-unavailable` instead of `forbidden`. Default: false. */
  readonly hideFromDenied?: boolean;
  /** Token bucket per requester bare JID. Default: none. */
  readonly rateLimit?: { readonly perSecond: number; readonly burst: number };
  /** Requests one requester bare JID may have pending. Default: unlimited. */
  readonly maxPendingPerRequester?: number;
}

/** How a request ended, for logs and metrics. */
export type Outcome =
  | "forbidden"
  | "rate_limited"
  | "rejected"
  | "result"
  | "error"
  | "timeout"
  | "failover"
  | "no_resource"
  | "busy"
  | "duplicate"
  | "shutdown"
  | "bad_request";

/** Why an incoming stanza was dropped without an answer. */
export type DropReason =
  | "no_address"
  | "not_ours"
  | "error_stanza"
  | "unexpected_reply"
  | "bad_address"
  | "unmatched"
  /** A message error whose id two resources used towards the same JID. */
  | "ambiguous"
  | "wrong_resource"
  | "ignored_presence"
  | "unknown_stanza";

/** What happened, for the shell to log and count. */
export type RouterEvent =
  | {
    readonly type: "forwarded";
    readonly requester: string;
    readonly id: string;
    readonly resource: string;
    readonly retry: boolean;
  }
  | {
    readonly type: "outcome";
    readonly outcome: Outcome;
    readonly requester: string;
    readonly id: string | undefined;
    readonly durationMs: number;
  }
  | {
    readonly type: "dropped";
    readonly reason: DropReason;
    readonly stanza: string;
    readonly from: string | undefined;
    readonly to: string | undefined;
    readonly id: string | undefined;
  }
  | {
    readonly type: "refused";
    readonly condition: string;
    readonly stanza: string;
    readonly from: string;
  }
  | {
    readonly type: "resource";
    readonly change: "up" | "down";
    readonly resource: string;
    readonly count: number;
  }
  | {
    /**
     * A message passed on (either way), or a request the target started
     * sent to its peer: who sent it, and where it went. Logged at debug.
     */
    readonly type: "passed";
    readonly stanza: "message" | "target_request";
    readonly from: string;
    readonly to: string;
    readonly id: string | undefined;
  }
  | {
    /** Persist this before sending the step's stanzas (presence: true). */
    readonly type: "subscriber";
    readonly change: "add" | "remove";
    readonly jid: string;
  }
  | {
    readonly type: "subscription";
    readonly state: "requested" | "approved" | "error" | "revoked";
    readonly retryInMs?: number;
  };

/** What one step of the router asks the shell to do. */
export interface Effects {
  /** Stanzas to send, in order. */
  readonly send: XmlElement[];
  /** Things that happened, in order. */
  readonly events: RouterEvent[];
}

/** Options of {@link Router}. */
export interface RouterOptions {
  /** Uniform random numbers in [0, 1). Default: `Math.random`. */
  readonly random?: () => number;
  /** The service's subscribers, as stored (presence: true). Default: none. */
  readonly subscribers?: Iterable<string>;
}

/**
 * After (re)connecting, how long a request or a user's message that finds
 * no resource waits for the first one, which the server reports a few
 * milliseconds after the subscription is confirmed: without the wait, a
 * restarted proxy or a standby taking over would refuse its first stanzas.
 */
const LEARN_MS = 1_000;
const RESUBSCRIBE_MIN_MS = 1_000;
const RESUBSCRIBE_MAX_MS = 60_000;

const NO_RESOURCE: StanzaError = {
  type: "cancel",
  condition: "service-unavailable",
};
const SHUTTING_DOWN: StanzaError = {
  type: "wait",
  condition: "service-unavailable",
  text: "the proxy is shutting down",
};
const HANDED_OVER: StanzaError = {
  type: "wait",
  condition: "service-unavailable",
  text: "another instance of the proxy serves this domain now",
};
const BUSY: StanzaError = { type: "wait", condition: "resource-constraint" };
const TIMEOUT: StanzaError = {
  type: "wait",
  condition: "remote-server-timeout",
};
const SET_LOST: StanzaError = {
  type: "wait",
  condition: "recipient-unavailable",
};
const DUPLICATE: StanzaError = {
  type: "cancel",
  condition: "conflict",
  text: "a request with this id is already pending",
};
const BAD_REQUEST: StanzaError = { type: "modify", condition: "bad-request" };
const MALFORMED: StanzaError = {
  type: "modify",
  condition: "jid-malformed",
  text: "the resource of the address is not a JID",
};
const TOO_LONG: StanzaError = {
  type: "modify",
  condition: "not-acceptable",
  text: "the sender's address is too long to forward",
};
const FORBIDDEN: StanzaError = { type: "auth", condition: "forbidden" };
const RATE_LIMITED: StanzaError = {
  type: "wait",
  condition: "resource-constraint",
  text: "rate limit exceeded",
};
const TOO_MANY: StanzaError = {
  type: "wait",
  condition: "resource-constraint",
  text: "too many requests pending",
};
const NOT_IMPLEMENTED: StanzaError = {
  type: "cancel",
  condition: "feature-not-implemented",
};

/** A request that arrived while no resource was known yet (see LEARN_MS). */
interface Parked {
  readonly stanza: XmlElement;
  readonly from: string;
  readonly requesterBare: string;
  readonly id: string;
  readonly type: "get" | "set";
  /** `from` too long for a resourcepart (a token stands for it). */
  readonly long: boolean;
  /** `from\0id`. */
  readonly key: string;
  readonly arrived: number;
  /** When it stops waiting and gets `service-unavailable`. */
  readonly until: number;
}

/** A user's message that arrived while no resource was known yet (see LEARN_MS). */
interface WaitingMessage {
  readonly stanza: XmlElement;
  readonly from: string;
  readonly requesterBare: string;
  /** When it stops waiting and gets `service-unavailable`. */
  readonly until: number;
}

/** The router of one proxy: its state and the transitions on it. */
export class Router {
  #settings: RouterSettings;
  #access: AccessCheck = () => true;
  #limiter: RateLimiter | undefined;
  readonly #resources = new ResourceSet();
  readonly #pending = new PendingTable();
  /** Long-address requests by `requester\0id`, to catch reused ids. */
  readonly #long = new Map<string, Pending>();
  readonly #random: () => number;
  /** Requests the target started (allow_target_requests). */
  readonly #initiated: InitiatedRequests;
  /** Where each user's conversation is (sticky, and messages). */
  readonly #affinity = new Affinity();
  /** Messages the target sent, to return their errors (messages: forward). */
  readonly #sent = new SentMessages();
  /** The service's own presence and its subscribers (presence: true). */
  readonly #presence: ServicePresence;
  #turn = 0;
  #nextToken = 0;
  #accepting = true;
  #resubscribeAt: number | undefined;
  #backoffMs = RESUBSCRIBE_MIN_MS;
  /** Until when, after (re)connecting, a request finding no resource waits. */
  #learnUntil: number | undefined;
  /** Requests waiting for the first resource, in arrival order. */
  readonly #parked = new WaitingList<Parked>();
  /** Whether pending requests may have lost their resource to a reconnect. */
  #detached = false;
  /**
   * When, after a reconnect, requests whose resource was not announced
   * again fail over, as if it had gone (if the server has spoken by then).
   */
  #reattachBy: number | undefined;
  /** Online and serving: not yet, or not since a hand-over to a sibling. */
  #serving = false;
  /** Whether the server has confirmed the subscription or announced a resource since online(). */
  #heard = false;
  /** Users' messages waiting for the first resource, in arrival order. */
  readonly #waitingMessages = new WaitingList<WaitingMessage>();

  constructor(settings: RouterSettings, options: RouterOptions = {}) {
    this.#settings = settings;
    this.settings = settings;
    this.#random = options.random ?? Math.random;
    this.#initiated = new InitiatedRequests(settings.domain, { random: this.#random });
    this.#presence = new ServicePresence(settings.domain, {
      subscribers: options.subscribers,
      allowed: (bare) => this.#access(bare),
      max: () => this.settings.maxSubscribers ?? Infinity,
    });
  }

  /** The settings in force. */
  get settings(): RouterSettings {
    return this.#settings;
  }

  /**
   * Replaces the settings (same domain and target): they apply to the next
   * requests; those pending keep their deadline. The rate limiter keeps its
   * buckets unless the limit itself changed.
   */
  set settings(next: RouterSettings) {
    const previous = this.#settings;
    this.#settings = next;
    this.#access = compileAccess(next.allow, next.deny);
    const limit = next.rateLimit;
    if (!limit) this.#limiter = undefined;
    else if (
      !this.#limiter || previous.rateLimit?.perSecond !== limit.perSecond ||
      previous.rateLimit?.burst !== limit.burst
    ) this.#limiter = new RateLimiter({ perSecond: limit.perSecond, burst: limit.burst });
  }

  /**
   * Applies new settings (see {@link settings}), and returns what the change
   * itself must send: with presence turned off, subscribers are told the
   * service is gone (they would otherwise keep "available" for good); turned
   * on, they are told its availability.
   */
  reconfigure(next: RouterSettings, now: number): Effects {
    const before = this.#settings.presence ?? false;
    this.settings = next;
    const fx = effects();
    // A standby says nothing to subscribers: the serving instance does.
    if (!this.#serving || before === (next.presence ?? false)) return fx;
    if (before) this.#presence.shutdown(fx.send);
    else {
      // As after a (re)connect: at once if a resource is online, else once
      // the server has had a moment to say which are.
      this.#presence.online(now);
      this.#presence.update(this.#resources.size > 0, fx.send);
    }
    return fx;
  }

  /** How many target resources are available. */
  get resourceCount(): number {
    return this.#resources.size;
  }

  /** How many requests await a reply (also those waiting for a resource). */
  get pendingCount(): number {
    return this.#pending.size + this.#parked.length;
  }

  /**
   * Everything held: users' requests (also those waiting for a resource),
   * the target's own requests, and users' messages waiting for a resource.
   * What `max_pending` caps, and what a shutdown waits for.
   */
  get inFlightCount(): number {
    return this.pendingCount + this.#initiated.size + this.#waitingMessages.length;
  }

  /** The names of the available target resources, in arrival order. */
  get resources(): string[] {
    return this.#resources.list().map((r) => r.name);
  }

  /** When the shell must call {@link tick} next, or undefined for never. */
  nextWake(): number | undefined {
    let at = earliest(this.#pending.nextDeadline(), this.#initiated.nextDeadline());
    at = earliest(at, this.#resubscribeAt);
    // A reload may have turned presence off with an announcement due.
    if (this.settings.presence) at = earliest(at, this.#presence.wakeAt);
    at = earliest(at, this.#reattachBy);
    at = earliest(at, this.#parked.nextUntil);
    return earliest(at, this.#waitingMessages.nextUntil);
  }

  /**
   * The stream is (again) online: ask for the target's presence. Resources
   * from an earlier stream are forgotten (the server tells the current ones
   * once the subscription is approved, see "subscribed" below); their
   * requests stay pending and can still be answered, and go back to their
   * resource when it is announced again. Those whose resource is not back
   * when the first second ends fail over (see #reattachBy). No probe yet:
   * before the approval, a probe would cancel the subscription request.
   */
  online(now: number): Effects {
    for (const resource of this.#resources.clear()) {
      for (const entry of resource.pending) entry.resource = undefined;
      resource.pending.clear();
    }
    this.#resubscribeAt = undefined;
    this.#learnUntil = now + LEARN_MS;
    this.#heard = false;
    if (this.#pending.size > 0) {
      this.#detached = true;
      this.#reattachBy = this.#learnUntil;
    }
    if (this.settings.presence) this.#presence.online(now);
    this.#serving = true;
    const fx = effects();
    fx.send.push(this.#subscribe());
    fx.events.push({ type: "subscription", state: "requested" });
    return fx;
  }

  /** Handles one stanza received from the server. */
  receive(stanza: XmlElement, now: number): Effects {
    const fx = effects();
    const { to, from } = stanza.attrs;
    // A server stamps a `from` on everything; an empty one, or one that
    // starts with "/" (no domain), could only collide with our tokens.
    if (to === undefined || from === undefined || from === "" || from.charCodeAt(0) === 47) {
      return drop(fx, "no_address", stanza);
    }
    const { domain, targetAddress } = this.settings;
    const slash = to.indexOf("/");
    const toBare = slash < 0 ? to : to.slice(0, slash);
    if (toBare !== domain && toBare.toLowerCase() !== domain) {
      return drop(fx, "not_ours", stanza);
    }
    const toResource = slash < 0 ? undefined : to.slice(slash + 1);
    const fromSlash = from.indexOf("/");
    const fromBare = fromSlash < 0 ? from : from.slice(0, fromSlash);
    const fromTarget = fromBare === targetAddress ||
      fromBare.toLowerCase() === targetAddress;
    const type = stanza.attrs.type;

    switch (stanza.name) {
      case "iq":
        if (type === "result" || type === "error") {
          if (fromTarget && toResource !== undefined) {
            this.#reply(fx, stanza, toResource, now);
          } else if (toResource === undefined && this.#initiated.size > 0) {
            this.#initiatedReply(fx, stanza, now);
          } else {
            drop(
              fx,
              type === "error" ? "error_stanza" : "unexpected_reply",
              stanza,
            );
          }
        } else if (type !== "get" && type !== "set") {
          refuse(fx, stanza, BAD_REQUEST);
        } else if (!fromTarget) {
          this.#request(fx, stanza, type, now);
        } else if (toResource !== undefined && this.settings.allowTargetRequests) {
          this.#targetRequest(fx, stanza, toResource, now);
        } else {
          // The target may not start requests (yet): to the bare domain it is
          // meaningless, to <domain>/<jid> it is a feature we do not offer.
          refuse(
            fx,
            stanza,
            toResource === undefined ? BAD_REQUEST : NOT_IMPLEMENTED,
          );
        }
        break;
      case "presence":
        // The target's availability and subscription reach the bare domain;
        // a resource's directed presence to <domain>/<JID> says nothing of them.
        if (fromTarget && toResource !== undefined) drop(fx, "ignored_presence", stanza);
        else if (fromTarget) this.#targetPresence(fx, stanza, fromSlash, now);
        else if (type === "error") drop(fx, "error_stanza", stanza);
        else if (this.settings.presence) this.#userPresence(fx, stanza);
        else refuse(fx, stanza, BAD_REQUEST);
        break;
      case "message": {
        const forward = this.settings.messages === "forward";
        if (type === "error") {
          if (forward && !fromTarget && toResource === undefined) this.#messageError(fx, stanza);
          else if (forward && fromTarget && toResource !== undefined) {
            this.#targetMessageError(fx, stanza, toResource);
          } else drop(fx, "error_stanza", stanza);
        } else if (fromTarget && toResource === undefined) {
          refuse(fx, stanza, BAD_REQUEST);
        } else if (!forward) {
          refuse(fx, stanza, NOT_IMPLEMENTED);
        } else if (fromTarget) {
          this.#targetMessage(fx, stanza, toResource as string);
        } else {
          this.#userMessage(fx, stanza, now);
        }
        break;
      }
      default:
        drop(fx, "unknown_stanza", stanza);
    }
    return fx;
  }

  /** Handles the passing of time: timeouts and a due resubscription. */
  tick(now: number): Effects {
    const fx = effects();
    for (const entry of this.#pending.takeExpired(now)) {
      this.#forgetLong(entry);
      this.#answer(fx, entry, TIMEOUT, "timeout", now);
    }
    if (this.#initiated.size > 0) this.#settleInitiated(fx, now, TIMEOUT, "timeout", false);
    for (const p of this.#parked.takeExpired(now)) {
      this.#refuseParked(fx, p, NO_RESOURCE, "no_resource", now);
    }
    for (const m of this.#waitingMessages.takeExpired(now)) refuse(fx, m.stanza, NO_RESOURCE);
    if (this.#reattachBy !== undefined && this.#reattachBy <= now) {
      this.#reattachBy = undefined;
      // The server has told us who is online: a resource not back is gone.
      // Without a word from it, they wait for their reply or their timeout.
      if (this.#heard) {
        this.#detached = false;
        for (const entry of [...this.#pending.values()]) {
          if (entry.resource === undefined) this.#failover(fx, entry, undefined, now);
        }
      }
    }
    if (this.settings.presence) this.#presence.due(now, this.#resources.size > 0, fx.send);
    if (this.#resubscribeAt !== undefined && this.#resubscribeAt <= now) {
      this.#resubscribeAt = undefined;
      fx.send.push(this.#subscribe());
      fx.events.push({ type: "subscription", state: "requested" });
    }
    return fx;
  }

  /**
   * Another instance takes over the domain: answer every request held here
   * (`service-unavailable`, wait: asking again reaches the other), since
   * their replies may now reach the other instance and be dropped there.
   */
  handOver(now: number): Effects {
    const fx = effects();
    this.#answerAll(fx, now, HANDED_OVER, "failover");
    // The serving instance tells subscribers; a standby must say nothing.
    this.#presence.standDown();
    this.#serving = false;
    return fx;
  }

  /** Stops taking requests: new ones get `service-unavailable` (wait). */
  drain(): void {
    this.#accepting = false;
  }

  /**
   * Shutdown's last step: answers every request still pending and says
   * goodbye to the target with unavailable presence.
   */
  settleAll(now: number): Effects {
    const fx = effects();
    this.#answerAll(fx, now, SHUTTING_DOWN, "shutdown");
    const { domain, targetAddress } = this.settings;
    fx.send.push(presence("unavailable", { to: targetAddress, from: domain }));
    if (this.settings.presence) this.#presence.shutdown(fx.send);
    // Nothing is due after the goodbye.
    this.#resubscribeAt = undefined;
    return fx;
  }

  /** Answers every request held, both ways, with `error`. */
  #answerAll(fx: Effects, now: number, error: StanzaError, why: Outcome): void {
    for (const p of this.#parked.takeAll()) this.#refuseParked(fx, p, error, why, now);
    for (const m of this.#waitingMessages.takeAll()) refuse(fx, m.stanza, error);
    for (const entry of this.#pending.takeAll()) {
      this.#forgetLong(entry);
      this.#answer(fx, entry, error, why, now);
    }
    this.#detached = false;
    this.#reattachBy = undefined;
    this.#settleInitiated(fx, now, error, why, true);
  }

  /** Answers the target's own requests past their deadline (or all of them). */
  #settleInitiated(fx: Effects, now: number, error: StanzaError, why: Outcome, all: boolean): void {
    for (const settled of this.#initiated.settle(now, error, { all })) {
      fx.send.push(settled.send);
      outcome(fx, why, settled.send.attrs.to as string, settled.send.attrs.id, settled.durationMs);
    }
  }

  /** Answers a request that waited for a resource. */
  #refuseParked(fx: Effects, p: Parked, error: StanzaError, why: Outcome, now: number): void {
    refuse(fx, p.stanza, error);
    outcome(fx, why, p.from, p.id, now - p.arrived);
  }

  #subscribe(): XmlElement {
    const { domain, targetAddress } = this.settings;
    return presence("subscribe", { to: targetAddress, from: domain });
  }

  #request(
    fx: Effects,
    stanza: XmlElement,
    type: "get" | "set",
    now: number,
  ): void {
    const attrs = stanza.attrs as { id?: string; from: string };
    if (attrs.id === undefined) {
      refuse(fx, stanza, BAD_REQUEST);
      return outcome(fx, "bad_request", attrs.from, undefined, 0);
    }
    // Kept while the request waits (and by the limits): copies, see detach().
    const id = detach(attrs.id);
    const from = detach(attrs.from);
    if (!this.#accepting) {
      refuse(fx, stanza, SHUTTING_DOWN);
      return outcome(fx, "shutdown", from, id, 0);
    }
    const settings = this.settings;
    const requesterBare = bareOf(from);
    const kept = this.#gate(fx, stanza, requesterBare, now);
    if (kept) return outcome(fx, kept, from, id, 0);
    const long = !fitsResource(from);
    // A short address is its own `via`, so this is also the entry's key.
    const requestKey = `${from}\0${id}`;
    if (
      (long ? this.#long.has(requestKey) : this.#pending.get(requestKey)) ||
      this.#parked.has(requestKey)
    ) {
      refuse(fx, stanza, DUPLICATE);
      return outcome(fx, "duplicate", from, id, 0);
    }
    if (this.inFlightCount >= settings.maxPending) {
      refuse(fx, stanza, BUSY);
      return outcome(fx, "busy", from, id, 0);
    }
    const perRequester = settings.maxPendingPerRequester;
    if (
      perRequester !== undefined &&
      this.#pending.countFor(requesterBare) + this.#parked.countFor(requesterBare) >= perRequester
    ) {
      refuse(fx, stanza, TOO_MANY);
      return outcome(fx, "rejected", from, id, 0);
    }
    // Waiting for the first resource lasts until the window closes, and
    // never beyond the request's own timeout.
    const until = Math.min(this.#learnUntil ?? now, now + settings.requestTimeoutMs);
    const request = {
      stanza,
      from,
      requesterBare,
      id,
      type,
      long,
      key: requestKey,
      arrived: now,
      until,
    };
    this.#dispatch(fx, request, now);
  }

  /**
   * Forwards an admitted request to a resource; with none known yet, just
   * after (re)connecting, it waits for the first one (see LEARN_MS).
   */
  #dispatch(fx: Effects, p: Parked, now: number): void {
    const { stanza, from, requesterBare, id, type, long, key: requestKey } = p;
    const settings = this.settings;
    const choice = this.#choose(settings.balance, requesterBare, settings.maxPendingPerResource);
    if (choice.kind === "none" && p.until > now) {
      this.#parked.push(p);
      return;
    }
    if (choice.kind !== "chosen") {
      refuse(fx, stanza, choice.kind === "full" ? BUSY : NO_RESOURCE);
      return outcome(
        fx,
        choice.kind === "full" ? "busy" : "no_resource",
        from,
        id,
        now - p.arrived,
      );
    }
    const resource = choice.resource;
    const via = long ? TOKEN_PREFIX + (this.#nextToken++).toString(36) : from;
    // A get is kept as forwarded (re-sent on failover with a new `to`):
    // serialised once, here, for the table and the stream alike.
    const forwarded = this.#forward(stanza, resource, via);
    const entry: Pending = {
      key: long ? `${via}\0${id}` : requestKey,
      requester: from,
      requesterBare,
      id,
      type,
      via,
      request: type === "get" ? detach(serialize(forwarded)) : undefined,
      // The wait for a resource counts towards the request's timeout.
      started: p.arrived,
      deadline: p.arrived + settings.requestTimeoutMs,
      timeoutMs: settings.requestTimeoutMs,
      resource,
      resourceJid: resource.jid,
      retried: false,
    };
    this.#pending.add(entry);
    if (long) this.#long.set(requestKey, entry);
    fx.send.push(forwarded);
    fx.events.push({
      type: "forwarded",
      requester: from,
      id,
      resource: resource.name,
      retry: false,
    });
  }

  /**
   * The balancing policy's choice; with `sticky`, a user already placed on
   * a resource that can take the stanza stays there (see src/core/affinity.ts).
   */
  #choose(
    policy: Balance,
    requesterBare: string,
    maxPerResource: number,
    exclude?: Resource,
  ): Choice {
    const resources = this.#resources.list();
    let pinned: Resource | undefined;
    if (policy === "sticky" && this.#affinity.size > 0) {
      const name = this.#affinity.get(requesterBare);
      pinned = name === undefined ? undefined : this.#resources.get(name);
      if (pinned === exclude) pinned = undefined;
      if (
        pinned && pinned.pending.size < maxPerResource &&
        // A negative priority is a last resort (RFC 6121 §4.7.2.3), even here.
        (pinned.priority >= 0 ||
          !resources.some((r) =>
            r.priority >= 0 && r !== exclude && r.pending.size < maxPerResource
          ))
      ) return { kind: "chosen", resource: pinned };
    }
    const choice = choose(policy, resources, {
      requesterBare,
      // Only round-robin reads it: each of its choices is the next turn.
      turn: policy === "round-robin" ? this.#turn++ : 0,
      random: this.#random,
      maxPerResource,
      exclude,
    });
    // A resource full for the moment lends this one stanza to another: the
    // user stays with it (it is still online) and comes back once it has room.
    const overflow = pinned !== undefined && pinned.pending.size >= maxPerResource;
    if (policy === "sticky" && choice.kind === "chosen" && !overflow) {
      this.#affinity.set(detach(requesterBare), choice.resource.name);
    }
    return choice;
  }

  /**
   * Refuses a sender that the access lists or its rate limit keep out, and
   * says which; undefined lets it in.
   */
  #gate(
    fx: Effects,
    stanza: XmlElement,
    bare: string,
    now: number,
  ): "forbidden" | "rate_limited" | undefined {
    if (!this.#access(bare)) {
      refuse(fx, stanza, this.settings.hideFromDenied ? NO_RESOURCE : FORBIDDEN);
      return "forbidden";
    }
    // The limiter keeps its key: a copy, see detach().
    if (this.#limiter && !this.#limiter.take(detach(bare), now)) {
      refuse(fx, stanza, RATE_LIMITED);
      return "rate_limited";
    }
    return undefined;
  }

  /** The request as the implementing client sees it (mod_client_proxy's JAT). */
  #forward(stanza: XmlElement, resource: Resource, via: string): XmlElement {
    return readdress(stanza, {
      to: resource.jid,
      from: `${this.settings.domain}/${via}`,
    });
  }

  #reply(
    fx: Effects,
    stanza: XmlElement,
    toResource: string,
    now: number,
  ): void {
    const id = stanza.attrs.id;
    const entry = id === undefined ? undefined : this.#pending.get(`${toResource}\0${id}`);
    if (!entry) {
      // Only a miss needs to know why: a resource that is no JID is a client bug.
      const invalid = decodeResource(toResource).kind === "invalid";
      return void drop(fx, invalid ? "bad_address" : "unmatched", stanza);
    }
    if (stanza.attrs.from !== entry.resourceJid) {
      return void drop(fx, "wrong_resource", stanza);
    }
    if (stanza.attrs.type === "error" && entry.resource === undefined) {
      const condition = errorCondition(stanza);
      // A get/set to a full JID that went offline bounces from that JID
      // with one of these (RFC 6120 §10.5.3.2): settle it as a failover.
      // Only for a resource not known to be online: one that is online
      // answers these itself (an unsupported payload, RFC 6120 §8.4), and
      // its answer goes through as it is.
      if (
        condition === "service-unavailable" ||
        condition === "recipient-unavailable"
      ) {
        return this.#failover(fx, entry, undefined, now);
      }
    }
    this.#pending.remove(entry);
    this.#forgetLong(entry);
    fx.send.push(readdress(stanza, {
      to: entry.requester,
      from: this.settings.domain,
    }));
    outcome(
      fx,
      stanza.attrs.type === "error" ? "error" : "result",
      entry.requester,
      entry.id,
      now - entry.started,
    );
  }

  #targetPresence(
    fx: Effects,
    stanza: XmlElement,
    fromSlash: number,
    now: number,
  ): void {
    const from = stanza.attrs.from as string;
    const name = fromSlash < 0 ? undefined : from.slice(fromSlash + 1);
    switch (stanza.attrs.type) {
      case undefined: {
        if (name === undefined) {
          return void drop(fx, "ignored_presence", stanza);
        }
        const known = this.#resources.get(name);
        const resource = this.#resources.upsert(detach(name), detach(from), priorityOf(stanza));
        this.#approved();
        this.#heard = true;
        if (!known) {
          if (this.#detached) this.#reattach(resource);
          this.#availability(fx);
          fx.events.push({
            type: "resource",
            change: "up",
            resource: name,
            count: this.#resources.size,
          });
          // The requests that waited for a resource go now, in order.
          for (const p of this.#parked.takeAll()) this.#dispatch(fx, p, now);
          for (const m of this.#waitingMessages.takeAll()) this.#deliverMessage(fx, m, now);
        }
        return;
      }
      case "unavailable":
        if (name === undefined) return this.#loseAll(fx, now);
        return this.#lose(fx, this.#resources.remove(name), now);
      case "subscribe": {
        const { domain, targetAddress } = this.settings;
        fx.send.push(
          presence("subscribed", { to: targetAddress, from: domain }),
        );
        return;
      }
      case "subscribed": {
        this.#approved();
        this.#heard = true;
        fx.events.push({ type: "subscription", state: "approved" });
        // Approved now, so a probe is safe (before approval it would cancel
        // the request): Prosody sends the resources' presence by itself,
        // ejabberd only when asked.
        const { domain, targetAddress } = this.settings;
        fx.send.push(presence("probe", { to: targetAddress, from: domain }));
        return;
      }
      case "error":
      case "unsubscribed": {
        // Without the subscription we learn nothing about resources: forget
        // them all and ask again, more slowly each time.
        this.#loseAll(fx, now);
        const retryInMs = this.#backoffMs;
        this.#resubscribeAt = now + retryInMs;
        this.#backoffMs = Math.min(retryInMs * 2, RESUBSCRIBE_MAX_MS);
        fx.events.push({
          type: "subscription",
          state: stanza.attrs.type === "error" ? "error" : "revoked",
          retryInMs,
        });
        return;
      }
      default:
        drop(fx, "ignored_presence", stanza);
    }
  }

  #approved(): void {
    this.#backoffMs = RESUBSCRIBE_MIN_MS;
  }

  /** A resource announced again after a reconnect takes back its requests. */
  #reattach(resource: Resource): void {
    let left = 0;
    for (const entry of this.#pending.values()) {
      if (entry.resource !== undefined) continue;
      if (entry.resourceJid === resource.jid) {
        entry.resource = resource;
        resource.pending.add(entry);
      } else left++;
    }
    this.#detached = left > 0;
  }

  #loseAll(fx: Effects, now: number): void {
    for (const resource of this.#resources.clear()) {
      this.#lose(fx, resource, now);
    }
  }

  /** A resource went away: settle each request it held. */
  #lose(fx: Effects, resource: Resource | undefined, now: number): void {
    if (!resource) return;
    // Its own requests have nobody left to answer: late replies are dropped.
    if (this.#initiated.size > 0) this.#initiated.forgetResource(resource.name);
    fx.events.push({
      type: "resource",
      change: "down",
      resource: resource.name,
      count: this.#resources.size,
    });
    for (const entry of [...resource.pending]) {
      this.#failover(fx, entry, resource, now);
    }
    this.#availability(fx);
  }

  /**
   * The resource holding `entry` is gone: a get is re-sent once to another
   * resource; a set is never re-sent (it may have taken effect).
   */
  #failover(
    fx: Effects,
    entry: Pending,
    gone: Resource | undefined,
    now: number,
  ): void {
    entry.resource?.pending.delete(entry);
    entry.resource = undefined;
    // Also while draining: the request was admitted, and the grace is for it.
    if (entry.request && !entry.retried) {
      const settings = this.settings;
      const choice = this.#choose(
        settings.balance,
        entry.requesterBare,
        settings.maxPendingPerResource,
        gone,
      );
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
    this.#pending.remove(entry);
    this.#forgetLong(entry);
    this.#answer(
      fx,
      entry,
      entry.type === "get" ? NO_RESOURCE : SET_LOST,
      "failover",
      now,
    );
  }

  /** A get/set from a target resource to `<domain>/<JID>` (allow_target_requests). */
  #targetRequest(fx: Effects, stanza: XmlElement, toResource: string, now: number): void {
    const { id, from } = stanza.attrs as { id?: string; from: string };
    const peer = this.#peer(toResource);
    let error: StanzaError | undefined;
    if (id === undefined) error = BAD_REQUEST;
    else if (!this.#accepting) error = SHUTTING_DOWN;
    else if (peer === undefined) error = MALFORMED;
    else if (this.inFlightCount >= this.settings.maxPending) error = BUSY;
    if (error || peer === undefined) return refuse(fx, stanza, error ?? MALFORMED);
    const resourceName = from.slice(from.indexOf("/") + 1);
    fx.send.push(this.#initiated.start(stanza, peer, {
      resourceName,
      now,
      timeoutMs: this.settings.requestTimeoutMs,
    }));
    fx.events.push({ type: "passed", stanza: "target_request", from, to: peer, id });
  }

  /** The reply to a request the target started, if it is one. */
  #initiatedReply(fx: Effects, stanza: XmlElement, now: number): void {
    const settled = this.#initiated.reply(stanza, now);
    if (!settled) return void drop(fx, "unmatched", stanza);
    fx.send.push(settled.send);
    const what = stanza.attrs.type === "error" ? "error" : "result";
    outcome(fx, what, settled.send.attrs.to as string, settled.send.attrs.id, settled.durationMs);
  }

  /**
   * A user's message (messages: forward) goes to the resource that has the
   * user's conversation: the sticky rule, whatever the request balancing.
   */
  #userMessage(fx: Effects, stanza: XmlElement, now: number): void {
    const from = stanza.attrs.from as string;
    const bare = bareOf(from);
    // The same gate as a request: access lists, then the sender's bucket.
    if (this.#gate(fx, stanza, bare, now)) return;
    if (!fitsResource(from)) return refuse(fx, stanza, TOO_LONG);
    // Waiting messages count against the same cap as requests in flight.
    const room = this.inFlightCount < this.settings.maxPending;
    const until = room ? this.#learnUntil ?? now : now;
    this.#deliverMessage(fx, { stanza, from: detach(from), requesterBare: bare, until }, now);
  }

  /**
   * Forwards a user's message to the resource that has the user's
   * conversation; with none known yet, just after (re)connecting, it waits
   * for the first one (see LEARN_MS).
   */
  #deliverMessage(fx: Effects, m: WaitingMessage, now: number): void {
    const choice = this.#choose("sticky", m.requesterBare, Infinity);
    if (choice.kind !== "chosen") {
      if (m.until > now) this.#waitingMessages.push(m);
      else refuse(fx, m.stanza, NO_RESOURCE);
      return;
    }
    fx.send.push(readdress(m.stanza, {
      to: choice.resource.jid,
      from: `${this.settings.domain}/${m.from}`,
    }));
    passed(fx, m.stanza, m.from, choice.resource.jid);
  }

  /** A message from a target resource to `<domain>/<JID>` goes to the JID. */
  #targetMessage(fx: Effects, stanza: XmlElement, toResource: string): void {
    const peer = this.#peer(toResource);
    if (peer === undefined) return refuse(fx, stanza, MALFORMED);
    const { id, from } = stanza.attrs;
    if (id !== undefined) this.#sent.remember(peer, id, from as string);
    fx.send.push(readdress(stanza, {
      to: peer,
      from: this.settings.domain,
    }));
    passed(fx, stanza, from as string, peer);
  }

  /**
   * A message error from a target resource to `<domain>/<JID>` (it refuses
   * a user's message) goes to the JID like its other messages; an error is
   * never answered, so a bad address only drops it.
   */
  #targetMessageError(fx: Effects, stanza: XmlElement, toResource: string): void {
    const peer = this.#peer(toResource);
    if (peer === undefined) return void drop(fx, "bad_address", stanza);
    fx.send.push(readdress(stanza, { to: peer, from: this.settings.domain }));
    passed(fx, stanza, stanza.attrs.from as string, peer);
  }

  /** A message error for a message a resource sent goes back to that resource. */
  #messageError(fx: Effects, stanza: XmlElement): void {
    const { from, id } = stanza.attrs as { from: string; id?: string };
    const sender = id === undefined ? undefined : this.#sent.take(from, id);
    if (sender?.kind !== "resource") {
      return void drop(fx, sender?.kind === "ambiguous" ? "ambiguous" : "unmatched", stanza);
    }
    fx.send.push(readdress(stanza, {
      to: sender.jid,
      from: `${this.settings.domain}/${from}`,
    }));
    passed(fx, stanza, from, sender.jid);
  }

  /** The JID a target addresses through `<domain>/<JID>`; never ourselves. */
  #peer(toResource: string): string | undefined {
    const translated = decodeResource(toResource);
    if (translated.kind !== "jid") return undefined;
    const bare = normalizeJid(translated.requester).split("/")[0];
    const { domain } = this.settings;
    return bare === domain || bare.endsWith(`@${domain}`) ? undefined : translated.requester;
  }

  /** A user's presence to the domain (presence: true). */
  #userPresence(fx: Effects, stanza: XmlElement): void {
    const before = fx.send.length;
    const change = this.#presence.receive(stanza, this.#resources.size > 0, fx.send);
    if (change === "full") {
      fx.events.push({
        type: "refused",
        condition: "resource-constraint",
        stanza: "presence",
        from: stanza.attrs.from as string,
      });
    } else if (change) fx.events.push({ type: "subscriber", ...change });
    else if (fx.send.length === before) drop(fx, "ignored_presence", stanza);
  }

  /** Tells the service's subscribers when its availability changed. */
  #availability(fx: Effects): void {
    if (this.settings.presence) this.#presence.update(this.#resources.size > 0, fx.send);
  }

  #forgetLong(entry: Pending): void {
    if (entry.via !== entry.requester) {
      this.#long.delete(`${entry.requester}\0${entry.id}`);
    }
  }

  /** Answers a pending request ourselves, from the bare domain. */
  #answer(
    fx: Effects,
    entry: Pending,
    error: StanzaError,
    why: Outcome,
    now: number,
  ): void {
    fx.send.push(
      errorReply("iq", {
        to: entry.requester,
        from: this.settings.domain,
        id: entry.id,
      }, error),
    );
    outcome(fx, why, entry.requester, entry.id, now - entry.started);
  }
}

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  return b === undefined || a < b ? a : b;
}

function effects(): Effects {
  return { send: [], events: [] };
}

/** Reports a message passed on from `from` to `to`. */
function passed(fx: Effects, message: XmlElement, from: string, to: string): void {
  fx.events.push({ type: "passed", stanza: "message", from, to, id: message.attrs.id });
}

function drop(fx: Effects, reason: DropReason, stanza: XmlElement): Effects {
  const { from, to, id } = stanza.attrs;
  fx.events.push({
    type: "dropped",
    reason,
    stanza: stanza.name,
    from,
    to,
    id,
  });
  return fx;
}

/** Answers a stanza with an error from the address it was sent to. */
function refuse(fx: Effects, stanza: XmlElement, error: StanzaError): void {
  const { from, to, id } = stanza.attrs as {
    from: string;
    to: string;
    id?: string;
  };
  // From our domain as the server knows it, whatever case the `to` had:
  // the server checks the `from` of everything we send.
  fx.send.push(errorReply(stanza.name, { to: from, from: normalizeJid(to), id }, error));
  fx.events.push({
    type: "refused",
    condition: error.condition,
    stanza: stanza.name,
    from,
  });
}

function outcome(
  fx: Effects,
  what: Outcome,
  requester: string,
  id: string | undefined,
  durationMs: number,
): void {
  fx.events.push({ type: "outcome", outcome: what, requester, id, durationMs });
}

/** RFC 6121 §4.7.2.3: an integer from -128 to 127, 0 when absent or bad. */
function priorityOf(stanza: XmlElement): number {
  const text = stanza.getChildText("priority");
  if (text === null) return 0;
  const value = Number.parseInt(text.trim(), 10);
  return Number.isNaN(value) ? 0 : Math.max(-128, Math.min(127, value));
}

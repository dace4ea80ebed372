/**
 * The proxy's decisions, as a pure state machine: given its state, one
 * incoming stanza (or the passing of time) and the current time, it updates
 * its state and says which stanzas to send. Sockets, timers, the clock and
 * randomness live in the shell (src/app/proxy.ts) and are injected.
 *
 * The promise it keeps: every get/set that reaches it gets exactly one
 * reply, within `requestTimeoutMs`, and a reply is delivered only to the
 * requester whose request it answers.
 *
 * This file is the facade: {@link Router.receive} looks the stanza up in
 * the routing table (src/core/route.ts) and runs the rule it names; the
 * rules live with their state in requests.ts, target.ts, messages.ts,
 * target_requests.ts, user_presence.ts and service_presence.ts.
 */
import { drop, earliest, effects, refuse } from "./effects.ts";
import { Gate } from "./gate.ts";
import { Messages } from "./messages.ts";
import { Placement } from "./placement.ts";
import { Requests } from "./requests.ts";
import { classify, type Rule } from "./route.ts";
import type { Effects, RefusalOutcome, ResourceState } from "./router_events.ts";
import { ServicePresence } from "./service_presence.ts";
import type { RouterContext } from "./context.ts";
import type { RouterSettings } from "./settings.ts";
import type { StanzaError } from "./stanza.ts";
import { HANDED_OVER, SHUTTING_DOWN, TIMEOUT } from "./stanza_errors.ts";
import { Target } from "./target.ts";
import { TargetRequests } from "./target_requests.ts";
import { userPresence } from "./user_presence.ts";
import type { XmlElement } from "./xml.ts";

export type { DropReason, Effects, Outcome, ResourceState, RouterEvent } from "./router_events.ts";
export type { RouterSettings } from "./settings.ts";

/** Options of {@link Router}. */
export interface RouterOptions {
  /** Uniform random numbers in [0, 1): balancing. */
  readonly random: () => number;
  /**
   * Uniform 32-bit unsigned integers from a source that no other process,
   * restart or instance repeats (the shell's crypto.getRandomValues): the
   * prefix of this run's long-address tokens and of the target's request
   * ids (src/core/run_prefix.ts).
   */
  readonly randomBits: () => number;
  /**
   * The service's subscribers as stored (presence: true, `state_dir`),
   * read when the router is made and each time it comes to serve, as the
   * pins are: another instance sharing the store (a standby on the same
   * host) may have added or removed some while this one did not serve.
   * Undefined from it: the store could not be read, and the router keeps
   * those it holds. Default: none.
   */
  readonly storedSubscribers?: () => Iterable<string> | undefined;
  /**
   * The affinity pins as stored (`state_dir`), `[key, resource]` in the
   * order they were pinned, read each time the router comes online to
   * serve (at start, and when taking over from another instance, whose
   * pins they are), and again when a look from standby takes over.
   * Undefined from it: the store could not be read, and the router keeps
   * those it holds. Default: none, pins live in memory only.
   */
  readonly storedPins?: () => Iterable<readonly [string, string]> | undefined;
}

/**
 * After (re)connecting, how long a request or a user's message that finds
 * no resource waits for the first one, which the server reports a few
 * milliseconds after the subscription is confirmed: without the wait, a
 * restarted proxy or a standby taking over would refuse its first stanzas.
 */
const LEARN_MS = 1_000;

/** The router of one proxy: its state and the transitions on it. */
export class Router {
  #settings: RouterSettings;
  readonly #gate: Gate;
  readonly #target: Target;
  readonly #requests: Requests;
  readonly #messages: Messages;
  /** Requests the target started (allow_target_requests). */
  readonly #initiated: TargetRequests;
  /** The service's own presence and its subscribers (presence: true). */
  readonly #presence: ServicePresence;
  #accepting = true;
  /** Until when, after (re)connecting, a request finding no resource waits. */
  #learnUntil: number | undefined;
  /** Online and serving: not yet, or not since a hand-over to a sibling. */
  #serving = false;
  readonly #placement: Placement;
  readonly #storedPins: (() => Iterable<readonly [string, string]> | undefined) | undefined;
  readonly #storedSubscribers: (() => Iterable<string> | undefined) | undefined;

  constructor(settings: RouterSettings, options: RouterOptions) {
    this.#settings = settings;
    this.#gate = new Gate(settings);
    this.#target = new Target(() => this.#settings, {
      up: (fx, resource, now) => {
        this.#requests.reattach(resource);
        this.#availability(fx);
        this.#requests.dispatchParked(fx, now);
        this.#messages.deliverWaiting(fx, now);
      },
      down: (fx, resource, now) => {
        // Its own requests have nobody left to answer: late replies are dropped.
        this.#initiated.forgetResource(resource.name);
        // Its keys first: a get it held is re-sent where its key goes now.
        this.#placement.resourceLeft(fx, resource);
        this.#requests.lose(fx, resource, now);
        this.#availability(fx);
      },
      undrained: (fx, now) => {
        this.#requests.dispatchParked(fx, now);
        this.#messages.deliverWaiting(fx, now);
      },
    });
    this.#placement = new Placement(this.#target.resources, options.random, () => this.#settings);
    this.#storedPins = options.storedPins;
    this.#storedSubscribers = options.storedSubscribers;
    // Live views: the parts always read what is in force now.
    const context = Object.defineProperties({
      placement: this.#placement,
      gate: this.#gate,
    }, {
      settings: { get: () => this.#settings },
      accepting: { get: () => this.#accepting },
      learnUntil: { get: () => this.#learnUntil },
      inFlightCount: { get: () => this.inFlightCount },
    }) as RouterContext;
    this.#requests = new Requests(context, options.randomBits);
    this.#messages = new Messages(context);
    this.#initiated = new TargetRequests(context, options.randomBits);
    this.#presence = new ServicePresence(settings.domain, {
      subscribers: options.storedSubscribers?.(),
      allowed: (bare) => this.#gate.allows(bare),
      max: () => this.settings.maxSubscribers ?? Infinity,
      maxPerDomain: () => this.settings.maxSubscribersPerDomain ?? Infinity,
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
    this.#settings = next;
    this.#gate.configure(next);
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
    this.#target.redrain(fx, now);
    this.#placement.trim(fx);
    // A standby says nothing to subscribers: the serving instance does.
    if (!this.#serving || before === (next.presence ?? false)) return fx;
    if (before) this.#presence.shutdown(fx.send);
    else {
      // As after a (re)connect: at once if a resource is online, else once
      // the server has had a moment to say which are.
      this.#presence.online(now);
      this.#presence.update(this.resourceCount > 0, fx.send);
    }
    return fx;
  }

  /** How many target resources are available. */
  get resourceCount(): number {
    return this.#target.resources.size;
  }

  /** How many requests await a reply (also those waiting for a resource). */
  get pendingCount(): number {
    return this.#requests.size;
  }

  /**
   * Everything held: users' requests (also those waiting for a resource),
   * the target's own requests, and users' messages waiting for a resource.
   * What `max_pending` caps, and what a shutdown waits for.
   */
  get inFlightCount(): number {
    return this.#requests.size + this.#initiated.size + this.#messages.waiting;
  }

  /** The names of the available target resources, in arrival order. */
  get resources(): string[] {
    return this.#target.resources.list().map((r) => r.name);
  }

  /** Each available target resource: whether it drains, the requests and keys it holds. */
  get resourceStates(): ResourceState[] {
    return this.#target.resources.list().map((r) => ({
      name: r.name,
      draining: r.draining,
      pending: r.pending.size,
      keys: this.#placement.keysOf(r.name),
    }));
  }

  /** How many affinity keys are pinned to a resource. */
  get affinityKeyCount(): number {
    return this.#placement.affinityKeys;
  }

  /** How many users are subscribed to the domain's presence. */
  get subscriberCount(): number {
    return this.#presence.size;
  }

  /** The affinity pins as `[key, resource]`, the least recently used first. */
  get affinityPins(): Array<[string, string]> {
    return this.#placement.pins;
  }

  /** When the shell must call {@link tick} next, or undefined for never. */
  nextWake(): number | undefined {
    let at = earliest(this.#requests.nextWake(), this.#initiated.nextWake());
    at = earliest(at, this.#target.wakeAt);
    at = earliest(at, this.#placement.nextWake());
    // A reload may have turned presence off with an announcement due.
    if (this.settings.presence) at = earliest(at, this.#presence.wakeAt);
    return earliest(at, this.#messages.nextUntil);
  }

  /**
   * The stream is (again) online: ask for the target's presence. Resources
   * from an earlier stream are forgotten (the server tells the current ones
   * once the subscription is approved); their requests stay pending and
   * can still be answered, and go back to their resource when it is
   * announced again. Those whose resource is not back when the first
   * second ends fail over. A `look` from standby (ejabberd) serves nothing
   * yet, and says nothing to the service's subscribers: it serves once it
   * takes over ({@link takeOver}).
   */
  online(now: number, look = false): Effects {
    const fx = effects();
    this.#learnUntil = now + LEARN_MS;
    this.#requests.detachAll(this.#target.online(fx), this.#learnUntil);
    this.#initiated.online(this.#learnUntil);
    // Coming to serve (at start, or taking over): the stored pins and
    // subscribers are the latest; on a reconnect, those in memory are.
    const stored = this.#serving ? undefined : this.#storedPins?.();
    this.#placement.online(fx, now, this.#learnUntil, stored);
    if (!this.#serving) this.#restoreSubscribers();
    if (look) return fx;
    if (this.settings.presence) this.#presence.online(now);
    this.#serving = true;
    return fx;
  }

  /** Handles one stanza from the server; `arrived`: when, if before now (carried over). */
  receive(stanza: XmlElement, now: number, arrived = now): Effects {
    const fx = effects();
    const inFlight = this.#initiated.size > 0;
    const { then, toResource, fromSlash } = classify(stanza, this.#settings, inFlight);
    if (then.kind === "drop") drop(fx, then.reason, stanza);
    else if (then.kind === "refuse") refuse(fx, stanza, then.error, then.reason);
    else this.#run(then.rule, fx, stanza, toResource as string, fromSlash, now, arrived);
    return fx;
  }

  /** Handles the passing of time: timeouts and a due resubscription. */
  tick(now: number): Effects {
    const fx = effects();
    this.#requests.expire(fx, now);
    if (this.#initiated.size > 0) this.#initiated.settle(fx, now, TIMEOUT, "timeout", false);
    this.#requests.expireParked(fx, now);
    this.#messages.expire(fx, now);
    this.#requests.reattachDue(fx, now, this.#target.heard);
    this.#initiated.reattachDue(now, this.#target.heard, this.#target.resources);
    this.#placement.tick(fx, now, this.#target.heard);
    if (this.settings.presence) this.#presence.due(now, this.resourceCount > 0, fx.send);
    this.#target.tick(fx, now);
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
    this.#placement.forgetPins();
    this.#serving = false;
    return fx;
  }

  /**
   * A look from standby found no sibling and serves now: the stored pins
   * and subscribers are read again, since the instance gone may have
   * written more while the look was held (it read them as it came online),
   * and the target's presence is asked again if none reached the look.
   */
  takeOver(now: number): Effects {
    const fx = effects();
    const stored = this.#storedPins?.();
    if (stored !== undefined) this.#placement.online(fx, now, this.#learnUntil ?? now, stored);
    this.#restoreSubscribers();
    this.#serving = true;
    // Nothing was announced during the look: due as after coming online.
    if (this.settings.presence) this.#presence.online(now);
    // The answer to the look's subscription may have gone to the instance
    // that died (ejabberd spreads a domain's stanzas over its connections,
    // a dead one too until it notices): with no resource known, ask again.
    if (this.resourceCount === 0) this.#target.resubscribe(fx);
    return fx;
  }

  /** Replaces the subscribers with those stored; false when there is no store to read. */
  #restoreSubscribers(): boolean {
    const stored = this.#storedSubscribers?.();
    if (stored === undefined) return false;
    this.#presence.restore(stored);
    return true;
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
    // A standby (or its look) speaks for nobody: the serving instance does.
    if (this.#serving) {
      this.#target.goodbye(fx);
      if (this.settings.presence) this.#presence.shutdown(fx.send);
    } else this.#target.quiet();
    // Nothing is due after it: the pins are the store's.
    this.#placement.forgetPins();
    return fx;
  }

  /** Runs the rule the routing table chose. `toResource` is set wherever the table says so. */
  #run(
    rule: Rule,
    fx: Effects,
    stanza: XmlElement,
    toResource: string,
    fromSlash: number,
    now: number,
    arrived: number,
  ): void {
    switch (rule) {
      case "request":
        return this.#requests.admit(fx, stanza, stanza.attrs.type as "get" | "set", now, arrived);
      case "reply":
        return this.#requests.reply(fx, stanza, toResource, now);
      case "reply_too_big":
        return this.#requests.replyTooBig(fx, stanza, toResource, now);
      case "target_request":
        return this.#initiated.start(fx, stanza, toResource, now, arrived);
      case "target_request_reply":
        return this.#initiated.reply(fx, stanza, now);
      case "target_request_reply_too_big":
        return this.#initiated.replyTooBig(fx, stanza, now);
      case "target_presence":
        return this.#target.receive(fx, stanza, fromSlash, now);
      case "user_presence":
        return userPresence(fx, stanza, now, {
          gate: this.#gate,
          presence: this.#presence,
          available: this.resourceCount > 0,
          settings: this.settings,
        });
      case "user_message":
        return this.#messages.fromUser(fx, stanza, now);
      case "message_error":
        return this.#messages.errorFromUser(fx, stanza);
      case "target_message":
        return this.#messages.fromTarget(fx, stanza, toResource);
      case "target_message_error":
        return this.#messages.errorFromTarget(fx, stanza, toResource);
    }
  }

  /** Answers every request held, both ways, with `error`. */
  #answerAll(fx: Effects, now: number, error: StanzaError, why: RefusalOutcome): void {
    this.#requests.refuseParked(fx, error, why, now);
    this.#messages.refuseWaiting(fx, error, why);
    this.#requests.answerPending(fx, error, why, now);
    this.#initiated.settle(fx, now, error, why, true);
  }

  /** Tells the service's subscribers when its availability changed. */
  #availability(fx: Effects): void {
    if (this.settings.presence) this.#presence.update(this.resourceCount > 0, fx.send);
  }
}

/**
 * One proxy at run time: the thin shell around a {@link Router} that owns
 * its stream, its one timer, its logs and metrics, and its stored
 * subscribers and affinity pins. Every decision is the router's.
 */
import type { ProxyConfig } from "../config/types.ts";
import type { Link, LinkHandlers, openLink } from "../link/connection.ts";
import type { Readiness } from "../ops/http.ts";
import { type Logger, logger } from "../ops/log.ts";
import type { Metrics } from "../ops/metrics.ts";
import { type Effects, Router, type RouterEvent } from "../core/router.ts";
import type { SubscriberStore } from "../ops/subscribers.ts";
import type { PinStore } from "../ops/pins.ts";
import { ProxyStores } from "./proxy_stores.ts";
import { openProxyLink, timings } from "./proxy_link.ts";
import { wait } from "../link/wait.ts";
import type { XmlElement } from "../core/xml.ts";
import { EventLog } from "./event_log.ts";
import { drainNotes } from "./drain_notes.ts";
import {
  type Carried,
  CarryOver,
  MAX_CARRIED,
  MAX_CARRIED_CHARS,
  worthCarrying,
} from "./carry_over.ts";

/** What a proxy needs from the outside world; tests replace it. */
export interface ProxyDeps {
  /** Milliseconds on a monotonic clock. Default: `performance.now`. */
  readonly now?: () => number;
  /** Uniform random numbers in [0, 1): balancing, delays. Default: `Math.random`. */
  readonly random?: () => number;
  /**
   * Uniform 32-bit unsigned integers that no other run repeats: the
   * prefix of the long-address tokens and of the target's request ids.
   * Default: `crypto.getRandomValues`.
   */
  readonly randomBits?: () => number;
  /** Opens the stream. Default: {@link openLink}. */
  readonly openLink?: typeof openLink;
  /** Where counters go. Default: none. */
  readonly metrics?: Metrics;
  /** Where the service's subscribers are kept (`presence: true`). Default: none. */
  readonly subscribers?: SubscriberStore;
  /** Where the affinity pins are kept (`affinity`, with `state_dir`). Default: none. */
  readonly pins?: PinStore;
  /**
   * Without `pins`: those of the proxy this one succeeds in a reload (its
   * {@link Proxy.pinsAtStop}), taken as a store's as it comes to serve.
   */
  readonly handedPins?: Array<[string, string]>;
}

/** A running proxy. */
export class Proxy {
  readonly domain: string;
  readonly #router: Router;
  readonly #link: Link;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #metrics: Metrics | undefined;
  #maxStanzaSize: number;
  /** Its subscribers and affinity pins, kept across restarts. */
  readonly #stores: ProxyStores;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #idle: (() => void) | undefined;
  #shuttingDown = false;
  #hurried = false;
  /** Whether the router serves (online, and not a look from standby). */
  #serving = false;
  /**
   * What a closing stream of this domain could not answer, routed once this
   * proxy serves; and, once its own link is told to stop, what crossed that
   * stream's end, to hand on.
   */
  readonly #carried = new CarryOver();
  /** Set once the link is told to stop: no answer on its stream can reach anyone now. */
  #ending = false;
  /** The shutdown under way or done, which a second call shares. */
  #stopping: Promise<Carried[]> | undefined;
  readonly #targetAddress: string;
  /** What the router's events say in the log. */
  readonly #events: EventLog;
  /** The affinity pins as the shutdown found them, for a successor with no store to read. */
  #pinsAtStop: Array<[string, string]> = [];

  constructor(config: ProxyConfig, deps: ProxyDeps = {}) {
    const domain = this.domain = config.domain;
    this.#maxStanzaSize = config.maxStanzaSize;
    this.#targetAddress = config.targetAddress;
    this.#now = deps.now ?? (() => performance.now());
    this.#log = logger(domain);
    this.#events = new EventLog({
      domain,
      log: this.#log,
      now: this.#now,
      maxStanzaSize: () => this.#maxStanzaSize,
    });
    this.#metrics = deps.metrics;
    this.#stores = new ProxyStores(domain, this.#log, deps);
    this.#router = new Router(config, {
      random: deps.random ?? Math.random,
      randomBits: deps.randomBits ?? secureBits,
      ...this.#stores.readers(),
    });
    this.#metrics?.setUp(domain, false);
    this.#metrics?.sample(domain, () => ({
      pending: this.#router.pendingCount,
      resources: this.#router.resourceCount,
      draining: this.#router.resourceStates.filter((r) => r.draining).length,
      affinityKeys: this.#router.affinityKeyCount,
      subscribers: this.#router.subscriberCount,
    }));
    const handlers: LinkHandlers = {
      onStanza: (stanza) => {
        if (!this.#ending) this.#receive(stanza);
        else if (worthCarrying(stanza, this.#targetAddress)) {
          this.#keep({ stanza, at: this.#now() });
        }
      },
      onOnline: (look) => {
        this.#metrics?.connected(domain);
        this.#metrics?.setUp(domain, true);
        this.#apply(this.#router.online(this.#now(), look));
        if (!look) this.#serve();
      },
      onOffline: () => {
        this.#serving = false;
        this.#metrics?.setUp(domain, false);
      },
      onStreamError: (condition) => this.#metrics?.streamError(domain, condition),
      onHandOver: () => {
        this.#serving = false;
        this.#apply(this.#router.handOver(this.#now()));
      },
      onTakeOver: () => {
        this.#apply(this.#router.takeOver(this.#now()));
        this.#serve();
      },
      // Counted as the router's drops are; the link has said why.
      onDropped: (reason) => this.#metrics?.dropped(domain, reason),
    };
    this.#link = openProxyLink(config, this.#log, handlers, deps);
  }

  /**
   * Throws, with the reason, when a proxy cannot run with these settings:
   * a router is made with them and dropped. A reload asks this of every
   * proxy before it changes anything, so that one proxy's refusal leaves
   * the whole old config in force.
   */
  static check(config: ProxyConfig): void {
    new Router(config, { random: () => 0, randomBits: () => 0 });
  }

  /**
   * Applies new settings (same domain, server, secret and target) that
   * {@link Proxy.check} passed: to the next requests, and the stream's
   * timings to the running stream.
   */
  reconfigure(config: ProxyConfig): void {
    this.#maxStanzaSize = config.maxStanzaSize;
    // With the settings checked, only telling the subscribers of the change can throw: a bug.
    this.#step(
      () => this.#router.reconfigure(config, this.#now()),
      (error) => this.#log.error("reconfigure.failed", { domain: this.domain, reason: error }),
    );
    this.#link.retune(timings(config));
    // A standby knows no resource: it has nothing to say of the names.
    const notes = this.#serving ? drainNotes(config.drain, this.#router.resourceStates) : [];
    for (const { level, event, fields } of notes) {
      this.#log[level](event, { domain: this.domain, ...fields });
    }
  }

  /** Whether its router serves: online, and not a look from standby. */
  get serving(): boolean {
    return this.#serving;
  }

  /** The id its link proves itself with to other instances of the domain, if any. */
  get instance(): string | undefined {
    return this.#link.instance;
  }

  /** Since when its link's stream is up, while it is (the older of two instances serves). */
  get since(): number | undefined {
    return this.#link.since;
  }

  /** Where the proxy stands, for `/readyz` and `/status`. */
  readiness(): Readiness {
    const state = this.#link.state;
    return {
      proxy: this.domain,
      online: state === "online",
      resources: this.#router.resourceCount,
      standingBy: state === "standby",
      refused: state === "refused",
      shuttingDown: this.#shuttingDown,
      targetResources: this.#router.resourceStates,
    };
  }

  /**
   * Takes what the closing stream of this domain could not answer (see
   * {@link shutdown}): routed as soon as this proxy serves, before what
   * comes on its own stream; a request that has waited `request_timeout`
   * by then is answered as timed out.
   */
  carry(items: readonly Carried[]): void {
    for (const item of items) this.#keep(item);
    if (this.#serving) this.#serve();
  }

  /**
   * A stanza for this proxy from outside its stream (a secret's trial): as
   * {@link carry}; while it does not serve, only what is worth carrying.
   */
  take(stanza: XmlElement): void {
    if (!this.#serving && !worthCarrying(stanza, this.#targetAddress)) return;
    this.carry([{ stanza, at: this.#now() }]);
  }

  /**
   * Stops taking requests, lets those in flight finish for up to `graceMs`,
   * answers the rest, says goodbye to the target and closes the stream.
   * Resolves with what it could not answer: stanzas the server routed to
   * the stream before it read the stream's end, and any it was given to
   * carry and never served (a successor may take them; see {@link carry}).
   * A second call shares the first.
   */
  shutdown(graceMs: number): Promise<Carried[]> {
    return this.#stopping ??= this.#shutdown(graceMs);
  }

  /** The affinity pins the router held when the shutdown settled it, least recently used first. */
  get pinsAtStop(): Array<[string, string]> {
    return this.#pinsAtStop;
  }

  async #shutdown(graceMs: number): Promise<Carried[]> {
    this.#shuttingDown = true;
    // What comes to carry from now on waits for the successor, not this draining router.
    this.#serving = false;
    this.#router.drain();
    if (this.#router.inFlightCount > 0 && !this.#hurried) {
      this.#log.info("proxy.draining", {
        domain: this.domain,
        pending: this.#router.inFlightCount,
        grace_ms: graceMs,
      });
      const grace = wait(graceMs);
      this.#idle = grace.cancel;
      await grace.done;
      this.#idle = undefined;
      const pending = this.#router.inFlightCount;
      // Said only when it ran its course: none, or a second stop signal, is the operator's choice.
      if (pending > 0 && graceMs > 0 && !this.#hurried) {
        this.#log.warning("proxy.grace_ended", {
          domain: this.domain,
          pending,
          hint: "these get service-unavailable (wait) now; raise shutdown_grace if the " +
            "implementing client needs longer",
        });
      }
    }
    this.#pinsAtStop = this.#router.affinityPins;
    this.#apply(this.#router.settleAll(this.#now()));
    clearTimeout(this.#timer);
    this.#timerAt = Infinity;
    this.#ending = true;
    await this.#link.stop();
    this.#metrics?.setUp(this.domain, false);
    if (this.#carried.dropped > 0) this.#sayDropped("at_stop");
    return this.#carried.takeAll();
  }

  /** Ends the shutdown grace now (see {@link shutdown}); one still to come will have none. */
  hurry(): void {
    this.#hurried = true;
    this.#idle?.();
  }

  #receive(stanza: XmlElement, arrived?: number): void {
    this.#step(
      () => this.#router.receive(stanza, this.#now(), arrived),
      (error) => this.#failed(stanza, error),
    );
  }

  /** Keeps a stanza to carry or hand on; the first one the limit leaves out is said at once. */
  #keep(item: Carried): void {
    if (!this.#carried.keep(item) && this.#carried.dropped === 1) this.#sayDropped("first");
  }

  #sayDropped(when: "first" | "at_stop"): void {
    this.#log.warning("proxy.carry_limit", {
      domain: this.domain,
      dropped: this.#carried.dropped,
      limit: MAX_CARRIED,
      limit_chars: MAX_CARRIED_CHARS,
      when,
      hint:
        "more stanzas than that came to carry while no stream served them: the rest are dropped",
    });
  }

  /** The router serves: what was carried over goes first, timed from when it arrived. */
  #serve(): void {
    this.#serving = true;
    for (const item of this.#carried.takeAll()) this.#receive(item.stanza, item.at);
  }

  /**
   * One step of the router, then its effects. A bug in the step costs that
   * stanza (or that tick), never the process and every request in flight:
   * the router is fuzzed not to throw, and this is the net.
   */
  #step(run: () => Effects, failed: (error: unknown) => void): void {
    let fx: Effects;
    try {
      fx = run();
    } catch (error) {
      failed(error);
      return this.#arm();
    }
    this.#apply(fx);
  }

  #apply(fx: Effects): void {
    // Events first: a subscriber is stored before its `subscribed` is sent.
    for (const event of fx.events) {
      try {
        this.#report(event);
      } catch (error) {
        this.#log.error("event.failed", {
          domain: this.domain,
          event: event.type,
          reason: error,
        });
      }
    }
    this.#stores.flush();
    // Each on its own: one that cannot be written must not keep the others
    // of the same step (answers to other requesters) from going out.
    for (const stanza of fx.send) {
      try {
        this.#link.send(stanza);
      } catch (error) {
        this.#failed(stanza, error);
      }
    }
    this.#arm();
    if (this.#idle && this.#router.inFlightCount === 0) this.#idle();
  }

  #failed(stanza: XmlElement, error: unknown): void {
    this.#log.error("stanza.failed", {
      domain: this.domain,
      stanza: stanza.name,
      type: stanza.attrs.type,
      reason: error,
    });
  }

  /** Keeps one timer set for the router's next wake-up. */
  #arm(): void {
    const at = this.#router.nextWake();
    // An earlier timer already set is kept: tick() is harmless when early.
    if (at === undefined || at >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timerAt = Infinity;
      this.#step(
        () => this.#router.tick(this.#now()),
        (error) => this.#log.error("tick.failed", { domain: this.domain, reason: error }),
      );
    }, Math.max(0, at - this.#now()));
  }

  /** Stores what must survive a restart, counts, then says the event. */
  #report(event: RouterEvent): void {
    this.#metrics?.observe(this.domain, event);
    this.#stores.record(event);
    this.#events.say(event);
  }
}

/** 32 bits from the system's secure source (Web Crypto). */
function secureBits(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/**
 * One proxy at run time: the thin shell around a {@link Router} that owns
 * its stream, its one timer, its logs and metrics, and its stored
 * subscribers and affinity pins. Every decision is the router's.
 */
import type { ProxyConfig } from "../config/types.ts";
import { type Link, type LinkHandlers, type LinkTimings, openLink } from "../link/connection.ts";
import { askPeer } from "../link/peer.ts";
import type { Readiness } from "../ops/http.ts";
import { type Logger, logger, logs } from "../ops/log.ts";
import type { Metrics } from "../ops/metrics.ts";
import { BROKEN_RULES } from "../ops/broken_rules.ts";
import { WarnLimiter } from "../ops/warn_limiter.ts";
import { bareOf, domainKey } from "../core/jid.ts";
import { type Effects, Router, type RouterEvent } from "../core/router.ts";
import type { SubscriberStore } from "../ops/subscribers.ts";
import type { PinChange, PinStore } from "../ops/pins.ts";
import { wait } from "../link/wait.ts";
import { copyString, type XmlElement } from "../core/xml.ts";

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
}

/** A running proxy. */
export class Proxy {
  readonly domain: string;
  readonly #router: Router;
  readonly #link: Link;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #metrics: Metrics | undefined;
  readonly #store: SubscriberStore | undefined;
  #maxStanzaSize: number;
  readonly #pins: PinStore | undefined;
  /** The pin changes of the step being applied, written together. */
  #pinChanges: PinChange[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #idle: (() => void) | undefined;
  #shuttingDown = false;
  #hurried = false;
  /** A broken rule's warning: once a minute per kind and sender's domain. */
  readonly #warnings = new WarnLimiter();

  constructor(config: ProxyConfig, deps: ProxyDeps = {}) {
    const domain = this.domain = config.domain;
    this.#maxStanzaSize = config.maxStanzaSize;
    this.#now = deps.now ?? (() => performance.now());
    this.#log = logger(domain);
    this.#metrics = deps.metrics;
    // Kept even with presence off: a reload may turn it on.
    this.#store = deps.subscribers;
    // Kept even with affinity off: a reload may turn it on.
    const pins = this.#pins = deps.pins;
    const store = this.#store;
    this.#router = new Router(config, {
      random: deps.random ?? Math.random,
      randomBits: deps.randomBits ?? secureBits,
      ...(store ? { storedSubscribers: () => this.#storedSubscribers(store) } : {}),
      ...(pins ? { storedPins: () => pins.list(domain) } : {}),
    });
    this.#metrics?.setUp(domain, false);
    this.#metrics?.sample(domain, () => ({
      pending: this.#router.pendingCount,
      resources: this.#router.resourceCount,
      draining: this.#router.drainingCount,
      affinityKeys: this.#router.affinityKeyCount,
    }));
    const handlers: LinkHandlers = {
      onStanza: (stanza) =>
        this.#step(
          () => this.#router.receive(stanza, this.#now()),
          (error) => this.#failed(stanza, error),
        ),
      onOnline: () => {
        this.#metrics?.connected(domain);
        this.#metrics?.setUp(domain, true);
        this.#apply(this.#router.online(this.#now()));
      },
      onOffline: () => this.#metrics?.setUp(domain, false),
      onStreamError: (condition) => this.#metrics?.streamError(domain, condition),
      onHandOver: () => this.#apply(this.#router.handOver(this.#now())),
      onTakeOver: () => this.#apply(this.#router.takeOver(this.#now())),
      // Counted as the router's drops are; the link has said why.
      onDropped: (reason) => this.#metrics?.dropped(domain, reason),
    };
    this.#link = (deps.openLink ?? openLink)({
      url: config.server.url,
      ...(config.tls ? { tls: config.tls } : {}),
      domain,
      secret: config.secret,
      log: this.#log,
      handlers,
      random: deps.random ?? Math.random,
      ...timings(config),
      ...(config.standbyPeer
        ? { siblingServes: () => askPeer(config.standbyPeer!.url, domain) }
        : {}),
    });
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
  }

  /** Where the proxy stands, for `/readyz`. */
  readiness(): Readiness {
    const state = this.#link.state;
    return {
      proxy: this.domain,
      online: state === "online",
      resources: this.#router.resourceCount,
      standingBy: state === "standby",
      refused: state === "refused",
      shuttingDown: this.#shuttingDown,
    };
  }

  /**
   * Stops taking requests, lets those in flight finish for up to `graceMs`,
   * answers the rest, says goodbye to the target and closes the stream.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.#shuttingDown = true;
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
    }
    this.#apply(this.#router.settleAll(this.#now()));
    clearTimeout(this.#timer);
    this.#timerAt = Infinity;
    await this.#link.stop();
    this.#metrics?.setUp(this.domain, false);
  }

  /** Ends the shutdown grace now (see {@link shutdown}); one still to come will have none. */
  hurry(): void {
    this.#hurried = true;
    this.#idle?.();
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
    if (this.#pinChanges.length > 0) this.#savePins();
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

  /** Writes the step's pin changes (the router holds them whatever happens). */
  #savePins(): void {
    const changes = this.#pinChanges;
    this.#pinChanges = [];
    try {
      this.#pins?.apply(this.domain, changes);
    } catch (error) {
      // As for subscribers: only a restart would lose them, and the log says so.
      this.#log.error("affinity.store_failed", {
        domain: this.domain,
        changes: changes.length,
        reason: error,
      });
    }
  }

  /**
   * The subscribers stored, for the router as it comes to serve; when the
   * store cannot be read, said, and none: the router keeps those it holds.
   */
  #storedSubscribers(store: SubscriberStore): string[] | undefined {
    try {
      return store.list(this.domain);
    } catch (error) {
      this.#log.error("service.store_failed", {
        domain: this.domain,
        change: "read",
        reason: error,
      });
      return undefined;
    }
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

  #report(event: RouterEvent): void {
    this.#metrics?.observe(this.domain, event);
    const log = this.#log;
    const domain = this.domain;
    switch (event.type) {
      case "resource":
        log.info(`target.resource_${event.change}`, {
          domain,
          resource: event.resource,
          available: event.count,
        });
        break;
      case "pinned":
        if (this.#pins) this.#pinChanges.push([event.key, event.resource]);
        if (logs("debug")) {
          log.debug("affinity.pinned", { domain, key: event.key, resource: event.resource });
        }
        break;
      case "unpinned":
        if (this.#pins) { for (const key of event.keys) this.#pinChanges.push([key, undefined]); }
        // A resource's keys moving is worth seeing; expiry and eviction are routine.
        if (event.reason === "resource_left") {
          log.info("affinity.unpinned", { domain, reason: event.reason, keys: event.keys.length });
        } else if (logs("debug")) {
          log.debug("affinity.unpinned", { domain, reason: event.reason, keys: event.keys.length });
        }
        break;
      case "subscription":
        if (event.state === "error" || event.state === "revoked") {
          log.warning("target.subscription_lost", {
            domain,
            state: event.state,
            retry_in_ms: event.retryInMs,
          });
        } else log.info(`target.subscription_${event.state}`, { domain });
        break;
      case "subscriber":
        try {
          if (event.change === "add") this.#store?.add(domain, event.jid);
          else this.#store?.remove(domain, event.jid);
        } catch (error) {
          // A full disk or a locked database must not take the stream (and
          // every request in flight) down: the router still holds the
          // change, so only a restart would lose it, and the log says so.
          log.error("service.store_failed", { domain, change: event.change, reason: error });
        }
        if (logs("debug")) {
          log.debug(`service.subscriber_${event.change}`, { domain, jid: event.jid });
        }
        break;
      case "dropped":
        if (event.reason === "too_big") this.#tooBig(event.stanza, event.from, "dropped");
        else if (BROKEN_RULES[event.reason]) {
          this.#warn("stanza.dropped", event.reason, event.stanza, event.from);
        }
        if (logs("debug")) log.debug("stanza.dropped", { domain, ...event, type: undefined });
        break;
      case "forwarded":
        if (logs("debug")) log.debug("request.forwarded", { domain, ...event, type: undefined });
        break;
      case "passed":
        if (logs("debug")) {
          const name = event.stanza === "message" ? "message.passed" : "target_request.sent";
          log.debug(name, { domain, from: event.from, to: event.to, id: event.id });
        }
        break;
      case "outcome":
        if (logs("debug")) {
          log.debug("request.done", {
            domain,
            outcome: event.outcome,
            requester: event.requester,
            id: event.id,
            duration_ms: Math.round(event.durationMs * 1000) / 1000,
          });
        }
        break;
      case "refused":
        if (event.reason === "too_big") this.#tooBig(event.stanza, event.from, "refused");
        else if (BROKEN_RULES[event.reason]) {
          this.#warn("stanza.refused", event.reason, event.stanza, event.from, {
            condition: event.condition,
          });
        }
        if (logs("debug")) log.debug("stanza.refused", { domain, ...event, type: undefined });
        break;
    }
  }

  /** A stanza over `max_stanza_size` was skipped: said as a broken rule, with the limit. */
  #tooBig(stanza: string, from: string | undefined, action: "refused" | "dropped"): void {
    const details = { action, limit: this.#maxStanzaSize };
    this.#warn("stanza.too_big", "too_big", stanza, from, details);
  }

  /**
   * A rule the sender broke, said as a warning naming the sender's domain
   * (JIDs only at debug), unless one of the same kind and domain was said
   * within the minute: the next one says how many were left out meanwhile.
   */
  #warn(
    name: string,
    reason: string,
    stanza: string,
    from: string | undefined,
    details: Record<string, unknown> = {},
  ): void {
    const sender = from === undefined ? "" : domainKey(bareOf(from));
    // Kept by the limiter: a copy, see copyString().
    const peer = sender === "" ? "unknown" : copyString(sender);
    const leftOut = this.#warnings.admit(`${name} ${reason} ${peer}`, this.#now());
    if (leftOut === undefined) return;
    const suppressed = leftOut > 0 ? leftOut : undefined;
    this.#log.warning(name, { domain: this.domain, reason, stanza, peer, ...details, suppressed });
  }
}

/** The stream's timings and size limit in a proxy's config. */
function timings(config: ProxyConfig): LinkTimings {
  return {
    keepaliveMs: config.keepaliveMs,
    keepaliveTimeoutMs: config.keepaliveTimeoutMs,
    standbyRetryMs: config.standbyRetryMs,
    maxStanzaSize: config.maxStanzaSize,
    maxSendBuffer: config.maxSendBuffer,
  };
}

/** 32 bits from the system's secure source (Web Crypto). */
function secureBits(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

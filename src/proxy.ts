/**
 * One proxy at run time: the thin shell around a {@link Router} that owns
 * its stream, its one timer and its logs. Every decision is the router's.
 */
import type { ProxyConfig } from "./config.ts";
import { type Link, type LinkHandlers, openLink } from "./connection.ts";
import { type Logger, logger, logs } from "./log.ts";
import { type Effects, Router, type RouterEvent } from "./router.ts";

/** What a proxy needs from the outside world; tests replace it. */
export interface ProxyDeps {
  /** Milliseconds on a monotonic clock. Default: `performance.now`. */
  readonly now?: () => number;
  /** Uniform random numbers in [0, 1). Default: `Math.random`. */
  readonly random?: () => number;
  /** Opens the stream. Default: {@link openLink}. */
  readonly openLink?: typeof openLink;
}

/** A running proxy. */
export class Proxy {
  readonly domain: string;
  readonly #router: Router;
  readonly #link: Link;
  readonly #log: Logger;
  readonly #now: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #idle: (() => void) | undefined;

  constructor(config: ProxyConfig, deps: ProxyDeps = {}) {
    this.domain = config.domain;
    this.#now = deps.now ?? (() => performance.now());
    this.#log = logger(config.domain);
    this.#router = new Router(config, { random: deps.random });
    const handlers: LinkHandlers = {
      onStanza: (stanza) => this.#apply(this.#router.receive(stanza, this.#now())),
      onOnline: () => this.#apply(this.#router.online(this.#now())),
      onOffline: () => {},
    };
    this.#link = (deps.openLink ?? openLink)({
      url: config.server.url,
      domain: config.domain,
      secret: config.secret,
      log: this.#log,
      handlers,
      random: deps.random,
    });
  }

  /** Applies new settings (same domain and target) to the next requests. */
  reconfigure(config: ProxyConfig): void {
    this.#router.settings = config;
  }

  /**
   * Stops taking requests, lets those in flight finish for up to `graceMs`,
   * answers the rest, says goodbye to the target and closes the stream.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.#router.drain();
    if (this.#router.pendingCount > 0) {
      this.#log.info("proxy.draining", {
        domain: this.domain,
        pending: this.#router.pendingCount,
        grace_ms: graceMs,
      });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.#idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#idle = undefined;
    }
    this.#apply(this.#router.settleAll(this.#now()));
    clearTimeout(this.#timer);
    this.#timerAt = Infinity;
    await this.#link.stop();
  }

  #apply(fx: Effects): void {
    for (const stanza of fx.send) this.#link.send(stanza);
    for (const event of fx.events) this.#report(event);
    this.#arm();
    if (this.#idle && this.#router.pendingCount === 0) this.#idle();
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
      this.#apply(this.#router.tick(this.#now()));
    }, Math.max(0, at - this.#now()));
  }

  #report(event: RouterEvent): void {
    const log = this.#log;
    switch (event.type) {
      case "resource":
        log.info(
          event.change === "up" ? "target.resource_up" : "target.resource_down",
          {
            domain: this.domain,
            resource: event.resource,
            available: event.count,
          },
        );
        break;
      case "subscription":
        if (event.state === "error" || event.state === "revoked") {
          log.warning("target.subscription_lost", {
            domain: this.domain,
            state: event.state,
            retry_in_ms: event.retryInMs,
          });
        } else {log.info(`target.subscription_${event.state}`, {
            domain: this.domain,
          });}
        break;
      case "dropped":
        // A reply addressed to a resource that is no JID is a client bug
        // worth seeing; the JIDs themselves are shown at debug only.
        if (event.reason === "bad_address") {
          log.warning("stanza.dropped", {
            domain: this.domain,
            reason: event.reason,
            stanza: event.stanza,
            id: event.id,
          });
        }
        if (logs("debug")) {
          log.debug("stanza.dropped", {
            domain: this.domain,
            ...event,
            type: undefined,
          });
        }
        break;
      case "forwarded":
        if (logs("debug")) {
          log.debug("request.forwarded", {
            domain: this.domain,
            ...event,
            type: undefined,
          });
        }
        break;
      case "outcome":
        if (logs("debug")) {
          log.debug("request.done", {
            domain: this.domain,
            outcome: event.outcome,
            requester: event.requester,
            id: event.id,
            duration_ms: Math.round(event.durationMs * 1000) / 1000,
          });
        }
        break;
      case "refused":
        if (logs("debug")) {
          log.debug("stanza.refused", {
            domain: this.domain,
            ...event,
            type: undefined,
          });
        }
        break;
    }
  }
}

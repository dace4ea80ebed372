/**
 * What one proxy's router events say in the log: the target's resources
 * and subscription, affinity's moves, and, for stanzas dropped or refused
 * because their sender broke a rule, a warning naming the sender's domain
 * at most once a minute per kind and domain (JIDs only at debug).
 */
import { bareOf, domainKey } from "../core/jid.ts";
import type { RouterEvent } from "../core/router.ts";
import { copyString } from "../core/xml.ts";
import { BROKEN_RULES } from "../ops/broken_rules.ts";
import { type Logger, logs } from "../ops/log.ts";
import { WarnLimiter } from "../ops/warn_limiter.ts";

const UNAPPROVED_EVERY_MS = 60_000;

/** Options of {@link EventLog}. */
export interface EventLogOptions {
  readonly domain: string;
  readonly log: Logger;
  /** Milliseconds on a monotonic clock, for the warnings' rate limit. */
  readonly now: () => number;
  /** `max_stanza_size` in force, said with a stanza over it. */
  readonly maxStanzaSize: () => number;
}

/** Says a proxy's router events. */
export class EventLog {
  readonly #options: EventLogOptions;
  /** A broken rule's warning: once a minute per kind and sender's domain. */
  readonly #warnings = new WarnLimiter();
  /** The target's subscription, as last said. */
  #subscription: "requested" | "approved" | "error" | "revoked" | undefined;
  /** When a request last found no resource for want of the subscription was said. */
  #unapprovedSaidAt = -Infinity;

  constructor(options: EventLogOptions) {
    this.#options = options;
  }

  /** Says `event`, at the level it deserves. */
  say(event: RouterEvent): void {
    const { log, domain } = this.#options;
    switch (event.type) {
      case "resource":
        log.info(`target.resource_${event.change}`, {
          domain,
          resource: event.resource,
          available: event.count,
        });
        break;
      case "pinned":
        if (logs("debug")) {
          log.debug("affinity.pinned", { domain, key: event.key, resource: event.resource });
        }
        break;
      case "unpinned":
        // A resource's keys moving is worth seeing; expiry and eviction are routine.
        if (event.reason === "resource_left") {
          log.info("affinity.unpinned", { domain, reason: event.reason, keys: event.keys.length });
        } else if (logs("debug")) {
          log.debug("affinity.unpinned", { domain, reason: event.reason, keys: event.keys.length });
        }
        break;
      case "subscription": {
        // A `subscribed` again (ejabberd hands one meant for a live check to us too) is no news.
        const again = event.state === "approved" && this.#subscription === "approved";
        this.#subscription = event.state;
        if (again) {
          if (logs("debug")) log.debug("target.subscription_approved", { domain, again: true });
        } else if (event.state === "error" || event.state === "revoked") {
          log.warning("target.subscription_lost", {
            domain,
            state: event.state,
            retry_in_ms: event.retryInMs,
          });
        } else log.info(`target.subscription_${event.state}`, { domain });
        break;
      }
      case "subscriber":
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
        if (event.reason === "no_resource") this.#unapproved();
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

  /**
   * A request found no resource while the target has not approved the
   * subscription: its resources cannot be seen, whoever is online. Said at
   * most once a minute: it is the usual first mistake of a new bot.
   */
  #unapproved(): void {
    const { log, domain, now } = this.#options;
    if (this.#subscription === "approved" || this.#subscription === undefined) return;
    const at = now();
    if (at - this.#unapprovedSaidAt < UNAPPROVED_EVERY_MS) return;
    this.#unapprovedSaidAt = at;
    log.warning("target.subscription_unapproved", {
      domain,
      state: this.#subscription,
      hint: "a request found no resource: the implementing account has not approved this " +
        "domain's presence subscription, so its resources cannot be seen; its client must " +
        "answer the subscribe with subscribed",
    });
  }

  /** A stanza over `max_stanza_size` was skipped: said as a broken rule, with the limit. */
  #tooBig(stanza: string, from: string | undefined, action: "refused" | "dropped"): void {
    const details = { action, limit: this.#options.maxStanzaSize() };
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
    const leftOut = this.#warnings.admit(`${name} ${reason} ${peer}`, this.#options.now());
    if (leftOut === undefined) return;
    const suppressed = leftOut > 0 ? leftOut : undefined;
    const domain = this.#options.domain;
    this.#options.log.warning(name, { domain, reason, stanza, peer, ...details, suppressed });
  }
}

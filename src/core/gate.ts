/**
 * Who gets in: the access lists, then the sender's rate limit, then its
 * domain's. Asked for every request, every user's message and every user's
 * presence, before anything else is spent on them.
 */
import { type AccessCheck, compileAccess } from "./access.ts";
import { domainKey } from "./jid.ts";
import { RateLimiter } from "./rate_limit.ts";
import type { RouterSettings } from "./settings.ts";
import type { StanzaError } from "./stanza.ts";
import { FORBIDDEN, NO_RESOURCE, RATE_LIMITED } from "./stanza_errors.ts";
import { copyString } from "./xml.ts";

/** Why a sender is kept out. */
export type Refusal = "forbidden" | "rate_limited";

type Limit = RouterSettings["rateLimit"];

/** The access lists and the rate limiters (per requester, per domain) of the settings in force. */
export class Gate {
  #allowed: AccessCheck = () => true;
  readonly #perRequester = new Limiter();
  readonly #perDomain = new Limiter();

  constructor(settings: RouterSettings) {
    this.configure(settings);
  }

  /**
   * Applies new settings. Each rate limiter keeps its buckets unless its
   * limit itself changed.
   */
  configure(settings: RouterSettings): void {
    this.#allowed = compileAccess(settings.allow, settings.deny);
    this.#perRequester.configure(settings.rateLimit);
    this.#perDomain.configure(settings.rateLimitPerDomain);
  }

  /** Whether the access lists let this bare JID in. */
  allows(bare: string): boolean {
    return this.#allowed(bare);
  }

  /**
   * Why this sender is kept out now, or undefined to let it in (a token is
   * then taken from its bucket and its domain's).
   */
  check(bare: string, now: number): Refusal | undefined {
    if (!this.#allowed(bare)) return "forbidden";
    if (!this.#perRequester.take(bare, now)) return "rate_limited";
    if (this.#perDomain.active && !this.#perDomain.take(domainKey(bare), now)) {
      return "rate_limited";
    }
    return undefined;
  }
}

/** One rate limit, remade only when the limit changes. */
class Limiter {
  #limit: Limit;
  #limiter: RateLimiter | undefined;

  get active(): boolean {
    return this.#limiter !== undefined;
  }

  configure(limit: Limit): void {
    const previous = this.#limit;
    this.#limit = limit;
    if (!limit) this.#limiter = undefined;
    else if (
      !this.#limiter || previous?.perSecond !== limit.perSecond || previous?.burst !== limit.burst
    ) this.#limiter = new RateLimiter({ perSecond: limit.perSecond, burst: limit.burst });
  }

  /** Takes a token of `key`'s bucket; true without a limit. */
  take(key: string, now: number): boolean {
    // The limiter keeps its key: a copy, see copyString().
    return !this.#limiter || this.#limiter.take(copyString(key), now);
  }
}

/** The answer to a sender kept out: `hide_from_denied` makes a refusal look like no service. */
export function gateError(refusal: Refusal, settings: RouterSettings): StanzaError {
  if (refusal === "rate_limited") return RATE_LIMITED;
  return settings.hideFromDenied ? NO_RESOURCE : FORBIDDEN;
}

/**
 * Who gets in: the access lists, then the sender's rate limit. Asked for
 * every request and every user's message, before anything else is spent on
 * them.
 */
import { type AccessCheck, compileAccess } from "./access.ts";
import { RateLimiter } from "./rate_limit.ts";
import type { RouterSettings } from "./settings.ts";
import type { StanzaError } from "./stanza.ts";
import { FORBIDDEN, NO_RESOURCE, RATE_LIMITED } from "./stanza_errors.ts";
import { copyString } from "./xml.ts";

/** Why a sender is kept out. */
export type Refusal = "forbidden" | "rate_limited";

/** The access lists and the rate limiter of the settings in force. */
export class Gate {
  #allowed: AccessCheck = () => true;
  #limiter: RateLimiter | undefined;
  #rateLimit: RouterSettings["rateLimit"];

  constructor(settings: RouterSettings) {
    this.configure(settings);
  }

  /**
   * Applies new settings. The rate limiter keeps its buckets unless the
   * limit itself changed.
   */
  configure(settings: RouterSettings): void {
    this.#allowed = compileAccess(settings.allow, settings.deny);
    const limit = settings.rateLimit;
    const previous = this.#rateLimit;
    this.#rateLimit = limit;
    if (!limit) this.#limiter = undefined;
    else if (
      !this.#limiter || previous?.perSecond !== limit.perSecond || previous?.burst !== limit.burst
    ) this.#limiter = new RateLimiter({ perSecond: limit.perSecond, burst: limit.burst });
  }

  /** Whether the access lists let this bare JID in. */
  allows(bare: string): boolean {
    return this.#allowed(bare);
  }

  /** Why this sender is kept out now (a token is taken if not), or undefined to let it in. */
  check(bare: string, now: number): Refusal | undefined {
    if (!this.#allowed(bare)) return "forbidden";
    // The limiter keeps its key: a copy, see copyString().
    if (this.#limiter && !this.#limiter.take(copyString(bare), now)) return "rate_limited";
    return undefined;
  }
}

/** The answer to a sender kept out: `hide_from_denied` makes a refusal look like no service. */
export function gateError(refusal: Refusal, settings: RouterSettings): StanzaError {
  if (refusal === "rate_limited") return RATE_LIMITED;
  return settings.hideFromDenied ? NO_RESOURCE : FORBIDDEN;
}

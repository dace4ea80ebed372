/**
 * The gate a user's request or message passes before anything else: the
 * access lists and the rate limit, each judged from its documented rules,
 * not from the router's code.
 */
import type { XmlElement } from "../../../../src/core/xml.ts";
import { domainAsServer, short, spelledAsServer, STANZAS } from "../helpers.ts";
import type { Model } from "./state.ts";

/**
 * Access lists as docs/operating.md says (independent of src/core/access.ts):
 * `user@example.org` one account, `@example.org` a domain and its users,
 * `*.example.org` strict subdomains; deny wins; no allow list allows
 * everyone. Compared as the server prepares addresses: case, ß and ss,
 * full-width forms, IDNA A- and U-labels and a trailing dot do not matter.
 */
export function accessAllows(
  allow: readonly string[] | undefined,
  deny: readonly string[] | undefined,
  bare: string,
): boolean {
  const user = spelledAsServer(bare);
  const domain = user.slice(user.indexOf("@") + 1);
  const matches = (patterns: readonly string[]) =>
    patterns.some((pattern) => {
      if (pattern.startsWith("*.")) return domain.endsWith(`.${spelledAsServer(pattern.slice(2))}`);
      if (pattern.startsWith("@")) return domain === spelledAsServer(pattern.slice(1));
      return user === spelledAsServer(pattern);
    });
  if (deny && matches(deny)) return false;
  return !allow || allow.length === 0 || matches(allow);
}

/**
 * Whether a request gets through the token bucket (`limited`: the router
 * said no). Not a copy of the limiter, two bounds of any token bucket that
 * starts full: it must let through a request when fewer than `burst` got
 * through in the last `burst / perSecond` seconds, and over any interval
 * it lets through at most `burst + perSecond × length`.
 */
export function passesRateLimit(
  model: Model,
  bare: string,
  limit: { perSecond: number; burst: number },
  limited: boolean,
): boolean {
  const perMs = limit.perSecond / 1000;
  const times = model.takes.get(bare) ?? [];
  const window = limit.burst / perMs;
  const recent = times.filter((t) => t > model.now - window - 1e-6).length;
  if (limited) {
    model.check(
      recent >= limit.burst,
      () => `rate limited ${short(bare)} after ${recent} requests in ${window} ms`,
    );
    model.stats.rateLimited++;
    return false;
  }
  times.push(model.now);
  model.takes.set(bare, times);
  for (let i = 0; i < times.length; i++) {
    const allowed = limit.burst + perMs * (model.now - times[i]) + 1e-6;
    model.check(
      times.length - i <= allowed,
      () => `${times.length - i} requests of ${short(bare)} through in ${model.now - times[i]} ms`,
    );
  }
  return true;
}

/**
 * The gate's rate limit for a sender: its own bucket (`rate_limit`) or its
 * domain's (`rate_limit_per_domain`). Scenarios never set both, so that a
 * refusal says which bucket was empty.
 */
export function passesSendersLimit(model: Model, bare: string, limited: boolean): boolean {
  const { rateLimit, rateLimitPerDomain } = model.settings;
  if (rateLimit) return passesRateLimit(model, bare, rateLimit, limited);
  if (!rateLimitPerDomain) return true;
  return passesRateLimit(model, `domain ${domainKey(bare)}`, rateLimitPerDomain, limited);
}

/** The domain the per-domain limits count a sender by. */
export function domainKey(bare: string): string {
  const domain = bare.slice(bare.indexOf("@") + 1);
  return domainAsServer(domain) ?? domain.toLowerCase();
}

/** Whether the router's refusal `s` says the rate limit was exceeded. */
export function saysRateLimited(s: XmlElement | undefined): boolean {
  return s?.getChild("error")?.getChildText("text", STANZAS) === "rate limit exceeded";
}

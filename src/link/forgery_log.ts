/**
 * The warnings of relays and sibling pings whose proof fails
 * (`stream.forged_relay`, `stream.forged_ping`): their sender may be the
 * implementing client, who can send them as fast as it likes, so at most
 * one a minute is said per event and rule, the next one saying how many
 * were left out (`suppressed=N`), as the router's warnings of broken rules.
 */
import type { Logger } from "../ops/log.ts";
import { WarnLimiter } from "../ops/warn_limiter.ts";
import { BROKEN_RULE } from "./proof.ts";

/** A sibling's genuine proof is stale when the two hosts' clocks are apart. */
const STALE_HINT = "if another instance of this domain runs, its host's clock and this one's " +
  "may differ by more than 30 s: keep both in sync (NTP)";

/** What was forged. */
export type Forged = "relay" | "ping";

/** Says forgeries, rate-limited. */
export class ForgeryLog {
  readonly #log: Logger;
  readonly #domain: string;
  readonly #now: () => number;
  readonly #limiter = new WarnLimiter();

  /**
   * @param now milliseconds on a monotonic clock. Default: `performance.now`.
   */
  constructor(log: Logger, domain: string, now: () => number = () => performance.now()) {
    this.#log = log;
    this.#domain = domain;
    this.#now = now;
  }

  /**
   * A forged relay or ping, by the `rule` it broke; `by`: the stream it
   * names. Keyed by event and rule only: what it names is the sender's to
   * choose, and the rules are a handful.
   */
  say(what: Forged, rule: string, by: string | undefined): void {
    const leftOut = this.#limiter.admit(`${what} ${rule}`, this.#now());
    if (leftOut === undefined) return;
    this.#log.warning(`stream.forged_${what}`, {
      domain: this.#domain,
      peer: by ?? "unnamed",
      rule,
      suppressed: leftOut > 0 ? leftOut : undefined,
      hint: rule === BROKEN_RULE.stale ? STALE_HINT : undefined,
    });
  }
}

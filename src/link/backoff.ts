/**
 * How long the link waits before its next connection: a pure policy, the
 * randomness injected. Streams that die soon after they came online count
 * as failures, so a server that accepts and then drops the stream is
 * retried less and less often; only a stream that stayed up a while
 * starts the backoff afresh. Every delay has full jitter (a uniform draw
 * between 0 and the delay), so that instances dropped together do not
 * come back together.
 */

/** The first backoff step, and its ceiling. */
export const RETRY_MIN_MS = 500;
export const RETRY_MAX_MS = 30_000;
/** Credentials the server refused are retried this slowly (the operator has to act). */
export const RETRY_REFUSED_MS = 30_000;
/** A stream online this long was no failure: the backoff starts afresh after it. */
export const STABLE_MS = 60_000;
/** The default pause while another connection holds the domain. */
export const STANDBY_RETRY_MS = 2_000;

/** Why the last stream ended, as far as waiting goes. */
export type Ending =
  /** Lost, or never up (a failed connect): the backoff grows. */
  | "offline"
  /** The server refused our credentials or domain. */
  | "refused"
  /** Another connection holds the domain (Prosody's `conflict`). */
  | "conflict"
  /** We stepped back for a sibling on a server that shares the domain. */
  | "sibling";

/** The reconnect delays of one link, over all its streams. */
export class Backoff {
  readonly #random: () => number;
  /** Failed or short-lived streams since the last one that stayed up. */
  #failures = 0;

  /** @param random uniform in [0, 1) */
  constructor(random: () => number) {
    this.#random = random;
  }

  /**
   * The pause after a stream that ended so. `upMs`: how long it was online
   * (undefined: it never came online); `standbyRetryMs`: `standby_retry`.
   */
  next(ending: Ending, upMs: number | undefined, standbyRetryMs = STANDBY_RETRY_MS): number {
    if (upMs !== undefined && upMs >= STABLE_MS) this.#failures = 0;
    switch (ending) {
      case "sibling":
        return this.standby(standbyRetryMs);
      case "conflict":
        return this.jitter(standbyRetryMs);
      case "refused":
        return this.jitter(RETRY_REFUSED_MS);
      case "offline": {
        const ceiling = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.#failures);
        // Past the ceiling the count only has to stay there.
        if (ceiling < RETRY_MAX_MS) this.#failures++;
        return this.jitter(ceiling);
      }
    }
  }

  /** One pause between looks from standby on a server that shares the domain. */
  standby(standbyRetryMs = STANDBY_RETRY_MS): number {
    return this.jitter(standbyRetryMs * 3);
  }

  /** Full jitter: uniform between 0 and `ms`. */
  jitter(ms: number): number {
    return Math.round(this.#random() * ms);
  }
}

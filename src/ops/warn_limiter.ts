/**
 * How often a warning may be said: once per key per interval, with the
 * count of those left out since, in a table of bounded size, so that a
 * flood cannot fill the log nor the memory. Pure: the caller gives the time.
 */

/** Options of a {@link WarnLimiter}. */
export interface WarnLimiterOptions {
  /** How long a key stays quiet after a warning said, in ms. Default: 60,000. */
  readonly intervalMs?: number;
  /** How many keys are remembered at most. Default: 1,000. */
  readonly maxKeys?: number;
}

interface Entry {
  /** When its last warning was said. */
  saidAt: number;
  /** How many were left out since. */
  leftOut: number;
}

/** Decides, key by key, which warnings are said. */
export class WarnLimiter {
  readonly #intervalMs: number;
  readonly #maxKeys: number;
  /** By key, in the order last said: the first was said longest ago. */
  readonly #entries = new Map<string, Entry>();
  /**
   * The keys that found the table full of keys said within the interval:
   * they share one warning per interval, so that a flood of distinct keys
   * is bounded too.
   */
  readonly #crowd: Entry = { saidAt: -Infinity, leftOut: 0 };

  constructor(options: WarnLimiterOptions = {}) {
    this.#intervalMs = options.intervalMs ?? 60_000;
    this.#maxKeys = options.maxKeys ?? 1_000;
  }

  /** How many keys are remembered. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Whether a warning of `key` is said at `now`: undefined to leave it out,
   * or how many were left out before it (of this key; of any crowded key,
   * when it is crowded out).
   */
  admit(key: string, now: number): number | undefined {
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      const leftOut = this.#pass(entry, now);
      if (leftOut !== undefined) {
        // Said again: to the end of the order.
        this.#entries.delete(key);
        this.#entries.set(key, entry);
      }
      return leftOut;
    }
    if (this.#entries.size >= this.#maxKeys) {
      const [oldest, first] = this.#entries.entries().next().value as [string, Entry];
      if (now - first.saidAt < this.#intervalMs) return this.#pass(this.#crowd, now);
      // Its count, if any, is forgotten: the counters still have it.
      this.#entries.delete(oldest);
    }
    this.#entries.set(key, { saidAt: now, leftOut: 0 });
    return 0;
  }

  /** Within its interval, one more left out; past it, said now: the count left out till then. */
  #pass(entry: Entry, now: number): number | undefined {
    if (now - entry.saidAt < this.#intervalMs) {
      entry.leftOut++;
      return undefined;
    }
    const leftOut = entry.leftOut;
    entry.saidAt = now;
    entry.leftOut = 0;
    return leftOut;
  }
}

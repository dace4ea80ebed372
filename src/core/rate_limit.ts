/**
 * Per-requester rate limiting: one token bucket per key (the requester's
 * bare JID), with memory bounded however many distinct keys appear.
 *
 * A bucket is its token count and when that was last brought up to date.
 * A bucket that has refilled to full is the same as no bucket at all, so
 * it is dropped. Buckets are found through a Map and kept on a list in
 * least-recently-used order; the idle ones at its head are dropped on every
 * take (amortised O(1)), and a hard cap evicts the least recently used
 * bucket when a new key arrives at a full map. So the map holds at most the
 * keys seen within the last `burst / perSecond` seconds, and never more
 * than `maxEntries`.
 *
 * The order lives in a linked list rather than in the Map's own insertion
 * order: V8 leaves a hole in a Map per deleted entry until it rehashes, and
 * iterating from the head walks every hole, which made each eviction cost
 * O(maxEntries) under a flood of new keys.
 *
 * Pure: the caller passes the time, on a clock that does not go back
 * (`performance.now()`).
 */

/** Options of {@link RateLimiter}. */
export interface RateLimiterOptions {
  /** Sustained rate: tokens added per second. Must be > 0. */
  readonly perSecond: number;
  /** Bucket size: how many takes may come back to back. Must be >= 1. */
  readonly burst: number;
  /**
   * Most buckets kept. When a new key arrives at a full map, the least
   * recently used bucket is dropped, which forgives that key's debt.
   * Default: 10000.
   */
  readonly maxEntries?: number;
}

const DEFAULT_MAX_ENTRIES = 10_000;
// Token counts are compared with this much slack: refilling by elapsed
// time × rate can land a hair below a whole token (1000/3 ms × 3/1000).
const EPSILON = 1e-9;

/** One requester's bucket, also a link of the LRU list; mutated in place. */
interface Bucket {
  readonly key: string;
  tokens: number;
  /** When `tokens` was last brought up to date (ms). */
  at: number;
  /** Towards the least recently used end. */
  older: Bucket | undefined;
  /** Towards the most recently used end. */
  newer: Bucket | undefined;
}

/** Token buckets keyed by requester; see the module comment. */
export class RateLimiter {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #maxEntries: number;
  readonly #buckets = new Map<string, Bucket>();
  /** Least recently used. */
  #head: Bucket | undefined;
  /** Most recently used. */
  #tail: Bucket | undefined;

  constructor(options: RateLimiterOptions) {
    const { perSecond, burst, maxEntries = DEFAULT_MAX_ENTRIES } = options;
    if (!(perSecond > 0) || !Number.isFinite(perSecond)) {
      throw new RangeError(`perSecond: expected a finite number > 0, got ${perSecond}`);
    }
    if (!(burst >= 1) || !Number.isFinite(burst)) {
      throw new RangeError(`burst: expected a finite number >= 1, got ${burst}`);
    }
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`maxEntries: expected an integer >= 1, got ${maxEntries}`);
    }
    this.#perMs = perSecond / 1_000;
    this.#burst = burst;
    this.#maxEntries = maxEntries;
  }

  /** How many buckets are held (the ones not yet refilled to full). */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Takes one token from `key`'s bucket.
   *
   * @param key the requester's bare JID, lowercase
   * @param now the current time in ms, never less than an earlier `now`
   *   (a clock going back refills nothing, and takes nothing either)
   * @returns true when the request may go ahead, false when it is over the
   *   limit (a refused take costs nothing)
   */
  take(key: string, now: number): boolean {
    let bucket = this.#buckets.get(key);
    if (bucket !== undefined) {
      this.#refill(bucket, now);
      this.#unlink(bucket);
    } else {
      this.#evictIdle(now);
      if (this.#buckets.size >= this.#maxEntries) this.#drop(this.#head as Bucket);
      bucket = { key, tokens: this.#burst, at: now, older: undefined, newer: undefined };
      this.#buckets.set(key, bucket);
    }
    this.#append(bucket);
    const allowed = bucket.tokens >= 1 - EPSILON;
    if (allowed) bucket.tokens = Math.max(0, bucket.tokens - 1);
    this.#evictIdle(now);
    return allowed;
  }

  /**
   * Drops every idle bucket at the head of the list. Takes do this already;
   * call it from a timer only to give memory back during a quiet spell.
   */
  sweep(now: number): void {
    this.#evictIdle(now);
  }

  /** Forgets every bucket (e.g. when the limits change on reload). */
  clear(): void {
    this.#buckets.clear();
    this.#head = this.#tail = undefined;
  }

  #refill(bucket: Bucket, now: number): void {
    if (now <= bucket.at) return;
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.at) * this.#perMs);
    bucket.at = now;
  }

  #evictIdle(now: number): void {
    // Stop at the first bucket still refilling; full ones behind it (which
    // had fewer tokens to regain) go on a later call.
    const full = this.#burst - EPSILON;
    for (let bucket = this.#head; bucket !== undefined; bucket = this.#head) {
      const tokens = bucket.tokens + Math.max(0, now - bucket.at) * this.#perMs;
      if (tokens < full) return;
      this.#drop(bucket);
    }
  }

  #drop(bucket: Bucket): void {
    this.#unlink(bucket);
    this.#buckets.delete(bucket.key);
  }

  #unlink(bucket: Bucket): void {
    const { older, newer } = bucket;
    if (older === undefined) this.#head = newer;
    else older.newer = newer;
    if (newer === undefined) this.#tail = older;
    else newer.older = older;
    bucket.older = bucket.newer = undefined;
  }

  #append(bucket: Bucket): void {
    bucket.older = this.#tail;
    if (this.#tail === undefined) this.#head = bucket;
    else this.#tail.newer = bucket;
    this.#tail = bucket;
  }
}

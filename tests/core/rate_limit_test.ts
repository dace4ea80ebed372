/** Per-requester token buckets, driven by a fake clock (plain numbers). */
import assert from "node:assert/strict";
import { RateLimiter } from "../../src/core/rate_limit.ts";

/** How many of `count` takes at time `now` pass. */
function takes(limiter: RateLimiter, key: string, now: number, count: number): number {
  let passed = 0;
  for (let i = 0; i < count; i++) if (limiter.take(key, now)) passed++;
  return passed;
}

Deno.test("a full bucket lets `burst` requests through back to back, then refuses", () => {
  const limiter = new RateLimiter({ perSecond: 20, burst: 40 });
  assert.equal(takes(limiter, "alice@example.org", 0, 100), 40);
});

Deno.test("tokens come back at the rate, never beyond the burst", () => {
  const limiter = new RateLimiter({ perSecond: 10, burst: 3 });
  const key = "alice@example.org";
  assert.equal(takes(limiter, key, 0, 5), 3);
  assert.equal(limiter.take(key, 99), false); // 1 token takes 100 ms
  assert.equal(limiter.take(key, 100), true);
  assert.equal(limiter.take(key, 100), false);
  assert.equal(takes(limiter, key, 250, 5), 1); // 1.5 tokens: one whole
  assert.equal(takes(limiter, key, 300, 5), 1); // the half + half
  // A long pause refills to the burst and no further.
  assert.equal(takes(limiter, key, 60_000, 10), 3);
});

Deno.test("a sustained stream is held to the rate", () => {
  const limiter = new RateLimiter({ perSecond: 5, burst: 2 });
  let passed = 0;
  // One attempt per millisecond for 10 seconds.
  for (let now = 0; now < 10_000; now++) if (limiter.take("k", now)) passed++;
  assert.equal(passed, 2 + 5 * 10 - 1); // the burst, then one per 200 ms
});

Deno.test("refused takes cost nothing", () => {
  const limiter = new RateLimiter({ perSecond: 1, burst: 1 });
  assert.equal(limiter.take("k", 0), true);
  for (let now = 0; now < 1_000; now += 10) assert.equal(limiter.take("k", now), false);
  assert.equal(limiter.take("k", 1_000), true);
});

Deno.test("slow rates: per minute and per hour", () => {
  const perMinute = new RateLimiter({ perSecond: 2 / 60, burst: 2 });
  assert.equal(takes(perMinute, "k", 0, 5), 2);
  assert.equal(perMinute.take("k", 29_999), false);
  assert.equal(perMinute.take("k", 30_000), true);

  const perHour = new RateLimiter({ perSecond: 1000 / 3600, burst: 1000 });
  assert.equal(takes(perHour, "k", 0, 2_000), 1_000);
  assert.equal(takes(perHour, "k", 3_600_000, 2_000), 1_000);
});

Deno.test("awkward intervals still let exactly `burst` through", () => {
  for (const perSecond of [3, 7, 1 / 3, 0.1, 1000 / 3600, 33.3]) {
    for (const burst of [1, 2, 3, 10, 999]) {
      const limiter = new RateLimiter({ perSecond, burst });
      assert.equal(takes(limiter, "k", 12_345.678, burst + 5), burst, `${perSecond}/s ${burst}`);
    }
  }
});

Deno.test("keys have separate buckets", () => {
  const limiter = new RateLimiter({ perSecond: 1, burst: 2 });
  assert.equal(takes(limiter, "alice@example.org", 0, 5), 2);
  assert.equal(takes(limiter, "bob@example.org", 0, 5), 2);
  assert.equal(limiter.take("alice@example.org", 0), false);
});

Deno.test("a bucket that has refilled is dropped", () => {
  const limiter = new RateLimiter({ perSecond: 10, burst: 5 });
  limiter.take("a", 0);
  limiter.take("b", 0);
  takes(limiter, "c", 0, 5);
  assert.equal(limiter.size, 3);
  // a and b are full again after 100 ms, c after 500 ms.
  limiter.sweep(100);
  assert.equal(limiter.size, 1);
  limiter.take("d", 499);
  assert.equal(limiter.size, 2);
  limiter.sweep(600);
  assert.equal(limiter.size, 0);
  // A dropped bucket is a full one: the whole burst is there again.
  assert.equal(takes(limiter, "c", 600, 10), 5);
});

Deno.test("takes drop idle buckets as they go, without sweep", () => {
  const limiter = new RateLimiter({ perSecond: 1, burst: 1 });
  for (let i = 0; i < 10; i++) limiter.take(`k${i}`, i * 100);
  assert.equal(limiter.size, 10);
  limiter.take("late", 5_000);
  assert.equal(limiter.size, 1);
});

Deno.test("100,000 distinct requesters over time keep the map small", () => {
  // 20/s, burst 40: a bucket is full again at most 2 s after its last take.
  const limiter = new RateLimiter({ perSecond: 20, burst: 40 });
  let largest = 0;
  for (let i = 0; i < 100_000; i++) {
    // One new requester per millisecond, each sending 3 requests.
    assert.equal(takes(limiter, `user${i}@example.org`, i, 3), 3);
    largest = Math.max(largest, limiter.size);
  }
  assert.ok(largest <= 2_001, `largest ${largest}`);
  limiter.sweep(100_000 + 2_000);
  assert.equal(limiter.size, 0);
});

Deno.test("100,000 distinct requesters at once are capped at maxEntries", () => {
  const limiter = new RateLimiter({ perSecond: 1, burst: 5, maxEntries: 1_000 });
  for (let i = 0; i < 100_000; i++) {
    assert.equal(limiter.take(`user${i}@example.org`, 0), true);
    assert.ok(limiter.size <= 1_000);
  }
  assert.equal(limiter.size, 1_000);
  const defaults = new RateLimiter({ perSecond: 1, burst: 5 });
  for (let i = 0; i < 100_000; i++) defaults.take(`user${i}@example.org`, 0);
  assert.equal(defaults.size, 10_000);
});

Deno.test("a flood of new keys at the cap keeps exactly the most recent ones", () => {
  // The LRU list (not the Map's own order, see src/core/rate_limit.ts) under
  // 20 times the cap in new keys, each of which spends its only token.
  const cap = 10_000;
  const limiter = new RateLimiter({ perSecond: 1, burst: 1, maxEntries: cap });
  const keys = Array.from({ length: 20 * cap }, (_, i) => `user${i}@example.org`);
  for (const key of keys) {
    assert.equal(limiter.take(key, 0), true, key);
    assert.ok(limiter.size <= cap);
  }
  assert.equal(limiter.size, cap);
  // The last `cap` keys still owe their token (oldest first, so that none
  // of these takes evicts another of them) …
  for (const key of keys.slice(-cap)) assert.equal(limiter.take(key, 0), false, key);
  assert.equal(limiter.size, cap);
  // … and the one just before them was evicted, its debt forgiven.
  assert.equal(limiter.take(keys[keys.length - cap - 1], 0), true);
  assert.equal(limiter.size, cap);
});

Deno.test("the cap evicts the least recently used bucket", () => {
  const limiter = new RateLimiter({ perSecond: 1, burst: 1, maxEntries: 2 });
  assert.equal(limiter.take("a", 0), true);
  assert.equal(limiter.take("b", 0), true);
  assert.equal(limiter.take("a", 0), false); // a is now the most recent
  assert.equal(limiter.take("c", 0), true); // evicts b
  assert.equal(limiter.size, 2);
  assert.equal(limiter.take("a", 0), false); // a kept its debt
  assert.equal(limiter.take("b", 0), true); // b was forgiven (evicts c)
  assert.equal(limiter.take("c", 0), true); // and c too (evicts a)
});

Deno.test("clear forgets every bucket", () => {
  const limiter = new RateLimiter({ perSecond: 1, burst: 1 });
  limiter.take("a", 0);
  limiter.clear();
  assert.equal(limiter.size, 0);
  assert.equal(limiter.take("a", 0), true);
});

Deno.test("bad options are refused", () => {
  for (
    const options of [
      { perSecond: 0, burst: 1 },
      { perSecond: -1, burst: 1 },
      { perSecond: NaN, burst: 1 },
      { perSecond: Infinity, burst: 1 },
      { perSecond: 1, burst: 0 },
      { perSecond: 1, burst: 0.5 },
      { perSecond: 1, burst: NaN },
      { perSecond: 1, burst: 1, maxEntries: 0 },
      { perSecond: 1, burst: 1, maxEntries: 1.5 },
    ]
  ) {
    assert.throws(() => new RateLimiter(options), RangeError, JSON.stringify(options));
  }
});

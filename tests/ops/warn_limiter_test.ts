/**
 * The warning limiter (src/ops/warn_limiter.ts), on a fake clock: once per
 * key per interval, the count of those left out, and a bounded table.
 */
import assert from "node:assert/strict";
import { WarnLimiter } from "../../src/ops/warn_limiter.ts";

const MINUTE = 60_000;

Deno.test("the first is said; repeats within the interval are not; the next says how many were left out", () => {
  const limiter = new WarnLimiter({ intervalMs: MINUTE });
  assert.equal(limiter.admit("forbidden evil.example", 1000), 0);
  for (let t = 1001; t < 1000 + MINUTE; t += 1000) {
    assert.equal(limiter.admit("forbidden evil.example", t), undefined, `at ${t}`);
  }
  // 60 left out; the interval counts from the last one said.
  assert.equal(limiter.admit("forbidden evil.example", 1000 + MINUTE), 60);
  assert.equal(limiter.admit("forbidden evil.example", 1000 + MINUTE + 1), undefined);
  assert.equal(limiter.admit("forbidden evil.example", 1000 + 2 * MINUTE), 1);
  // A quiet interval: the next is said with nothing left out.
  assert.equal(limiter.admit("forbidden evil.example", 1000 + 10 * MINUTE), 0);
});

Deno.test("different keys are independent", () => {
  const limiter = new WarnLimiter({ intervalMs: MINUTE });
  assert.equal(limiter.admit("forbidden evil.example", 0), 0);
  assert.equal(limiter.admit("forbidden other.example", 1), 0);
  assert.equal(limiter.admit("rate_limited evil.example", 2), 0);
  assert.equal(limiter.admit("forbidden evil.example", 3), undefined);
  assert.equal(limiter.admit("rate_limited evil.example", 4), undefined);
  assert.equal(limiter.admit("rate_limited evil.example", 5), undefined);
  assert.equal(limiter.admit("forbidden evil.example", MINUTE), 1);
  assert.equal(limiter.admit("rate_limited evil.example", MINUTE + 2), 2);
  assert.equal(limiter.admit("forbidden other.example", MINUTE + 3), 0);
});

Deno.test("100,000 distinct domains: the table stays bounded, and so do the warnings said", () => {
  const limiter = new WarnLimiter({ intervalMs: MINUTE, maxKeys: 1000 });
  let said = 0;
  let leftOut = 0;
  // All within one interval: a flood from made-up domains.
  for (let i = 0; i < 100_000; i++) {
    const counted = limiter.admit(`forbidden d${i}.example`, i / 10);
    if (counted === undefined) leftOut++;
    else said++;
    assert.ok(limiter.size <= 1000, `${limiter.size} keys after ${i + 1}`);
  }
  assert.equal(limiter.size, 1000);
  // One per remembered key, and one for all the others together.
  assert.equal(said, 1001);
  assert.equal(leftOut, 100_000 - 1001);
  // Past the interval, a new key takes the place of the one said longest ago.
  assert.equal(limiter.admit("forbidden late.example", 20_000 + MINUTE), 0);
  assert.equal(limiter.admit("forbidden late.example", 20_001 + MINUTE), undefined);
  assert.equal(limiter.size, 1000);
});

Deno.test("when full, the key said longest ago makes room once its interval is over", () => {
  const limiter = new WarnLimiter({ intervalMs: MINUTE, maxKeys: 3 });
  assert.equal(limiter.admit("a", 0), 0);
  assert.equal(limiter.admit("b", 10), 0);
  assert.equal(limiter.admit("c", 20), 0);
  // Full, and every key said within the interval: crowded out, said once.
  assert.equal(limiter.admit("d", 30), 0);
  assert.equal(limiter.admit("e", 40), undefined);
  assert.equal(limiter.admit("d", 50), undefined);
  assert.equal(limiter.size, 3);
  // `a` said again moves to the end; `b` is now the oldest, and goes first.
  assert.equal(limiter.admit("a", MINUTE), 0);
  assert.equal(limiter.admit("f", MINUTE + 10), 0);
  assert.equal(limiter.size, 3);
  assert.equal(limiter.admit("b", MINUTE + 11), undefined, "b is forgotten, and c still fresh");
  assert.equal(limiter.admit("c", MINUTE + 20), 0, "c's interval is over");
  assert.equal(limiter.admit("a", MINUTE + 30), undefined, "a is remembered");
  // The crowd's interval is over: its next says how many it left out (e, d, b).
  assert.equal(limiter.admit("g", MINUTE + 40), 3);
  assert.equal(limiter.size, 3);
});

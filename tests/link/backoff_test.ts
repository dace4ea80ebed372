/**
 * The reconnect backoff (src/link/backoff.ts): how long the link waits
 * after each kind of stream end, with the randomness given by the test.
 */
import assert from "node:assert/strict";
import {
  Backoff,
  RETRY_MAX_MS,
  RETRY_MIN_MS,
  RETRY_REFUSED_MS,
  STABLE_MS,
} from "../../src/link/backoff.ts";

/** Randomness that always draws the top of the range (just under 1). */
const TOP = () => 1 - Number.EPSILON;

Deno.test("backoff: streams that die right after coming online make it grow, as failed connects do", () => {
  const backoff = new Backoff(TOP);
  const delays = [];
  // Accepted, authenticated, dropped 100 ms later: eight times over.
  for (let i = 0; i < 8; i++) delays.push(backoff.next("offline", 100));
  assert.deepEqual(delays, [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
  // Failed connects (never online) go on from there, capped.
  assert.equal(backoff.next("offline", undefined), RETRY_MAX_MS);
  // Up for 59 s: still a stream that died, no fresh start.
  assert.equal(backoff.next("offline", STABLE_MS - 1_000), RETRY_MAX_MS);
});

Deno.test("backoff: a stream that stayed up a minute starts it afresh", () => {
  const backoff = new Backoff(TOP);
  for (let i = 0; i < 5; i++) backoff.next("offline", undefined);
  assert.equal(backoff.next("offline", STABLE_MS), RETRY_MIN_MS);
  assert.equal(backoff.next("offline", 10), RETRY_MIN_MS * 2);
  assert.equal(backoff.next("offline", 3_600_000), RETRY_MIN_MS);
});

Deno.test("backoff: full jitter on every delay: anywhere from 0 to the delay", () => {
  let draw = 0;
  const backoff = new Backoff(() => draw);
  // Steps of 500, 1000 and 2000 ms.
  for (const [random, expected] of [[0, 0], [0.5, 500], [0.25, 500]] as const) {
    draw = random;
    assert.equal(backoff.next("offline", undefined), expected, `draw ${random}`);
  }
  draw = 0.5;
  assert.equal(backoff.next("refused", undefined), RETRY_REFUSED_MS / 2);
  assert.equal(backoff.next("conflict", undefined, 2_000), 1_000);
  assert.equal(backoff.next("sibling", 300, 2_000), 3_000);
  assert.equal(backoff.standby(1_000), 1_500);
  draw = 0;
  assert.equal(backoff.next("refused", undefined), 0);
  assert.equal(backoff.next("conflict", undefined, 2_000), 0);
  draw = TOP();
  assert.equal(backoff.next("refused", undefined), RETRY_REFUSED_MS);
  assert.equal(backoff.next("conflict", undefined, 2_000), 2_000);
});

Deno.test("backoff: standing by and refusals leave the count of failed streams alone", () => {
  const backoff = new Backoff(TOP);
  backoff.next("offline", undefined);
  backoff.next("offline", undefined);
  for (let i = 0; i < 100; i++) {
    backoff.next("conflict", undefined);
    backoff.next("sibling", 200);
    backoff.next("refused", undefined);
  }
  // The stream taken over at last dies at once: the backoff goes on where it was.
  assert.equal(backoff.next("offline", 50), RETRY_MIN_MS * 4);
});

Deno.test("backoff: spread out: two links dropped together rarely come back together", () => {
  // Many links, each with its own randomness, all lost at once: their first
  // retries are spread over the whole first step, not bunched in its upper half.
  let seed = 1;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const delays = Array.from({ length: 1_000 }, () => new Backoff(random).next("offline", 100));
  const early = delays.filter((ms) => ms < RETRY_MIN_MS / 2).length;
  assert.ok(early > 400 && early < 600, `${early} of 1000 in the first half`);
});

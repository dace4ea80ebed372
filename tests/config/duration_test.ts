import assert from "node:assert/strict";
import { formatDuration, parseDuration } from "../../src/config/duration.ts";

const accepted: [string | number, number][] = [
  ["500ms", 500],
  ["2s", 2_000],
  ["1.5s", 1_500],
  ["1m", 60_000],
  ["1h", 3_600_000],
  ["0.5m", 30_000],
  [".5s", 500],
  ["0s", 0],
  ["0", 0],
  ["30", 30_000], // a string without a unit counts seconds, like a number
  ["1.1s", 1_100], // not 1100.0000000000002: rounded to whole ms
  ["1.0004s", 1_000],
  [" 2s ", 2_000],
  ["2 s", 2_000],
  [30, 30_000], // YAML `request_timeout: 30`
  [1.5, 1_500],
  [0, 0],
  [-0, 0],
];

for (const [input, ms] of accepted) {
  Deno.test(`parseDuration(${JSON.stringify(input)}) is ${ms}`, () => {
    assert.equal(parseDuration(input), ms);
  });
}

const rejected: (string | number)[] = [
  "",
  " ",
  "s",
  "ms",
  "-1s",
  "-500ms",
  "+1s",
  "abc",
  "1x",
  "1d", // not a supported unit
  "1M", // units are lowercase: M could be read as months
  "1S",
  "1e3s",
  "1.s",
  "1..5s",
  "1m30s", // no compound durations
  "Infinity",
  "NaN",
  -1,
  -0.001,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  1e300, // overflows safe integers once in ms
];

for (const input of rejected) {
  Deno.test(`parseDuration(${JSON.stringify(input)}) is undefined`, () => {
    assert.equal(parseDuration(input), undefined);
  });
}

Deno.test("parseDuration rejects non-string, non-number input at runtime", () => {
  for (const input of [null, undefined, true, [], {}]) {
    assert.equal(parseDuration(input as unknown as string), undefined);
  }
});

const formatted: [number, string][] = [
  [30_000, "30s"],
  [500, "500ms"],
  [60_000, "1m"],
  [3_600_000, "1h"],
  [90_000, "90s"],
  [1_500, "1500ms"],
  [5_400_000, "90m"],
  [7_200_000, "2h"],
  [0, "0s"],
  [1, "1ms"],
];

for (const [ms, text] of formatted) {
  Deno.test(`formatDuration(${ms}) is ${text}`, () => {
    assert.equal(formatDuration(ms), text);
  });
}

Deno.test("formatDuration shows odd input as-is instead of throwing", () => {
  assert.equal(formatDuration(-5), "-5ms");
  assert.equal(formatDuration(0.5), "0.5ms");
  assert.equal(formatDuration(Number.NaN), "NaNms");
});

Deno.test("parseDuration(formatDuration(ms)) round-trips whole ms", () => {
  const samples = [0, 1, 999, 1_000, 1_001, 59_999, 60_000, 61_000, 3_600_000];
  // A fixed pseudo-random walk keeps the test deterministic.
  let x = 1;
  for (let i = 0; i < 200; i++) {
    x = (x * 48_271) % 2_147_483_647;
    samples.push(x, x * 1_000, (x % 1_000) * 60_000, (x % 100) * 3_600_000);
  }
  for (const ms of samples) {
    assert.equal(parseDuration(formatDuration(ms)), ms, `ms=${ms}`);
  }
});

/**
 * Durations as people write them in the config (`500ms`, `2s`, `1.5s`, `1m`,
 * `1h`, or a bare number of seconds) and back, for docs and log lines.
 */

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;

/** Largest unit first, so that formatDuration picks the shortest spelling. */
const UNITS_DESCENDING = ["h", "m", "s", "ms"] as const;

// Digits with an optional fraction, then an optional unit. No sign (negative
// durations are meaningless here), no exponent (nobody writes `1e3s`), and
// lowercase units only, so that `1M` cannot be mistaken for a month.
const DURATION_RE = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?$/;

/**
 * Parses a duration into whole milliseconds.
 *
 * A number, or a string without a unit, counts seconds: YAML `30` is 30 s.
 * Results are rounded to the nearest millisecond because timers have no finer
 * resolution (and `1.1 * 1000` is not exactly 1100 in floating point).
 *
 * @param text e.g. `"500ms"`, `"2s"`, `"1.5s"`, `"1m"`, `"1h"`, `"30"` or `30`
 * @returns milliseconds, or `undefined` for anything negative, empty, not a
 *   finite number, or with an unknown unit
 */
export function parseDuration(text: string | number): number | undefined {
  let amount: number;
  let unit: keyof typeof UNIT_MS = "s";
  if (typeof text === "number") {
    amount = text;
  } else if (typeof text === "string") {
    const match = DURATION_RE.exec(text.trim());
    if (match === null) return undefined;
    amount = Number(match[1]);
    if (match[2] !== undefined) unit = match[2] as keyof typeof UNIT_MS;
  } else {
    // Callers at the YAML boundary may hand us anything despite the type.
    return undefined;
  }
  if (!Number.isFinite(amount) || amount < 0) return undefined;
  const ms = Math.round(amount * UNIT_MS[unit]);
  // `+ 0` turns -0 (from `-0` in YAML) into 0.
  return Number.isSafeInteger(ms) ? ms + 0 : undefined;
}

/**
 * Formats milliseconds in the largest unit that divides them exactly, so
 * that `parseDuration(formatDuration(ms)) === ms` for every whole,
 * non-negative `ms`.
 *
 * @example formatDuration(30000) === "30s"; formatDuration(500) === "500ms";
 *   formatDuration(60000) === "1m"; formatDuration(1500) === "1500ms"
 * @param ms milliseconds; anything that is not a whole non-negative number
 *   is shown as-is with `ms` appended (this is for messages, never throws)
 */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (!Number.isSafeInteger(ms) || ms < 0) return `${ms}ms`;
  for (const unit of UNITS_DESCENDING) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`; // unreachable: every integer is a whole number of ms
}

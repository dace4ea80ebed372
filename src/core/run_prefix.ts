/**
 * A prefix no other run repeats: 64 bits from a source that no other
 * process, restart or instance repeats (injected: crypto.getRandomValues in
 * the shell), in base 36. The ids a run makes from it and a counter
 * (long-address tokens, the target's request ids) can then match nothing
 * of an earlier run, such as a late reply from before a restart.
 */

/**
 * Base-36 digits of one 32-bit draw (36^7 > 2^32, so every value has its
 * own digits), and draws per prefix: 64 bits.
 */
const DIGITS_PER_DRAW = 7;
const DRAWS = 2;

/** The number of characters of a {@link runPrefix}. */
export const RUN_PREFIX_LENGTH = DIGITS_PER_DRAW * DRAWS;

/**
 * Draws a run's prefix: {@link RUN_PREFIX_LENGTH} base-36 digits.
 * @param randomBits uniform 32-bit unsigned integers
 */
export function runPrefix(randomBits: () => number): string {
  let prefix = "";
  for (let i = 0; i < DRAWS; i++) {
    prefix += (randomBits() >>> 0).toString(36).padStart(DIGITS_PER_DRAW, "0");
  }
  return prefix;
}

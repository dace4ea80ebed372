/** src/config/log_options.ts: the log levels and formats, and the pattern that takes them. */
import assert from "node:assert/strict";
import {
  LOG_FORMATS,
  LOG_LEVELS,
  optionPattern,
  readOption,
} from "../../src/config/log_options.ts";

Deno.test("LOG_LEVELS: least severe first", () => {
  assert.deepEqual(LOG_LEVELS, ["trace", "debug", "info", "warning", "error", "fatal"]);
  assert.ok(Object.isFrozen(LOG_LEVELS));
});

Deno.test("the JSON schema's pattern takes what the config takes, and nothing else", () => {
  for (const allowed of [LOG_LEVELS, LOG_FORMATS]) {
    const pattern = new RegExp(optionPattern(allowed));
    const tries = [
      ...allowed.flatMap((v) => [v, v.toUpperCase(), v[0].toUpperCase() + v.slice(1)]),
      "warn",
      "WARN",
      "Warn",
      "loud",
      "info ",
      "infox",
      "xinfo",
      "",
      "warnin",
      "jsonn",
    ];
    for (const value of tries) {
      assert.equal(pattern.test(value), readOption(allowed, value) !== undefined, value);
    }
  }
});

/** src/config/log_options.ts: the log levels and formats, in order. */
import assert from "node:assert/strict";
import { LOG_LEVELS } from "../../src/config/log_options.ts";

Deno.test("LOG_LEVELS: least severe first", () => {
  assert.deepEqual(LOG_LEVELS, ["trace", "debug", "info", "warning", "error", "fatal"]);
  assert.ok(Object.isFrozen(LOG_LEVELS));
});

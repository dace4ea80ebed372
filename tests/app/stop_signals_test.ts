import assert from "node:assert/strict";
import { REPEAT_MS, StopSignals } from "../../src/app/stop_signals.ts";

Deno.test("the first stop signal stops, a later one hurries, the next quits", () => {
  const stops = new StopSignals();
  assert.equal(stops.receive(10_000), "stop");
  assert.equal(stops.receive(10_000 + REPEAT_MS), "hurry");
  assert.equal(stops.receive(10_000 + 2 * REPEAT_MS), "quit");
});

Deno.test("a signal within REPEAT_MS of the one before is the same Ctrl-C (deno task forwards it)", () => {
  const stops = new StopSignals();
  assert.equal(stops.receive(0), "stop");
  assert.equal(stops.receive(3), "repeat", "the task runner's copy, 3 ms later");
  assert.equal(stops.receive(REPEAT_MS - 1), "repeat");
  assert.equal(stops.receive(REPEAT_MS + 500), "hurry");
  assert.equal(stops.receive(REPEAT_MS + 502), "repeat");
  assert.equal(stops.receive(2 * REPEAT_MS + 500), "quit");
});

import assert from "node:assert/strict";
import { wait } from "../src/wait.ts";

Deno.test("wait: cancel ends it at once, and clears its timer", async () => {
  const started = performance.now();
  const pause = wait(60_000);
  pause.cancel();
  await pause.done;
  assert.ok(performance.now() - started < 1_000);
  // The test's own op sanitizer fails if the 60 s timer were still pending.
});

Deno.test("wait: resolves by itself when the time is up", async () => {
  let resolved = false;
  const pause = wait(1);
  pause.done.then(() => (resolved = true));
  await pause.done;
  assert.equal(resolved, true);
});

import assert from "node:assert/strict";
import { wait } from "../../src/link/wait.ts";

/** A timer started now: `fired` resolves with "timer" after `ms` ms, unless cleared. */
function timer(ms: number): { fired: Promise<"timer">; clear(): void } {
  let id: ReturnType<typeof setTimeout> | undefined;
  const fired = new Promise<"timer">((resolve) => {
    id = setTimeout(() => resolve("timer"), ms);
  });
  return { fired, clear: () => clearTimeout(id) };
}

// sanitizeOps: deno test runs without the ops sanitizer unless asked (it is
// off by default here), and it fails the test if the 60 s timer still ran.
Deno.test({
  name: "wait: cancel ends it at once, and clears its timer",
  sanitizeOps: true,
}, async () => {
  const pause = wait(60_000);
  pause.cancel();
  // Settled before a 0 ms timer started after the cancel: no waiting on the 60 s.
  const later = timer(0);
  try {
    assert.equal(await Promise.race([pause.done.then(() => "done"), later.fired]), "done");
  } finally {
    later.clear();
  }
});

Deno.test("wait: resolves by itself when the time is up, not before", async () => {
  let resolved = false;
  const pause = wait(50);
  pause.done.then(() => (resolved = true));
  // Still pending once a 0 ms timer, started after it, has fired.
  await timer(0).fired;
  assert.equal(resolved, false, "resolved before its time");
  // Then it resolves by itself; the bound only keeps a broken wait from hanging.
  const bound = timer(10_000);
  try {
    assert.equal(await Promise.race([pause.done.then(() => "done"), bound.fired]), "done");
  } finally {
    bound.clear();
  }
  assert.equal(resolved, true);
});

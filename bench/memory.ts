/**
 * --memory: the proxy's resident memory (VmRSS, and the peak VmHWM, from
 * /proc/<pid>/status; the worker is a thread of the same process) at each
 * step: started; after 20,000 round trips; with 10,000 requests held in
 * flight (the implementing client delays its answers); after they are
 * answered; after 100,000 requests that all time out (a second proxy in the
 * same process with request_timeout 2 s; sent in windows so that Prosody
 * copes); 5 s later; and 30 s later, once V8 has had the idle time it waits
 * for before it gives pages back.
 */
import { fmt, progress, table } from "./compare.ts";
import { memoryMb } from "./procstat.ts";
import { DOMAINS, LOOSE_LIMITS, sleep, type World } from "./world.ts";

interface Step {
  step: string;
  rssMb: number;
  hwmMb: number;
  note: string;
}

/** Sends `perRequester` requests from every requester, `window` at a time, to `to`; waits for all replies. */
async function load(
  world: World,
  to: string,
  perRequester: number,
  window: number,
  label: string,
  waitMs: number,
): Promise<{ replies: number; errors: number; missing: number }> {
  const requesters = world.requesters;
  for (const requester of requesters) {
    requester.configure([to], window);
    requester.limit = requester.sent + perRequester;
    requester.resetStats();
    requester.measuring = true;
  }
  for (const requester of requesters) requester.start();
  const ticker = setInterval(() => {
    const replies = requesters.reduce((a, r) => a + r.stats.replies, 0);
    progress(`[memory] ${label}: ${replies} replies`);
  }, 1000);
  await Promise.all(requesters.map((requester) => requester.idle(waitMs)));
  clearInterval(ticker);
  const replies = requesters.reduce((a, r) => a + r.stats.replies, 0);
  const errors = requesters.reduce((a, r) => a + r.stats.errors, 0);
  const missing = requesters.reduce((a, r) => a + r.inFlight, 0);
  for (const requester of requesters) {
    requester.sending = false;
    requester.measuring = false;
    requester.inFlight = 0;
    requester.limit = Infinity;
    requester.resetStats();
  }
  progress(`[memory] ${label}: ${replies} replies, ${errors} errors, ${missing} missing`, true);
  return { replies, errors, missing };
}

export async function runMemory(world: World): Promise<Record<string, unknown>> {
  const proxy = await world.startProxy({
    entries: [
      { domain: DOMAINS.proxy, request_timeout: "120s", ...LOOSE_LIMITS },
      { domain: DOMAINS.timeout, request_timeout: "2s", ...LOOSE_LIMITS },
    ],
  });
  const m = world.requesters.length;
  const steps: Step[] = [];
  const sample = (step: string, note = "") => {
    const { rss, hwm } = memoryMb(proxy.pid);
    // With --proxy-flags=--v8-flags=--trace-gc: the heap after the last GC.
    const gc = proxy.lines.findLast((line) => /Scavenge|Mark-Compact|Mark-sweep/.test(line));
    steps.push({ step, rssMb: rss, hwmMb: hwm, note: gc ? `${note} | ${gc.trim()}` : note });
  };
  await sleep(1000);
  sample("started, idle");

  const warm = await load(world, DOMAINS.proxy, 5_000, 32, "20,000 round trips", 60_000);
  await sleep(1000);
  sample("after 20,000 round trips", `${warm.errors} errors, ${warm.missing} missing`);

  // 10,000 held in flight.
  for (const responder of world.responders) responder.answering = "hold";
  const perRequester = Math.ceil(10_000 / m);
  const inFlight = perRequester * m;
  const held = () => world.responders.reduce((a, r) => a + r.held.length, 0);
  const holding = load(
    world,
    DOMAINS.proxy,
    perRequester,
    perRequester,
    "10,000 in flight",
    120_000,
  );
  const deadline = Date.now() + 60_000;
  while (held() < inFlight && Date.now() < deadline) await sleep(100);
  await sleep(500);
  sample(`${inFlight.toLocaleString("en-US")} in flight`, `${held()} held by the client`);
  for (const responder of world.responders) responder.answering = "answer";
  for (const responder of world.responders) await responder.release();
  const released = await holding;
  await sleep(1000);
  sample("after they were answered", `${released.errors} errors, ${released.missing} missing`);

  // 100,000 that time out (request_timeout 2 s).
  for (const responder of world.responders) responder.answering = "ignore";
  const perTimeout = Math.ceil(100_000 / m);
  const peak = { rss: 0 };
  const watcher = setInterval(() => {
    peak.rss = Math.max(peak.rss, memoryMb(proxy.pid).rss);
  }, 250);
  const timedOut = await load(
    world,
    DOMAINS.timeout,
    perTimeout,
    Math.ceil(8_000 / m),
    "100,000 timeouts",
    180_000,
  );
  clearInterval(watcher);
  for (const responder of world.responders) responder.answering = "answer";
  sample(
    `after ${(perTimeout * m).toLocaleString("en-US")} timeouts`,
    `${timedOut.errors} timeout errors, ${timedOut.replies - timedOut.errors} results, ` +
      `${timedOut.missing} missing; peak RSS while running ${fmt(peak.rss, 1)} MB`,
  );
  await sleep(5000);
  sample("5 s later");
  await sleep(25000);
  sample("30 s later");

  const base = steps.find((s) => s.step === "after they were answered")!;
  const rows = steps.map((s) => [
    s.step,
    fmt(s.rssMb, 1),
    fmt(s.hwmMb, 1),
    fmt(s.rssMb - base.rssMb, 1),
    s.note,
  ]);
  console.log("\n--memory: the proxy process (main thread + worker)\n");
  console.log(table(["step", "RSS MB", "peak MB", "Δ RSS vs answered", "note"], rows));
  console.log("");
  const gc = proxy.lines.filter((line) => /Scavenge|Mark-Compact|Mark-sweep/.test(line));
  return { steps, gcTrace: gc.length > 0 ? gc.slice(-200) : undefined };
}

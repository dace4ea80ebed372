/** Metrics: router events in, Prometheus text out, exact values. */
import assert from "node:assert/strict";
import {
  DROP_REASONS,
  Metrics,
  PLACEMENTS,
  REQUEST_OUTCOMES,
  UNPIN_REASONS,
} from "../../src/ops/metrics.ts";
import type { Outcome, RouterEvent } from "../../src/core/router.ts";
import { samples } from "../support/exposition.ts";

const A = "a.example.org";
const B = "b.example.org";
const ALICE = "alice@example.org/phone";

function outcome(what: Outcome, durationMs: number): RouterEvent {
  return { type: "outcome", outcome: what, requester: ALICE, id: "1", durationMs };
}

/** A scripted run of proxy A, with B only started. */
async function scripted(): Promise<{ metrics: Metrics; text: string }> {
  const metrics = new Metrics();
  metrics.setUp(A, false);
  metrics.setUp(B, false);
  metrics.connected(A);
  metrics.setUp(A, true);
  const events: RouterEvent[] = [
    { type: "subscription", state: "requested" },
    { type: "resource", change: "up", resource: "r1", count: 1 },
    { type: "resource", change: "up", resource: "r2", count: 2 },
    { type: "forwarded", requester: ALICE, id: "1", resource: "r1", retry: false },
    outcome("result", 5),
    outcome("result", 1_500),
    outcome("error", 20),
    outcome("timeout", 30_000.5),
    outcome("busy", 0),
    outcome("no_resource", 0),
    outcome("shutdown", 250), // counted, not timed
    { type: "dropped", reason: "unmatched", stanza: "iq", from: ALICE, to: A, id: "2" },
    { type: "dropped", reason: "unmatched", stanza: "iq", from: ALICE, to: A, id: "3" },
    { type: "dropped", reason: "not_ours", stanza: "iq", from: ALICE, to: "x", id: "4" },
    {
      type: "refused",
      reason: "bad_request",
      condition: "bad-request",
      stanza: "message",
      from: ALICE,
    },
    {
      type: "refused",
      reason: "busy",
      condition: "resource-constraint",
      stanza: "message",
      from: ALICE,
    },
    {
      type: "refused",
      reason: "rate_limited",
      condition: "resource-constraint",
      stanza: "message",
      from: ALICE,
    },
    { type: "refused", reason: "forbidden", condition: "forbidden", stanza: "iq", from: ALICE },
    { type: "resource", change: "down", resource: "r2", count: 1 },
  ];
  for (const event of events) metrics.observe(A, event);
  metrics.setPending(A, 3);
  metrics.streamError(A, "not-authorized");
  metrics.streamError(A, "ECONNREFUSED");
  metrics.streamError(A, "no answer from the server");
  metrics.streamError(A, "<weird/>");
  metrics.setUp(A, false);
  metrics.setUp(B, true);
  return { metrics, text: await metrics.text() };
}

Deno.test("a scripted run gives exact values", async () => {
  const { text } = await scripted();
  const got = samples(text);
  const expected: Record<string, string> = {
    [`client_proxy_up{proxy="${A}"}`]: "0",
    [`client_proxy_up{proxy="${B}"}`]: "1",
    [`client_proxy_connects_total{proxy="${A}"}`]: "1",
    [`client_proxy_connects_total{proxy="${B}"}`]: "0",
    [`client_proxy_stream_errors_total{proxy="${A}",condition="not-authorized"}`]: "1",
    [`client_proxy_stream_errors_total{proxy="${A}",condition="ECONNREFUSED"}`]: "1",
    [`client_proxy_stream_errors_total{proxy="${A}",condition="other"}`]: "2",
    [`client_proxy_requests_total{proxy="${A}",outcome="result"}`]: "2",
    [`client_proxy_requests_total{proxy="${A}",outcome="error"}`]: "1",
    [`client_proxy_requests_total{proxy="${A}",outcome="timeout"}`]: "1",
    [`client_proxy_requests_total{proxy="${A}",outcome="failover"}`]: "0",
    [`client_proxy_requests_total{proxy="${A}",outcome="busy"}`]: "1",
    [`client_proxy_requests_total{proxy="${A}",outcome="no_resource"}`]: "1",
    [`client_proxy_requests_total{proxy="${A}",outcome="shutdown"}`]: "1",
    [`client_proxy_requests_total{proxy="${A}",outcome="forbidden"}`]: "0",
    [`client_proxy_requests_total{proxy="${B}",outcome="result"}`]: "0",
    [`client_proxy_pending{proxy="${A}"}`]: "3",
    [`client_proxy_pending{proxy="${B}"}`]: "0",
    [`client_proxy_target_resources{proxy="${A}"}`]: "1",
    [`client_proxy_target_resources{proxy="${B}"}`]: "0",
    [`client_proxy_dropped_total{proxy="${A}",reason="unmatched"}`]: "2",
    [`client_proxy_dropped_total{proxy="${A}",reason="not_ours"}`]: "1",
    [`client_proxy_dropped_total{proxy="${A}",reason="bad_address"}`]: "0",
    [`client_proxy_refused_total{proxy="${A}",stanza="message",condition="bad-request"}`]: "1",
    [`client_proxy_refused_total{proxy="${A}",stanza="message",condition="resource-constraint"}`]:
      "2",
    [`client_proxy_refused_total{proxy="${A}",stanza="iq",condition="forbidden"}`]: "1",
    [`client_proxy_request_duration_seconds_count{proxy="${A}"}`]: "4",
    [`client_proxy_request_duration_seconds_sum{proxy="${A}"}`]: String(
      0.005 + 1.5 + 0.02 + 30.0005,
    ),
    [`client_proxy_request_duration_seconds_count{proxy="${B}"}`]: "0",
  };
  // Cumulative: 5 ms, 20 ms, 1.5 s, 30.0005 s.
  const buckets: [string, number][] = [
    ["0.001", 0],
    ["0.0025", 0],
    ["0.005", 1],
    ["0.01", 1],
    ["0.025", 2],
    ["0.1", 2],
    ["1", 2],
    ["2.5", 3],
    ["15", 3],
    ["30", 3],
    ["60", 4],
    ["+Inf", 4],
  ];
  for (const [le, count] of buckets) {
    expected[`client_proxy_request_duration_seconds_bucket{le="${le}",proxy="${A}"}`] = String(
      count,
    );
  }
  for (const [series, value] of Object.entries(expected)) {
    assert.equal(got.get(series), value, series);
  }
});

Deno.test("every family is there with its type, and nothing else", async () => {
  const { text } = await scripted();
  const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) =>
    `${name} ${type}`
  );
  assert.deepEqual(types.sort(), [
    "client_proxy_affinity_keys gauge",
    "client_proxy_affinity_moves_total counter",
    "client_proxy_build_info gauge",
    "client_proxy_config_last_reload_success_timestamp_seconds gauge",
    "client_proxy_config_last_reload_successful gauge",
    "client_proxy_config_reloads_total counter",
    "client_proxy_connects_total counter",
    "client_proxy_dropped_total counter",
    "client_proxy_pending gauge",
    "client_proxy_refused_total counter",
    "client_proxy_request_duration_seconds histogram",
    "client_proxy_requests_total counter",
    "client_proxy_stream_errors_total counter",
    "client_proxy_subscribers gauge",
    "client_proxy_target_resources gauge",
    "client_proxy_target_resources_by_state gauge",
    "client_proxy_up gauge",
    "process_resident_memory_bytes gauge",
    "process_start_time_seconds gauge",
  ]);
  for (const series of samples(text).keys()) {
    assert.match(series, /^(client_proxy_|process_(resident_memory_bytes|start_time_seconds))/);
  }
});

Deno.test("every outcome and drop reason exists at 0 from a proxy's first mention", async () => {
  const metrics = new Metrics();
  metrics.setUp(A, false);
  const got = samples(await metrics.text());
  for (const outcome of REQUEST_OUTCOMES) {
    assert.equal(got.get(`client_proxy_requests_total{proxy="${A}",outcome="${outcome}"}`), "0");
  }
  for (const reason of DROP_REASONS) {
    assert.equal(got.get(`client_proxy_dropped_total{proxy="${A}",reason="${reason}"}`), "0");
  }
  assert.deepEqual([...REQUEST_OUTCOMES].slice(-3), ["rejected", "rate_limited", "forbidden"]);
});

Deno.test("no JID and no resource name ever becomes a label", async () => {
  const { text } = await scripted();
  for (const word of ["alice", "phone", "r1", "r2", "weird", "no answer"]) {
    assert.ok(!text.includes(word), word);
  }
});

Deno.test("no default collectors: of the process, only its start and its memory", async () => {
  const { text } = await scripted();
  assert.ok(!/nodejs_/.test(text));
  const processSeries = [...samples(text).keys()].filter((name) => name.startsWith("process_"));
  assert.deepEqual(processSeries.sort(), [
    "process_resident_memory_bytes",
    "process_start_time_seconds",
  ]);
});

Deno.test("remove drops every series of a proxy", async () => {
  const { metrics } = await scripted();
  metrics.remove(A);
  metrics.remove("never.example.org");
  const series = [...samples(await metrics.text()).keys()];
  assert.ok(series.length > 0);
  assert.ok(series.every((name) => !name.includes(A)), series.join("\n"));
  // And it comes back, from zero, when mentioned again.
  metrics.connected(A);
  const got = samples(await metrics.text());
  assert.equal(got.get(`client_proxy_connects_total{proxy="${A}"}`), "1");
  assert.equal(got.get(`client_proxy_requests_total{proxy="${A}",outcome="result"}`), "0");
});

Deno.test("the content type is Prometheus text 0.0.4", () => {
  assert.equal(new Metrics().contentType, "text/plain; version=0.0.4; charset=utf-8");
});

Deno.test("separate instances do not share a registry", async () => {
  const one = new Metrics();
  const two = new Metrics();
  one.connected(A);
  one.reloaded("ok");
  const got = samples(await two.text());
  assert.ok([...got.keys()].every((series) => !series.includes(A)), [...got.keys()].join("\n"));
  assert.equal(got.get('client_proxy_config_reloads_total{result="ok"}'), "0");
});

// Loading the worker's module (a data: URL importing a local file) is
// checked against this process's read permission; the worker has none.
const readGranted = (await Deno.permissions.query({ name: "read" })).state === "granted";

Deno.test({
  name: "works in a Worker with every permission off",
  ignore: !readGranted,
}, async () => {
  // What src/app/supervisor.ts gives the proxies: no env, read, sys, … at all.
  const metrics = new URL("../../src/ops/metrics.ts", import.meta.url).href;
  const source = `import { Metrics } from ${JSON.stringify(metrics)};
    const m = new Metrics();
    m.connected("p.example.org");
    m.observe("p.example.org", {
      type: "outcome", outcome: "result", requester: "a@b", id: "1", durationMs: 12,
    });
    postMessage(await m.text());`;
  const worker = new Worker(`data:application/javascript,${encodeURIComponent(source)}`, {
    type: "module",
    deno: { permissions: "none" },
  });
  try {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const text = await new Promise<string>((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<string>) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
      timer = setTimeout(() => reject(new Error("no answer from the worker within 20 s")), 20_000);
    }).finally(() => clearTimeout(timer));
    const got = samples(text);
    assert.equal(got.get('client_proxy_connects_total{proxy="p.example.org"}'), "1");
    assert.equal(
      got.get('client_proxy_requests_total{proxy="p.example.org",outcome="result"}'),
      "1",
    );
  } finally {
    worker.terminate();
  }
});

Deno.test("observations interleaved across proxies each land on their own cached series", async () => {
  // observe's per-proxy children are cached: repeated events must keep
  // counting on the right proxy's series, and only there.
  const metrics = new Metrics();
  const n = 10_000;
  for (let i = 0; i < n; i++) {
    metrics.observe(A, outcome("result", 3));
    if (i % 2 === 0) metrics.observe(B, outcome("error", 3));
    if (i % 4 === 0) metrics.observe(B, outcome("timeout", 3));
  }
  const got = samples(await metrics.text());
  const expected: Record<string, string> = {
    [`client_proxy_requests_total{proxy="${A}",outcome="result"}`]: String(n),
    [`client_proxy_requests_total{proxy="${A}",outcome="error"}`]: "0",
    [`client_proxy_requests_total{proxy="${A}",outcome="timeout"}`]: "0",
    [`client_proxy_requests_total{proxy="${B}",outcome="result"}`]: "0",
    [`client_proxy_requests_total{proxy="${B}",outcome="error"}`]: String(n / 2),
    [`client_proxy_requests_total{proxy="${B}",outcome="timeout"}`]: String(n / 4),
    [`client_proxy_request_duration_seconds_count{proxy="${A}"}`]: String(n),
    [`client_proxy_request_duration_seconds_count{proxy="${B}"}`]: String(n / 2 + n / 4),
    // 3 ms: above the 2.5 ms bucket, within the 5 ms one.
    [`client_proxy_request_duration_seconds_bucket{le="0.0025",proxy="${A}"}`]: "0",
    [`client_proxy_request_duration_seconds_bucket{le="0.005",proxy="${A}"}`]: String(n),
  };
  for (const [series, value] of Object.entries(expected)) {
    assert.equal(got.get(series), value, series);
  }
});

Deno.test("metrics: sampled gauges are read at scrape time", async () => {
  const metrics = new Metrics();
  let pending = 3;
  metrics.sample("p.example.org", () => ({ pending, resources: 2 }));
  assert.match(await metrics.text(), /client_proxy_pending\{proxy="p\.example\.org"\} 3\n/);
  assert.match(
    await metrics.text(),
    /client_proxy_target_resources\{proxy="p\.example\.org"\} 2\n/,
  );
  pending = 0;
  assert.match(await metrics.text(), /client_proxy_pending\{proxy="p\.example\.org"\} 0\n/);
  metrics.remove("p.example.org");
  assert.doesNotMatch(await metrics.text(), /p\.example\.org/);
});

Deno.test("with affinity on, outcomes are counted by placement, every pair at 0 from the first", async () => {
  const metrics = new Metrics();
  metrics.setUp(A, true);
  const placed = (what: Outcome, placement: "affinity" | "balance"): RouterEvent => ({
    type: "outcome",
    outcome: what,
    requester: ALICE,
    id: "1",
    durationMs: 5,
    placement,
  });
  for (const event of [placed("result", "affinity"), placed("result", "affinity")]) {
    metrics.observe(A, event);
  }
  metrics.observe(A, placed("busy", "balance"));
  const got = samples(await metrics.text());
  assert.equal(
    got.get(`client_proxy_requests_total{proxy="${A}",outcome="result",placement="affinity"}`),
    "2",
  );
  assert.equal(
    got.get(`client_proxy_requests_total{proxy="${A}",outcome="busy",placement="balance"}`),
    "1",
  );
  for (const placement of PLACEMENTS) {
    for (const what of REQUEST_OUTCOMES) {
      assert.ok(
        got.has(
          `client_proxy_requests_total{proxy="${A}",outcome="${what}",placement="${placement}"}`,
        ),
        `${what} ${placement}`,
      );
    }
  }
  // Bounded: outcomes × placements, and the series of the proxy's first mention.
  const series = [...got.keys()].filter((k) => k.startsWith("client_proxy_requests_total"));
  assert.equal(series.length, REQUEST_OUTCOMES.length * (PLACEMENTS.length + 1));
  metrics.remove(A);
  assert.ok(![...samples(await metrics.text()).keys()].some((k) => k.includes(A)));
});

Deno.test("affinity pins: the keys gauge, moves by reason, resources by state", async () => {
  const metrics = new Metrics();
  metrics.setUp(A, true);
  metrics.sample(A, () => ({
    pending: 0,
    resources: 3,
    draining: 1,
    affinityKeys: 42,
    subscribers: 7,
  }));
  metrics.observe(A, {
    type: "unpinned",
    keys: ["r1@c.example", "r2@c.example"],
    reason: "resource_left",
  });
  metrics.observe(A, { type: "unpinned", keys: ["r3@c.example"], reason: "expired" });
  metrics.observe(A, { type: "pinned", key: "r4@c.example", resource: "x" });
  const text = await metrics.text();
  const got = samples(text);
  assert.equal(got.get(`client_proxy_affinity_keys{proxy="${A}"}`), "42");
  assert.equal(got.get(`client_proxy_subscribers{proxy="${A}"}`), "7");
  assert.equal(
    got.get(`client_proxy_affinity_moves_total{proxy="${A}",reason="resource_left"}`),
    "2",
  );
  assert.equal(got.get(`client_proxy_affinity_moves_total{proxy="${A}",reason="expired"}`), "1");
  assert.equal(got.get(`client_proxy_affinity_moves_total{proxy="${A}",reason="evicted"}`), "0");
  assert.deepEqual(UNPIN_REASONS, ["resource_left", "expired", "evicted"]);
  assert.equal(
    got.get(`client_proxy_target_resources_by_state{proxy="${A}",state="serving"}`),
    "2",
  );
  assert.equal(
    got.get(`client_proxy_target_resources_by_state{proxy="${A}",state="draining"}`),
    "1",
  );
  // Rooms are JIDs too: never a label.
  assert.ok(!text.includes("c.example"));
});

Deno.test("the link's own reasons are labels: a failed TLS connection, a stalled send", async () => {
  const metrics = new Metrics();
  metrics.streamError(A, "tls-failed");
  metrics.streamError(A, "send-stalled");
  metrics.streamError(A, "send-stalled");
  const got = samples(await metrics.text());
  assert.equal(
    got.get(`client_proxy_stream_errors_total{proxy="${A}",condition="tls-failed"}`),
    "1",
  );
  assert.equal(
    got.get(`client_proxy_stream_errors_total{proxy="${A}",condition="send-stalled"}`),
    "2",
  );
});

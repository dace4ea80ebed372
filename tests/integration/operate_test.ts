/** Operating it: /readyz, /metrics, access control and rate limits, against Prosody. */
import assert from "node:assert/strict";
import { freePort } from "../support/prosody.ts";
import { resultFor } from "../support/client.ts";
import {
  assertError,
  DOMAIN,
  request,
  SECRET,
  TARGET,
  withWorld,
  type World,
} from "../support/world.ts";

/** The HTTP listener's port: picked afresh as each test using it starts. */
let httpPort = 0;
const withHttp = () => ({ http: `127.0.0.1:${httpPort = freePort()}` });

async function get(path: string): Promise<{ status: number; type: string | null; body: string }> {
  const response = await fetch(`http://127.0.0.1:${httpPort}${path}`, {
    signal: AbortSignal.timeout(5000),
  });
  return {
    status: response.status,
    type: response.headers.get("content-type"),
    body: await response.text(),
  };
}

async function readyStatus(world: World, expected: number): Promise<string> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const { status, body } = await get("/readyz");
    if (status === expected) return body;
    if (Date.now() > deadline) {
      throw new Error(`/readyz stayed ${status}: ${body}\n${world.proxy.log()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Polls /readyz until each proxy's `reason` is the one given (null: ready); returns the last answer. */
async function readyReasons(
  world: World,
  expected: Record<string, string | null>,
): Promise<{ status: number; body: string }> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const answer = await get("/readyz");
    const report = JSON.parse(answer.body) as {
      proxies: { proxy: string; reason: string | null }[];
    };
    const reasons = report.proxies.map((p) => [p.proxy, p.reason]).sort();
    if (JSON.stringify(reasons) === JSON.stringify(Object.entries(expected).sort())) return answer;
    if (Date.now() > deadline) {
      throw new Error(`/readyz stayed ${answer.status}: ${answer.body}\n${world.proxy.log()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

withWorld(
  "/readyz goes 503 → 200 when the implementing client comes online, and back to 503 when it leaves",
  async (world) => {
    assert.equal((await get("/healthz")).status, 200);
    const notReady = JSON.parse(await readyStatus(world, 503));
    assert.equal(notReady.ready, false);
    assert.deepEqual(
      notReady.proxies.map((p: { proxy: string; reason: string }) => [p.proxy, p.reason]),
      [
        [DOMAIN, "no target resource online"],
      ],
    );
    // Only the worker may use the network, and only towards these two.
    const line = await world.proxy.waitForLog(/proxy\.permissions/);
    const component = new URL(world.server.componentUrl).host.replaceAll(".", "\\.");
    // scoped: CI runs the bundle under the flags of a binary built for this config.
    assert.match(
      line,
      /main_read=(granted|scoped) main_env=(granted|scoped) main_net=revoked main_write=revoked/,
    );
    assert.match(line, new RegExp(`worker_net=${component},127\\.0\\.0\\.1:${httpPort} `));
    assert.match(line, /worker_files=none/);
    const impl = await world.resource("a");
    const ready = JSON.parse(await readyStatus(world, 200));
    assert.equal(ready.ready, true);
    await impl.stop();
    await readyStatus(world, 503);
  },
  { top: withHttp },
);

withWorld(
  "/metrics counts exactly the requests sent, by outcome",
  async (world) => {
    const alice = await world.client("alice", "r");
    assertError(await alice.request(request("none")), {
      id: "none",
      type: "cancel",
      condition: "service-unavailable",
    });
    const impl = await world.resource("a");
    for (let i = 0; i < 5; i++) {
      assert.equal((await alice.request(request(`ok${i}`))).attrs.type, "result");
    }
    impl.onRequest(undefined); // stops answering: the next one times out
    const timedOut = await alice.request(request("slow"), { timeoutMs: 5000 });
    assertError(timedOut, { id: "slow", type: "wait", condition: "remote-server-timeout" });
    const { status, type, body } = await get("/metrics");
    assert.equal(status, 200);
    assert.match(type ?? "", /^text\/plain/);
    const value = (line: string) => {
      const found = body.split("\n").find((l) => l.startsWith(line + " "));
      assert.ok(found, `${line} missing in:\n${body}`);
      return Number(found.slice(line.length + 1));
    };
    const labels = `proxy="${DOMAIN}"`;
    assert.equal(value(`client_proxy_requests_total{${labels},outcome="result"}`), 5);
    assert.equal(value(`client_proxy_requests_total{${labels},outcome="no_resource"}`), 1);
    assert.equal(value(`client_proxy_requests_total{${labels},outcome="timeout"}`), 1);
    assert.equal(value(`client_proxy_requests_total{${labels},outcome="error"}`), 0);
    assert.equal(value(`client_proxy_up{${labels}}`), 1);
    assert.equal(value(`client_proxy_connects_total{${labels}}`), 1);
    assert.equal(value(`client_proxy_target_resources{${labels}}`), 1);
    assert.equal(value(`client_proxy_pending{${labels}}`), 0);
    assert.equal(value(`client_proxy_request_duration_seconds_count{${labels}}`), 6);
    assert.doesNotMatch(body, /alice@/, "no JIDs in labels");
  },
  { top: withHttp, entry: { request_timeout: "1s" } },
);

withWorld(
  "a denied requester gets forbidden; an allowed one its answer",
  async (world) => {
    await world.resource("a");
    const alice = await world.client("alice", "r");
    const bob = await world.client("bob", "r");
    assert.equal((await alice.request(request("a1"))).attrs.type, "result");
    assertError(await bob.request(request("b1")), {
      id: "b1",
      type: "auth",
      condition: "forbidden",
    });
  },
  { entry: { allow: ["@localhost"], deny: ["bob@localhost"] } },
);

withWorld(
  "a requester sending 200 at once gets resource-constraint beyond its limit; another is served",
  async (world) => {
    await world.resource("a");
    const alice = await world.client("alice", "flood");
    const bob = await world.client("bob", "calm");
    const flood = await Promise.all(
      Array.from({ length: 200 }, (_, i) => alice.request(request(`f${i}`), { timeoutMs: 10_000 })),
    );
    const limited = flood.filter((reply) => reply.attrs.type === "error");
    const served = flood.filter((reply) => reply.attrs.type === "result");
    // A burst of 40, plus the tokens (20/s) refilled while the 200 arrive.
    assert.ok(served.length >= 40 && served.length <= 80, `served ${served.length}`);
    assert.ok(limited.length >= 120, `limited ${limited.length}`);
    assert.equal(served.length + limited.length, 200);
    for (const reply of limited) {
      assertError(reply, { id: reply.attrs.id!, type: "wait", condition: "resource-constraint" });
    }
    assert.equal((await bob.request(request("b1"))).attrs.type, "result");
  },
  { entry: { rate_limit: { rate: "20/s", burst: 40 }, max_pending_per_requester: 1000 } },
);

withWorld(
  "a proxy that may not read its own module serves from one thread: requests, SIGHUP, SIGTERM",
  async (world) => {
    await world.proxy.stop();
    const main = new URL("../../main.ts", import.meta.url).pathname;
    await world.startProxy({}, {}, { denoFlags: [`--deny-read=${main}`] });
    await world.proxy.waitForLog(/proxy\.one_thread reason="no read access to the worker's module/);
    assert.doesNotMatch(world.proxy.log(), /proxy\.permissions/, "no Worker, nothing narrowed");
    await world.resource("a");
    const alice = await world.client("alice", "one");
    const reply = await alice.request(request("t1"));
    assert.equal(reply.attrs.type, "result");
    assert.equal(reply.attrs.from, DOMAIN);
    assert.equal(reply.attrs.to, "alice@localhost/one");
    const after = world.proxy.lineCount();
    world.proxy.signal("SIGHUP");
    await world.proxy.waitForLog(/config\.reloaded/, { after });
    assert.equal((await alice.request(request("t2"))).attrs.type, "result");
    assert.equal(await world.proxy.stop("SIGTERM"), 0);
    assert.match(world.proxy.log(), /proxy\.stopped/);
  },
);

withWorld(
  "SIGHUP reconnecting a proxy: /readyz says it is shutting down while its requests finish; SIGHUP without http: the listener goes",
  async (world) => {
    const { impl, reply: inFlight, held } = await world.heldRequest("held");
    await readyStatus(world, 200);

    const seen = world.proxy.lineCount();
    const entry = {
      domain: DOMAIN,
      secret: SECRET,
      target_address: TARGET,
      // A new peer means a new stream (its address is the listener's own:
      // already allowed, and never asked unless standing by).
      standby_peer: `http://127.0.0.1:${httpPort}`,
    };
    await world.proxy.writeConfig({
      server: world.server.componentUrl,
      http: `127.0.0.1:${httpPort}`,
      shutdown_grace: "8s",
      proxies: [entry, { ...entry, domain: "added.localhost" }],
    });
    world.proxy.signal("SIGHUP");
    // A proxy added by the same reload does not wait for that grace: the
    // server (which does not know its domain) has refused it meanwhile.
    const draining = await readyReasons(world, {
      [DOMAIN]: "shutting down",
      "added.localhost": "stream refused by the server",
    });
    assert.equal(draining.status, 503);
    assert.equal(world.proxy.log().match(/config\.reloaded/g)?.length ?? 0, 0, "still draining");
    await impl.send(resultFor(held));
    assert.equal((await inFlight).attrs.type, "result", "the request in flight was answered");
    await world.proxy.waitForLog(/config\.reloaded/, { after: seen });
    await readyReasons(world, {
      [DOMAIN]: null,
      "added.localhost": "stream refused by the server",
    });

    await world.proxy.writeConfig({ server: world.server.componentUrl, proxies: [entry] });
    const before = world.proxy.lineCount();
    world.proxy.signal("SIGHUP");
    await world.proxy.waitForLog(/config\.reloaded/, { after: before });
    await assert.rejects(get("/healthz"), "nothing listens any more");
  },
  { top: withHttp },
);

/** Live reload: SIGHUP re-reads the config without dropping the stream or a request. */
import assert from "node:assert/strict";
import { resultFor } from "../support/client.ts";
import { assertError, DOMAIN, request, SECRET, TARGET, withWorld } from "../support/world.ts";

withWorld(
  "SIGHUP with a shorter request_timeout applies to the next request; the one in flight gets its answer",
  async (world) => {
    const { impl, alice, reply: inFlight, held } = await world.heldRequest("before");

    const seen = world.proxy.lineCount();
    await world.proxy.writeConfig({
      server: world.server.componentUrl,
      log_level: "debug",
      proxies: [{
        domain: DOMAIN,
        secret: SECRET,
        target_address: TARGET,
        request_timeout: "1s",
      }],
    });
    world.proxy.signal("SIGHUP");
    await world.proxy.waitForLog(/config\.reloaded/, { after: seen });

    // Under the old 30 s timeout the client would give up (10 s) first.
    const next = await alice.request(request("after"), { timeoutMs: 10_000 });
    assertError(next, { id: "after", type: "wait", condition: "remote-server-timeout" });
    const done = await world.proxy.waitForLog(/request\.done .*outcome=timeout .*id=after /);
    const waited = Number(done.match(/duration_ms=([\d.]+)/)?.[1]);
    assert.ok(waited >= 1_000 && waited < 30_000, `the new 1 s timeout applied: ${done}`);

    await impl.send(resultFor(held));
    assert.equal((await inFlight).attrs.type, "result", "the old request was not dropped");
    assert.doesNotMatch(world.proxy.log().split("\n").slice(seen).join("\n"), /stream\.connecting/);
  },
  { entry: { request_timeout: "30s" } },
);

withWorld(
  "SIGHUP turning the keepalive on applies to the running stream: a frozen server is noticed",
  async (world) => {
    await world.resource("a");
    const seen = world.proxy.lineCount();
    await world.proxy.writeConfig({
      server: world.server.componentUrl,
      proxies: [{
        domain: DOMAIN,
        secret: SECRET,
        target_address: TARGET,
        keepalive: "1s",
        keepalive_timeout: "1s",
      }],
    });
    world.proxy.signal("SIGHUP");
    await world.proxy.waitForLog(/config\.reloaded/, { after: seen });
    // The stream started without a keepalive: only the reload can notice.
    world.server.signal("SIGSTOP");
    try {
      await world.proxy.waitForLog(/stream\.dead_link .*unanswered_ms=1000/, {
        after: seen,
        timeoutMs: 5_000,
      });
    } finally {
      world.server.signal("SIGCONT");
    }
    await world.proxy.waitForLog(/target\.resource_up .*resource=a/, {
      after: seen,
      timeoutMs: 15_000,
    });
    const alice = await world.client("alice", "r");
    assert.equal((await alice.request(request("thawed"))).attrs.type, "result");
  },
  { entry: { keepalive: "0s" } },
);

withWorld(
  "SIGHUP with a broken config: every problem logged, and the proxy keeps serving",
  async (world) => {
    await world.resource("a");
    const alice = await world.client("alice", "r");
    const seen = world.proxy.lineCount();
    await Deno.writeTextFile(world.proxy.configFile, "server: [\nproxies: nope\n");
    world.proxy.signal("SIGHUP");
    await world.proxy.waitForLog(/config\.reload_refused/, { after: seen });
    await world.proxy.waitForLog(/config\.problem .*client-proxy\.yaml:\d+:\d+/, { after: seen });
    assert.equal((await alice.request(request("still"))).attrs.type, "result");
  },
);

/**
 * Staying up: a hot standby on the same domain, and a silently dead link.
 */
import assert from "node:assert/strict";
import { startProxy } from "../support/proxy.ts";
import { DOMAIN, request, SECRET, TARGET, withWorld } from "../support/world.ts";

withWorld(
  "a second instance stands by on conflict and takes over within 10 s of a kill -9",
  async (world) => {
    await world.resource("a");
    await using standby = await startProxy({
      server: world.server.componentUrl,
      proxies: [{ domain: DOMAIN, secret: SECRET, target_address: TARGET }],
      readyEvent: "stream\\.standby",
    });
    const alice = await world.client("alice", "r");
    assert.equal((await alice.request(request("before"))).attrs.type, "result");
    await world.proxy.kill(); // kill -9 the active one
    const killed = performance.now();
    await standby.waitForLog(/target\.resource_up .*resource=a/, { timeoutMs: 10_000 });
    // Served again: ask until a request gets its result (the first ones may
    // bounce while no instance is connected).
    for (let i = 0;; i++) {
      const reply = await alice.request(request(`after${i}`));
      if (reply.attrs.type === "result") break;
      assert.ok(performance.now() - killed < 10_000, `not served 10 s after the kill: ${reply}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.ok(performance.now() - killed < 10_000);
    assert.equal(standby.log().match(/stream\.standby/g)?.length, 1, "standing by is said once");
  },
);

withWorld(
  "a frozen server is noticed by the keepalive, and the proxy serves again after it thaws",
  async (world) => {
    await world.resource("a");
    const seen = world.proxy.lineCount();
    world.server.signal("SIGSTOP");
    try {
      await world.proxy.waitForLog(/stream\.dead_link/, { after: seen, timeoutMs: 5_000 });
    } finally {
      world.server.signal("SIGCONT");
    }
    await world.proxy.waitForLog(/stream\.online/, { after: seen, timeoutMs: 15_000 });
    // Clients noticed nothing either: the implementing resource is relearnt.
    await world.proxy.waitForLog(/target\.resource_up .*resource=a/, { after: seen });
    const alice = await world.client("alice", "r");
    assert.equal((await alice.request(request("thawed"))).attrs.type, "result");
  },
  { entry: { keepalive: "1s", keepalive_timeout: "1s" } },
);

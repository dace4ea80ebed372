/**
 * Every request gets exactly one answer, against a real Prosody: timeouts,
 * failover, strict reply matching, long addresses, shutdown, balancing.
 */
import assert from "node:assert/strict";
import { resultFor } from "../support/client.ts";
import { assertError, DOMAIN, request, TARGET, withWorld } from "../support/world.ts";
import { REPEAT_MS } from "../../src/app/stop_signals.ts";
import { xml, type XmlElement } from "../../src/core/xml.ts";

function answeredBy(reply: XmlElement): string | undefined {
  return reply.getChild("answer", "urn:test")?.attrs.resource;
}

withWorld(
  "an implementing client that never answers: remote-server-timeout within timeout + 1 s",
  async (world) => {
    await world.resource("mute", { answer: false });
    const alice = await world.client("alice", "r");
    const reply = await alice.request(request("t1"), { timeoutMs: 5000 });
    assertError(reply, { id: "t1", type: "wait", condition: "remote-server-timeout" });
    // Measured by the proxy, from the request's arrival: not the c2s hops.
    const done = await world.proxy.waitForLog(/request\.done .*outcome=timeout .*id=t1 /);
    const waited = Number(done.match(/duration_ms=([\d.]+)/)?.[1]);
    assert.ok(waited >= 1000 && waited < 2000, `timed out after ${waited} ms: ${done}`);
  },
  { entry: { request_timeout: "1s" } },
);

withWorld(
  "a forged result to <domain>/<a JID that never asked> is not delivered",
  async (world) => {
    const impl = await world.resource("a", { answer: false });
    const bob = await world.client("bob", "victim");
    await impl.send(
      xml(
        "iq",
        { type: "result", id: "forged", to: `${DOMAIN}/bob@localhost/victim` },
        xml("x", { xmlns: "urn:test" }),
      ),
    );
    // A real request afterwards proves the path works and orders the check.
    impl.onRequest((iq) => resultFor(iq));
    const reply = await bob.request(request("real"));
    assert.equal(reply.attrs.type, "result");
    assert.deepEqual(bob.received.filter((el) => el.attrs.id === "forged").map(String), []);
    await world.proxy.waitForLog(/stanza\.dropped .*reason=unmatched/);
  },
);

for (const length of [1000, 1020]) {
  withWorld(`a requester whose resource is ${length} bytes gets its answer`, async (world) => {
    const impl = await world.resource("a", { answer: false });
    impl.onRequest((iq) =>
      resultFor(iq, xml("from-seen", { xmlns: "urn:test" }, iq.attrs.from ?? ""))
    );
    const resource = "é".repeat(length / 2); // 2 bytes each in UTF-8
    const alice = await world.client("alice", resource);
    const reply = await alice.request(request("long"));
    assert.equal(reply.attrs.type, "result", String(reply));
    assert.equal(reply.attrs.to, `alice@localhost/${resource}`);
    const seen = reply.getChildText("from-seen", "urn:test") ?? "";
    // Up to 1023 bytes the mod_client_proxy form, beyond it the token form.
    const fullBytes = new TextEncoder().encode(`alice@localhost/${resource}`).length;
    if (fullBytes <= 1023) assert.equal(seen, `${DOMAIN}/alice@localhost/${resource}`);
    else assert.match(seen, new RegExp(`^${DOMAIN.replace(".", "\\.")}//[0-9a-z]+$`));
  });
}

withWorld(
  "SIGTERM with requests in flight: each gets an answer and the process exits 0",
  async (world) => {
    const impl = await world.resource("a", { answer: false });
    const alice = await world.client("alice", "r");
    const replies = ["q1", "q2", "q3"].map((id) => alice.request(request(id), { timeoutMs: 8000 }));
    const first = await impl.waitFor((el) => el.attrs.id === "q1", { includePast: true });
    await impl.waitFor((el) => el.attrs.id === "q3", { includePast: true });
    const exit = world.proxy.stop("SIGTERM");
    await world.proxy.waitForLog(/proxy\.draining/);
    await impl.send(resultFor(first)); // answered within the grace period
    const [r1, r2, r3] = await Promise.all(replies);
    assert.equal(r1.attrs.type, "result", String(r1));
    assertError(r2, { id: "q2", type: "wait", condition: "service-unavailable" });
    assertError(r3, { id: "q3", type: "wait", condition: "service-unavailable" });
    assert.equal(await exit, 0);
    // The implementing account was told the service went away.
    const bye = await impl.waitFor(
      (el) => el.name === "presence" && el.attrs.type === "unavailable" && el.attrs.from === DOMAIN,
      { includePast: true },
    );
    assert.equal(bye.attrs.to, TARGET);
  },
  { top: { shutdown_grace: "1s" } },
);

withWorld(
  "a second SIGTERM a while after the first ends the grace: the held request is answered, exit 0",
  async (world) => {
    const { reply } = await world.heldRequest("held", { timeoutMs: 8000 });
    world.proxy.signal("SIGTERM");
    await world.proxy.waitForLog(/proxy\.draining .*grace_ms=60000/);
    // Closer than a second to the first, it would count as the same one.
    await new Promise((resolve) => setTimeout(resolve, REPEAT_MS + 100));
    const exit = world.proxy.stop("SIGTERM");
    await world.proxy.waitForLog(/proxy\.hurrying .*signal=SIGTERM/);
    assertError(await reply, { id: "held", type: "wait", condition: "service-unavailable" });
    assert.equal(await exit, 0);
  },
  { top: { shutdown_grace: "60s" } },
);

withWorld(
  "round-robin over 3 resources and 300 requests gives each exactly 100",
  async (world) => {
    for (const name of ["a", "b", "c"]) await world.resource(name);
    const alice = await world.client("alice", "r");
    const counts: Record<string, number> = {};
    for (let batch = 0; batch < 10; batch++) {
      const replies = await Promise.all(
        Array.from({ length: 30 }, (_, i) => alice.request(request(`rr${batch}-${i}`))),
      );
      for (const reply of replies) {
        const by = answeredBy(reply) ?? String(reply);
        counts[by] = (counts[by] ?? 0) + 1;
      }
    }
    assert.deepEqual(counts, { a: 100, b: 100, c: 100 });
  },
  { entry: { balance: "round-robin" } },
);

withWorld(
  "sticky keeps a requester on one resource and moves it only when that resource leaves",
  async (world) => {
    const resources = new Map<string, Awaited<ReturnType<typeof world.resource>>>();
    for (const name of ["a", "b", "c"]) resources.set(name, await world.resource(name));
    const alice = await world.client("alice", "one");
    const alice2 = await world.client("alice", "two");
    const bob = await world.client("bob", "r");
    const where = async (client: typeof alice, id: string) =>
      answeredBy(await client.request(request(id)));
    const home = await where(alice, "s0");
    const bobHome = await where(bob, "b0");
    for (let i = 1; i <= 10; i++) {
      assert.equal(await where(alice, `s${i}`), home);
      assert.equal(await where(alice2, `t${i}`), home, "same bare JID, same resource");
      assert.equal(await where(bob, `b${i}`), bobHome);
    }
    // Another resource joining or leaving does not move alice ...
    const other = [...resources.keys()].find((name) => name !== home && name !== bobHome) ??
      [...resources.keys()].find((name) => name !== home)!;
    const seen = world.proxy.lineCount();
    await resources.get(other)!.stop();
    await world.proxy.waitForLog(new RegExp(`target\\.resource_down .*resource=${other}`), {
      after: seen,
    });
    assert.equal(await where(alice, "s11"), home);
    // ... but her own resource leaving does, and she stays on the new one.
    const seen2 = world.proxy.lineCount();
    await resources.get(home!)!.stop();
    await world.proxy.waitForLog(new RegExp(`target\\.resource_down .*resource=${home}`), {
      after: seen2,
    });
    const moved = await where(alice, "s12");
    assert.notEqual(moved, home);
    assert.equal(await where(alice, "s13"), moved);
  },
  { entry: { balance: "sticky" } },
);

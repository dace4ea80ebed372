/**
 * The seed's behaviour end to end: a real server (each scenario runs on
 * Prosody and on ejabberd), the proxy started as a user starts it, real
 * clients.
 */
import assert from "node:assert/strict";
import { echoHandler, errorFor } from "../support/client.ts";
import { SERVER_KINDS, type ServerKind, startServer } from "../support/server.ts";
import { startProxy } from "../support/proxy.ts";
import {
  assertError,
  DOMAIN,
  NS_STANZAS,
  request,
  SECRET,
  TARGET,
  withWorld,
} from "../support/world.ts";
import { xml } from "../../src/core/xml.ts";

/** Every scenario here runs once per server: `[prosody] …`, `[ejabberd] …`. */
const ON_EVERY_SERVER = { servers: SERVER_KINDS };

// --- the scenarios --------------------------------------------------------

withWorld("the seed's four-step exchange, attribute by attribute", async (world) => {
  const impl = await world.resource("a", { answer: false });
  const alice = await world.client("alice", "abc");
  const replyPromise = alice.request(request("1234"));
  // Step 2: what the implementing client receives.
  const forwarded = await impl.waitFor((el) => el.name === "iq" && el.attrs.id === "1234");
  assert.equal(forwarded.attrs.type, "get");
  assert.equal(forwarded.attrs.to, `${TARGET}/a`);
  assert.equal(forwarded.attrs.from, `${DOMAIN}/alice@localhost/abc`);
  assert.equal(forwarded.getChild("query", "urn:test")?.getText(), "ping");
  // Step 3: the implementing client answers the translated address.
  await impl.send(
    xml(
      "iq",
      { type: "result", id: "1234", to: forwarded.attrs.from },
      xml("answer", { xmlns: "urn:test" }, "42"),
    ),
  );
  // Step 4: the requester gets it from the bare domain.
  const reply = await replyPromise;
  assert.equal(reply.attrs.type, "result");
  assert.equal(reply.attrs.id, "1234");
  assert.equal(reply.attrs.to, "alice@localhost/abc");
  assert.equal(reply.attrs.from, DOMAIN);
  assert.equal(reply.getChild("answer", "urn:test")?.getText(), "42");
}, ON_EVERY_SERVER);

withWorld(
  "set and get both go through, to the bare domain and to a resource of it, answered from there",
  async (world) => {
    await world.resource("a");
    const alice = await world.client("alice", "r");
    const got = await alice.request(request("g1"));
    assert.equal(got.attrs.type, "result");
    assert.equal(got.getChild("answer", "urn:test")?.attrs.resource, "a");
    const set = await alice.request(request("s1", { type: "set", to: `${DOMAIN}/some/thing` }));
    assert.equal(set.attrs.type, "result");
    assert.equal(set.attrs.id, "s1");
    // From the address asked, as a client checking its answers expects.
    assert.equal(set.attrs.from, `${DOMAIN}/some/thing`);
    assert.equal(got.attrs.from, DOMAIN);
  },
  ON_EVERY_SERVER,
);

withWorld("an error reply passes through with its application-specific child", async (world) => {
  const impl = await world.resource("a", { answer: false });
  impl.onRequest((iq) => {
    const reply = errorFor(iq, "modify", "not-acceptable", "too big");
    reply.getChild("error")?.children.push(xml("too-big", { xmlns: "urn:test:errors", max: "10" }));
    return reply;
  });
  const alice = await world.client("alice", "r");
  const reply = await alice.request(request("e1"));
  assert.equal(reply.attrs.type, "error");
  assert.equal(reply.attrs.from, DOMAIN);
  const error = reply.getChild("error");
  assert.equal(error?.attrs.type, "modify");
  assert.ok(error?.getChild("not-acceptable", NS_STANZAS));
  assert.equal(error?.getChildText("text", NS_STANZAS), "too big");
  assert.equal(error?.getChild("too-big", "urn:test:errors")?.attrs.max, "10");
}, ON_EVERY_SERVER);

withWorld("two resources are both used", async (world) => {
  await world.resource("a");
  await world.resource("b");
  const alice = await world.client("alice", "r");
  const used = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const reply = await alice.request(request(`t${i}`));
    used.add(reply.getChild("answer", "urn:test")?.attrs.resource ?? "?");
  }
  assert.deepEqual([...used].sort(), ["a", "b"]);
}, ON_EVERY_SERVER);

withWorld(
  "after the first of two resources leaves, every request is answered by the other",
  async (world) => {
    const first = await world.resource("first");
    await world.resource("second");
    const seen = world.proxy.lineCount();
    await first.stop();
    await world.proxy.waitForLog(/target\.resource_down .*resource=first/, { after: seen });
    const alice = await world.client("alice", "r");
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, i) => alice.request(request(`x${i}`))),
    );
    for (const reply of replies) {
      assert.equal(reply.attrs.type, "result", String(reply));
      assert.equal(reply.getChild("answer", "urn:test")?.attrs.resource, "second");
    }
  },
  ON_EVERY_SERVER,
);

withWorld(
  "a resource leaving mid-request: its get is re-sent to the other, its set fails fast",
  async (world) => {
    const holder = await world.resource("holder", { answer: false });
    const alice = await world.client("alice", "r");
    // request_timeout is 30 s: answers within 10 s are the failover's.
    const get = alice.request(request("g1"), { timeoutMs: 10_000 });
    const set = alice.request(request("s1", { type: "set" }), { timeoutMs: 10_000 });
    await holder.waitFor((el) => el.attrs.id === "s1", { includePast: true });
    await holder.waitFor((el) => el.attrs.id === "g1", { includePast: true });
    await world.resource("spare"); // online only once both went to "holder"
    await holder.stop();
    const [gotGet, gotSet] = await Promise.all([get, set]);
    assert.equal(gotGet.attrs.type, "result", String(gotGet));
    assert.equal(gotGet.attrs.from, DOMAIN);
    assert.equal(gotGet.getChild("answer", "urn:test")?.attrs.resource, "spare");
    assertError(gotSet, { id: "s1", type: "wait", condition: "recipient-unavailable" });
    // Under 2 s from the resource's leaving to both answers, by the proxy's
    // own clock (its log's timestamps): not the clients' hops or their close.
    const at = async (pattern: RegExp) =>
      Date.parse((await world.proxy.waitForLog(pattern)).split(" ")[0]);
    const left = await at(/target\.resource_down .*resource=holder/);
    for (const id of ["g1", "s1"]) {
      const answered = await at(new RegExp(`request\\.done .*id=${id} `));
      assert.ok(
        answered - left < 2_000,
        `${id} answered ${answered - left} ms after the resource left`,
      );
    }
  },
  { ...ON_EVERY_SERVER, entry: { request_timeout: "30s" } },
);

withWorld("no resource online: service-unavailable (cancel) from the domain", async (world) => {
  const alice = await world.client("alice", "r");
  assertError(await alice.request(request("n1")), {
    id: "n1",
    type: "cancel",
    condition: "service-unavailable",
  });
}, ON_EVERY_SERVER);

withWorld("a requester with a non-ASCII resource gets its answer", async (world) => {
  const impl = await world.resource("a", { answer: false });
  impl.onRequest(echoHandler());
  const alice = await world.client("alice", "télé☎𝄞");
  const replyPromise = alice.request(request("u1"));
  const forwarded = await impl.waitFor((el) => el.attrs.id === "u1", { includePast: true });
  assert.equal(forwarded.attrs.from, `${DOMAIN}/alice@localhost/télé☎𝄞`);
  const reply = await replyPromise;
  assert.equal(reply.attrs.type, "result");
  assert.equal(reply.attrs.to, "alice@localhost/télé☎𝄞");
}, ON_EVERY_SERVER);

withWorld(
  "large non-ASCII payloads arrive intact both ways, however the reads cut them",
  async (world) => {
    const impl = await world.resource("a", { answer: false });
    impl.onRequest(
      echoHandler((iq) =>
        xml("answer", { xmlns: "urn:test" }, iq.getChild("query")?.getText() ?? "")
      ),
    );
    const alice = await world.client("alice", "télé☎𝄞");
    // Only 4-byte characters, more than one socket read holds (64 KB): the
    // reads cut each stanza inside a character unless by luck at a boundary.
    const payload = "𝄞".repeat(24_000);
    for (const id of ["big1", "big2", "big3"]) {
      const reply = await alice.request(request(id, { payload }));
      assert.equal(reply.attrs.type, "result", id);
      assert.equal(reply.attrs.to, "alice@localhost/télé☎𝄞");
      const text = reply.getChild("answer", "urn:test")?.getText() ?? "";
      assert.equal(text.length, payload.length, `${id}: ${text.length} UTF-16 units`);
      assert.ok(text === payload, `${id}: the payload changed on the way`);
    }
  },
  ON_EVERY_SERVER,
);

withWorld(
  "the proxy restarted relearns the resources with no action from the client",
  async (world) => {
    await world.resource("a");
    assert.equal(await world.proxy.stop(), 0);
    await world.startProxy(world.lastEntry, world.lastTop);
    await world.proxy.waitForLog(/target\.resource_up .*resource=a/);
    const alice = await world.client("alice", "r");
    const reply = await alice.request(request("p1"));
    assert.equal(reply.attrs.type, "result", String(reply));
  },
  ON_EVERY_SERVER,
);

withWorld(
  "a request sent right after the proxy connects, before any resource is known, waits for the first one",
  async (world) => {
    // Approve the subscription once, then take the resource offline.
    const first = await world.resource("a");
    await first.stop();
    world.clients.splice(world.clients.indexOf(first), 1);
    const alice = await world.client("alice", "r");
    assert.equal(await world.proxy.stop(), 0);
    await world.startProxy(world.lastEntry, world.lastTop);
    // No resource online: before, this was refused at once.
    const started = performance.now();
    const reply = alice.request(request("early"));
    await world.resource("a");
    const answer = await reply;
    assert.equal(answer.attrs.type, "result", String(answer));
    assert.equal(answer.attrs.from, DOMAIN);
    assert.equal(answer.getChild("answer", "urn:test")?.attrs.resource, "a");
    console.log(`answered ${Math.round(performance.now() - started)} ms after it was sent`);
    assert.match(world.proxy.log(), /request\.done .*outcome=result .*id=early/);
  },
);

withWorld(
  "the server restarted while the proxy runs: it reconnects and serves again",
  async (world) => {
    await world.resource("a");
    const seen = world.proxy.lineCount();
    for (const client of world.clients.splice(0)) await client.stop();
    await world.server.restart();
    await world.proxy.waitForLog(/stream\.online/, { after: seen, timeoutMs: 20_000 });
    await world.resource("b");
    const alice = await world.client("alice", "r");
    const reply = await alice.request(request("r1"));
    assert.equal(reply.attrs.type, "result", String(reply));
    assert.equal(reply.getChild("answer", "urn:test")?.attrs.resource, "b");
  },
  ON_EVERY_SERVER,
);

// ejabberd answers a component domain it does not know with the stream
// error `not-authorized` after the handshake (Prosody: `host-unknown` at once).
const REFUSALS: {
  name: string;
  domain: string;
  secret: string;
  reason: Record<ServerKind, string>;
}[] = [
  {
    name: "a wrong secret",
    domain: DOMAIN,
    secret: "not-the-secret",
    reason: { prosody: "not-authorized", ejabberd: "not-authorized" },
  },
  {
    name: "a domain the server does not know",
    domain: "unknown.localhost",
    secret: SECRET,
    reason: { prosody: "host-unknown", ejabberd: "not-authorized" },
  },
];

for (const { name, domain, secret, reason: reasons } of REFUSALS) {
  for (const kind of SERVER_KINDS) {
    const reason = reasons[kind];
    Deno.test({
      name: `[${kind}] ${name} is reported clearly (${reason}) and retried slowly, never silently`,
      sanitizeOps: false,
      sanitizeResources: false,
      async fn() {
        await using server = await startServer(kind, {
          components: [{ domain: DOMAIN, secret: SECRET }],
        });
        await using proxy = await startProxy({
          server: server.componentUrl,
          proxies: [{ domain, secret, target_address: TARGET }],
          readyEvent: "stream\\.refused",
        });
        const line = await proxy.waitForLog(/stream\.refused/);
        assert.match(line, new RegExp(`reason=${reason}`));
        // Up to 30 s, with full jitter.
        const retryMs = Number(/retry_in_ms=(\d+)/.exec(line)?.[1]);
        assert.ok(retryMs >= 0 && retryMs <= 30_000, line);
        assert.match(line, /hint=/);
        assert.doesNotMatch(proxy.log(), new RegExp(secret), "the secret is never logged");
      },
    });
  }
}

/**
 * Beyond the seed's limits, against Prosody: requests started by the
 * implementing client, messages both ways, and the service's own presence
 * (also from a standby on the same state_dir that takes over).
 */
import assert from "node:assert/strict";
import { resultFor, type TestClient } from "../support/client.ts";
import { DOMAIN, NS_STANZAS, withWorld } from "../support/world.ts";
import { xml, type XmlElement } from "../../src/core/xml.ts";

const PING = "urn:xmpp:ping";

function ping(id: string, to: string): XmlElement {
  return xml("iq", { type: "get", id, to }, xml("ping", { xmlns: PING }));
}

withWorld(
  "a resource pings a user through <domain>/<user JID>; two resources may use the same id",
  async (world) => {
    const a = await world.resource("a", { answer: false });
    const b = await world.resource("b", { answer: false });
    const alice = await world.client("alice", "r");
    alice.onRequest((iq) => resultFor(iq, xml("seen", { xmlns: "urn:test" }, iq.attrs.from ?? "")));
    const [fromA, fromB] = await Promise.all([
      a.request(ping("same", `${DOMAIN}/alice@localhost/r`)),
      b.request(ping("same", `${DOMAIN}/alice@localhost/r`)),
    ]);
    for (
      const [reply, to] of [[fromA, "service@localhost/a"], [fromB, "service@localhost/b"]] as const
    ) {
      assert.equal(reply.attrs.type, "result", String(reply));
      assert.equal(reply.attrs.id, "same");
      assert.equal(reply.attrs.to, to);
      assert.equal(reply.attrs.from, `${DOMAIN}/alice@localhost/r`);
      // The user saw a request from the bare domain.
      assert.equal(reply.getChildText("seen", "urn:test"), DOMAIN);
    }
  },
  { entry: { allow_target_requests: true } },
);

withWorld(
  "a user that never answers: the resource gets remote-server-timeout",
  async (world) => {
    const a = await world.resource("a", { answer: false });
    await world.client("alice", "mute");
    const reply = await a.request(ping("p1", `${DOMAIN}/alice@localhost/mute`));
    assert.equal(reply.attrs.from, `${DOMAIN}/alice@localhost/mute`);
    assert.equal(reply.attrs.type, "error", String(reply));
    assert.equal(reply.attrs.id, "p1");
    assert.equal(reply.getChild("error")?.attrs.type, "wait");
    assert.ok(
      reply.getChild("error")?.getChild("remote-server-timeout", NS_STANZAS),
      String(reply),
    );
  },
  { entry: { allow_target_requests: true, request_timeout: "1s" } },
);

function chat(to: string, body: string, id: string): XmlElement {
  return xml("message", { type: "chat", to, id }, xml("body", {}, body));
}

withWorld(
  "a user chats with the service: one resource gets every message, its reply comes from the bare domain",
  async (world) => {
    const resources = [
      await world.resource("a"),
      await world.resource("b"),
      await world.resource("c"),
    ];
    const alice = await world.client("alice", "r");
    for (let i = 0; i < 6; i++) await alice.send(chat(DOMAIN, `hello ${i}`, `m${i}`));
    // Until all six have arrived, wherever they went (bounded).
    const messages = () =>
      resources.map((client) => client.received.filter((el) => el.name === "message"));
    const bound = Date.now() + 10_000;
    while (messages().flat().length < 6 && Date.now() < bound) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const got = messages();
    const holders = got.filter((list) => list.length > 0);
    assert.equal(holders.length, 1, "one resource holds the conversation");
    assert.deepEqual(
      holders[0].map((el) => el.getChildText("body")),
      [0, 1, 2, 3, 4, 5].map((i) => `hello ${i}`),
    );
    assert.equal(holders[0][0].attrs.from, `${DOMAIN}/alice@localhost/r`);
    const holder = resources[got.indexOf(holders[0])];
    await holder.send(chat(`${DOMAIN}/alice@localhost/r`, "hi alice", "r1"));
    const reply = await alice.waitFor((el) => el.name === "message" && el.attrs.id === "r1");
    assert.equal(reply.attrs.from, DOMAIN);
    assert.equal(reply.getChildText("body"), "hi alice");
  },
  { entry: { messages: "forward" } },
);

withWorld(
  "a chat with no resource online gets an error, never silence",
  async (world) => {
    const alice = await world.client("alice", "r");
    await alice.send(chat(DOMAIN, "anyone?", "lonely"));
    const error = await alice.waitFor((el) => el.name === "message" && el.attrs.id === "lonely");
    assert.equal(error.attrs.type, "error");
    assert.equal(error.attrs.from, DOMAIN);
    assert.ok(error.getChild("error")?.getChild("service-unavailable"));
  },
  { entry: { messages: "forward" } },
);

withWorld(
  "a denied user's chat gets forbidden and never reaches a resource; an allowed user's does",
  async (world) => {
    const holder = await world.resource("a");
    const alice = await world.client("alice", "r");
    const bob = await world.client("bob", "r");
    await bob.send(chat(DOMAIN, "let me in", "denied"));
    const error = await bob.waitFor((el) => el.name === "message" && el.attrs.id === "denied");
    assert.equal(error.attrs.type, "error");
    assert.equal(error.attrs.from, DOMAIN);
    assert.equal(error.getChild("error")?.attrs.type, "auth");
    assert.ok(error.getChild("error")?.getChild("forbidden"));
    await alice.send(chat(DOMAIN, "hello", "allowed"));
    const got = await holder.waitFor((el) => el.name === "message" && el.attrs.id === "allowed");
    assert.equal(got.attrs.from, `${DOMAIN}/alice@localhost/r`);
    // Sent before alice's: had bob's got through, it would be here by now.
    assert.ok(!holder.received.some((el) => el.name === "message" && el.attrs.id === "denied"));
  },
  { entry: { messages: "forward", deny: ["bob@localhost"] } },
);

function servicePresence(
  client: TestClient,
  type: "available" | "unavailable",
): Promise<XmlElement> {
  return client.waitFor(
    (el) =>
      el.name === "presence" && el.attrs.from === DOMAIN &&
      (type === "available" ? el.attrs.type === undefined : el.attrs.type === "unavailable"),
    { timeoutMs: 8000 },
  );
}

const stateDir = Deno.makeTempDirSync({ prefix: "client-proxy-state-" });
addEventListener("unload", () => Deno.removeSync(stateDir, { recursive: true }));

withWorld(
  "a subscriber sees the service come and go, also after the proxy was killed (SIGKILL) and restarted",
  async (world) => {
    const alice = await world.rosterClient("alice", "watch");
    const subscribed = alice.waitFor((el) =>
      el.name === "presence" && el.attrs.type === "subscribed"
    );
    await alice.send(xml("presence", { type: "subscribe", to: DOMAIN }));
    await subscribed;
    const first = await world.resource("a");
    await servicePresence(alice, "available");
    const goneAway = servicePresence(alice, "unavailable");
    await first.stop();
    await goneAway;
    const back = servicePresence(alice, "available");
    const second = await world.resource("b");
    await back;

    await world.proxy.kill();
    await world.startProxy(world.lastEntry, world.lastTop);
    await world.proxy.waitForLog(/target\.resource_up .*resource=b/);
    const afterRestart = servicePresence(alice, "unavailable");
    await second.stop();
    await afterRestart;
    const again = servicePresence(alice, "available");
    await world.resource("c");
    await again;
  },
  { entry: { presence: true }, top: { state_dir: stateDir } },
);

withWorld(
  "a standby sharing state_dir takes over after a kill -9 and tells a user who subscribed after it started",
  async (world) => {
    // Started before anyone subscribes: it must read the subscribers as it
    // takes over, not as it starts. Prosody refuses it while the first serves.
    await using standby = await world.startStandby({ retry: "300ms", shareState: true });
    const alice = await world.rosterClient("alice", "watch");
    const subscribed = alice.waitFor((el) =>
      el.name === "presence" && el.attrs.type === "subscribed"
    );
    await alice.send(xml("presence", { type: "subscribe", to: DOMAIN }));
    await subscribed;
    const a = await world.resource("a");
    await servicePresence(alice, "available");

    // The standby, serving now, tells her the service is there, and then that it is gone.
    const toldByStandby = servicePresence(alice, "available");
    await world.proxy.kill();
    await standby.waitForLog(/stream\.online/, { timeoutMs: 10_000 });
    await toldByStandby;
    const gone = servicePresence(alice, "unavailable");
    await a.stop();
    await gone;
    assert.doesNotMatch(standby.log(), /service\.store_failed/);
  },
  {
    entry: { presence: true },
    top: () => ({ state_dir: Deno.makeTempDirSync({ dir: stateDir }) }),
  },
);

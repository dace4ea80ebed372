/** Messages both ways, through the router (messages: forward). */
import assert from "node:assert/strict";
import type { Effects, Router, RouterSettings } from "../../src/core/router.ts";
import { parseXml, type XmlElement } from "../../src/core/xml.ts";
import { DOMAIN, TARGET, testRouter } from "../support/router.ts";

const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

function setup(settings: Partial<RouterSettings> = {}, resources = ["a", "b", "c"]): Router {
  return testRouter({
    requestTimeoutMs: 1000,
    balance: "round-robin",
    maxPendingPerResource: 10,
    maxPending: 10,
    messages: "forward",
    ...settings,
  }, { resources });
}

function only(fx: Effects): XmlElement {
  assert.equal(fx.send.length, 1, fx.send.join(" | "));
  return fx.send[0];
}

function condition(el: XmlElement): string | undefined {
  const child = el.getChild("error")?.children.find((c) =>
    typeof c !== "string" && c.attrs.xmlns === STANZAS && c.name !== "text"
  );
  return typeof child === "string" ? undefined : child?.name;
}

const CHAT = (from: string, id: string, to = DOMAIN) =>
  parseXml(
    `<message type="chat" id="${id}" from="${from}" to="${to}"><body>hi &amp; bye</body><thread>t1</thread>` +
      `<active xmlns="http://jabber.org/protocol/chatstates"/><request xmlns="urn:xmpp:receipts"/></message>`,
  );

Deno.test("default reject: a user's message gets feature-not-implemented", () => {
  const router = setup({ messages: undefined });
  const out = only(router.receive(CHAT("alice@example.org/r", "m1"), 0));
  assert.equal(out.attrs.type, "error");
  assert.equal(condition(out), "feature-not-implemented");
});

Deno.test("a user's messages all go to one resource, from <domain>/<user>, unchanged", () => {
  const router = setup();
  const outs = ["m1", "m2", "m3", "m4"].map((id) =>
    only(router.receive(CHAT("alice@example.org/r", id), 0))
  );
  assert.equal(new Set(outs.map((el) => el.attrs.to)).size, 1, "one conversation, one resource");
  const first = outs[0];
  assert.equal(first.attrs.from, `${DOMAIN}/alice@example.org/r`);
  assert.equal(first.attrs.type, "chat");
  assert.equal(first.attrs.id, "m1");
  assert.equal(
    first.children.map(String).join(""),
    `<body>hi &amp; bye</body><thread>t1</thread><active xmlns="http://jabber.org/protocol/chatstates"/>` +
      `<request xmlns="urn:xmpp:receipts"/>`,
  );
  // Another resource of the same user stays in the same conversation.
  assert.equal(
    only(router.receive(CHAT("alice@example.org/other", "m5"), 0)).attrs.to,
    first.attrs.to,
  );
});

Deno.test("each message passed on is reported with its sender and where it went", () => {
  const router = setup();
  const inbound = router.receive(CHAT("alice@example.org/r", "m1"), 0);
  const to = only(inbound).attrs.to as string;
  assert.deepEqual(inbound.events, [
    { type: "passed", stanza: "message", from: "alice@example.org/r", to, id: "m1" },
  ]);
  const outbound = router.receive(CHAT(to, "m2", `${DOMAIN}/alice@example.org/r`), 1);
  assert.deepEqual(outbound.events, [
    { type: "passed", stanza: "message", from: to, to: "alice@example.org/r", id: "m2" },
  ]);
});

Deno.test("a resource's message to <domain>/<JID> goes to the JID from the bare domain", () => {
  const router = setup();
  const out = only(router.receive(CHAT(`${TARGET}/b`, "r1", `${DOMAIN}/alice@example.org/r`), 0));
  assert.equal(out.attrs.to, "alice@example.org/r");
  assert.equal(out.attrs.from, DOMAIN);
  assert.equal(out.attrs.id, "r1");
  assert.equal(out.getChildText("body"), "hi & bye");
});

Deno.test("default reject: a resource's message to <domain>/<JID> gets feature-not-implemented", () => {
  const router = setup({ messages: undefined });
  const out = only(router.receive(CHAT(`${TARGET}/b`, "r1", `${DOMAIN}/alice@example.org/r`), 0));
  assert.equal(condition(out), "feature-not-implemented");
  assert.equal(out.attrs.to, `${TARGET}/b`);
});

Deno.test("a resource coming online takes no conversation that already has a resource", () => {
  const router = setup({}, ["a", "b"]);
  const users = Array.from({ length: 30 }, (_, i) => `user${i}@example.org/r`);
  const before = users.map((u, i) => only(router.receive(CHAT(u, `m${i}`), 0)).attrs.to);
  router.receive(parseXml(`<presence from="${TARGET}/c" to="${DOMAIN}"/>`), 1);
  const after = users.map((u, i) => only(router.receive(CHAT(u, `n${i}`), 2)).attrs.to);
  assert.deepEqual(after, before);
});

Deno.test("no resource online: the user gets service-unavailable, never silence", () => {
  const router = setup({}, []);
  // Past the first second after connecting (which waits for resources).
  const out = only(router.receive(CHAT("alice@example.org/r", "m1"), 1_000));
  assert.equal(out.attrs.to, "alice@example.org/r");
  assert.equal(out.attrs.from, DOMAIN);
  assert.equal(out.attrs.id, "m1");
  assert.equal(out.attrs.type, "error");
  assert.equal(condition(out), "service-unavailable");
});

Deno.test("just after connecting, a message waits for the first resource, then goes to it", () => {
  const router = setup({}, []);
  assert.equal(router.receive(CHAT("alice@example.org/r", "m1"), 10).send.length, 0);
  assert.equal(router.receive(CHAT("bob@example.org/r", "m2"), 20).send.length, 0);
  assert.equal(router.nextWake(), 1_000);
  const fx = router.receive(
    parseXml(`<presence from="${TARGET}/a" to="${DOMAIN}"/>`),
    30,
  );
  assert.deepEqual(
    fx.send.map((el) => [el.name, el.attrs.id, el.attrs.to, el.attrs.from]),
    [
      ["message", "m1", `${TARGET}/a`, `${DOMAIN}/alice@example.org/r`],
      ["message", "m2", `${TARGET}/a`, `${DOMAIN}/bob@example.org/r`],
    ],
  );
  assert.equal(fx.send[0].getChildText("body"), "hi & bye");
  assert.equal(router.nextWake(), undefined, "nothing left waiting");
});

Deno.test("a message waiting for a resource that never comes gets service-unavailable", () => {
  const router = setup({}, []);
  assert.equal(router.receive(CHAT("alice@example.org/r", "m1"), 10).send.length, 0);
  assert.equal(router.tick(999).send.length, 0);
  const out = only(router.tick(1_000));
  assert.deepEqual(
    [out.name, out.attrs.type, out.attrs.id, out.attrs.to, out.attrs.from],
    ["message", "error", "m1", "alice@example.org/r", DOMAIN],
  );
  assert.equal(condition(out), "service-unavailable");
  assert.equal(router.tick(2_000).send.length, 0, "answered once");
});

Deno.test("a shutdown answers the messages still waiting for a resource", () => {
  const router = setup({}, []);
  router.receive(CHAT("alice@example.org/r", "m1"), 10);
  const settled = router.settleAll(20);
  const errors = settled.send.filter((el) => el.name === "message");
  assert.equal(errors.length, 1);
  assert.equal(errors[0].attrs.to, "alice@example.org/r");
  assert.equal(condition(errors[0]), "service-unavailable");
});

Deno.test("waiting messages are bounded by max_pending: beyond it, refused at once", () => {
  const router = setup({ maxPending: 2 }, []);
  assert.equal(router.receive(CHAT("alice@example.org/r", "m1"), 10).send.length, 0);
  assert.equal(router.receive(CHAT("alice@example.org/r", "m2"), 10).send.length, 0);
  const out = only(router.receive(CHAT("alice@example.org/r", "m3"), 10));
  assert.equal(out.attrs.id, "m3");
  assert.equal(condition(out), "service-unavailable");
});

Deno.test("one domain's or one user's waiting messages are held to the per-domain and per-requester caps", () => {
  const router = setup({ maxPending: 8, maxPendingPerDomain: 2, maxPendingPerRequester: 1 }, []);
  const refusedAt = (from: string, id: string) => {
    const fx = router.receive(CHAT(from, id), 10);
    return fx.send.length === 0 ? undefined : condition(only(fx));
  };
  // While the first resource is awaited, a domain with endless users gets two.
  const flood = Array.from({ length: 8 }, (_, i) => refusedAt(`u${i}@evil.example/r`, `e${i}`));
  assert.deepEqual(flood, [undefined, undefined, ...Array(6).fill("service-unavailable")]);
  assert.equal(refusedAt("alice@example.org/r", "a1"), undefined);
  assert.equal(refusedAt("alice@example.org/r", "a2"), "service-unavailable", "one per user");
  // Everyone else still gets in: the flood did not take max_pending.
  const get = router.receive(
    parseXml(
      `<iq type="get" id="q1" from="bob@example.net/r" to="${DOMAIN}"><q xmlns="urn:x"/></iq>`,
    ),
    10,
  );
  assert.equal(get.send.length, 0, "the request waits for the first resource");
  const fx = router.receive(parseXml(`<presence from="${TARGET}/a" to="${DOMAIN}"/>`), 20);
  assert.deepEqual(fx.send.map((el) => el.attrs.id), ["q1", "e0", "e1", "a1"]);
});

Deno.test("a message error for a resource's message goes back to that resource", () => {
  const router = setup();
  router.receive(CHAT(`${TARGET}/c`, "r9", `${DOMAIN}/bob@example.org`), 0);
  const bounce = parseXml(
    `<message type="error" id="r9" from="bob@example.org" to="${DOMAIN}"><error type="cancel"><service-unavailable xmlns="${STANZAS}"/></error></message>`,
  );
  const out = only(router.receive(bounce, 1));
  assert.equal(out.attrs.to, `${TARGET}/c`);
  assert.equal(out.attrs.from, `${DOMAIN}/bob@example.org`);
  assert.equal(condition(out), "service-unavailable");
  assert.equal(router.receive(bounce, 2).send.length, 0, "returned once");
});

const BOUNCE = (from: string, id: string) =>
  parseXml(
    `<message type="error" id="${id}" from="${from}" to="${DOMAIN}"><error type="cancel"><service-unavailable xmlns="${STANZAS}"/></error></message>`,
  );

Deno.test("a message to a bare JID refused by one of its resources: the error goes back to the sender", () => {
  const router = setup();
  router.receive(CHAT(`${TARGET}/a`, "m2", `${DOMAIN}/alice@example.org`), 0);
  const out = only(router.receive(BOUNCE("alice@example.org/phone", "m2"), 1));
  assert.equal(out.attrs.to, `${TARGET}/a`);
  assert.equal(out.attrs.from, `${DOMAIN}/alice@example.org/phone`);
  assert.equal(condition(out), "service-unavailable");
});

Deno.test("two resources sent one id to one JID: its error is dropped as ambiguous, given to neither", () => {
  const router = setup();
  router.receive(CHAT(`${TARGET}/a`, "m1", `${DOMAIN}/alice@example.org`), 0);
  router.receive(CHAT(`${TARGET}/b`, "m1", `${DOMAIN}/alice@example.org`), 0);
  const fx = router.receive(BOUNCE("alice@example.org", "m1"), 1);
  assert.deepEqual(fx.send, []);
  assert.deepEqual(
    fx.events.map((e) => e.type === "dropped" ? e.reason : e.type),
    ["ambiguous"],
  );
  // One id, sent to the bare JID by one resource and to a full JID by another.
  router.receive(CHAT(`${TARGET}/a`, "m4", `${DOMAIN}/carol@example.org`), 2);
  router.receive(CHAT(`${TARGET}/b`, "m4", `${DOMAIN}/carol@example.org/phone`), 2);
  assert.deepEqual(router.receive(BOUNCE("carol@example.org/phone", "m4"), 3).send, []);
  // The same resource reusing its own id is no ambiguity.
  router.receive(CHAT(`${TARGET}/c`, "m3", `${DOMAIN}/bob@example.org`), 2);
  router.receive(CHAT(`${TARGET}/c`, "m3", `${DOMAIN}/bob@example.org`), 3);
  assert.equal(only(router.receive(BOUNCE("bob@example.org", "m3"), 4)).attrs.to, `${TARGET}/c`);
});

Deno.test("a message error nobody sent, and any error with messages rejected, is dropped", () => {
  for (const router of [setup(), setup({ messages: undefined })]) {
    const bounce = parseXml(
      `<message type="error" id="zz" from="bob@example.org" to="${DOMAIN}"/>`,
    );
    assert.equal(router.receive(bounce, 0).send.length, 0);
  }
});

Deno.test("allow/deny hold for messages: forbidden, or service-unavailable when hidden", () => {
  const router = setup({ deny: ["mallory@example.org"] });
  const out = only(router.receive(CHAT("Mallory@example.org/r", "m1"), 0));
  assert.equal(out.attrs.type, "error");
  assert.equal(out.attrs.to, "Mallory@example.org/r");
  assert.equal(out.attrs.from, DOMAIN);
  assert.equal(out.attrs.id, "m1");
  assert.equal(out.getChild("error")?.attrs.type, "auth");
  assert.equal(condition(out), "forbidden");
  router.settings = { ...router.settings, hideFromDenied: true };
  const hidden = router.receive(CHAT("mallory@example.org/r", "m2"), 0);
  assert.equal(condition(only(hidden)), "service-unavailable");
  // The log still tells the rule.
  assert.deepEqual(hidden.events.map((e) => e.type === "refused" && e.reason), ["forbidden"]);
  assert.equal(
    only(router.receive(CHAT("alice@example.org/r", "m3"), 0)).attrs.from,
    `${DOMAIN}/alice@example.org/r`,
    "alice's message is forwarded",
  );
});

Deno.test("a user's messages share the rate limit of their requests", () => {
  const router = setup({ rateLimit: { perSecond: 1, burst: 2 } });
  const steps = ["m1", "m2", "m3"].map((id) => router.receive(CHAT("alice@example.org/r", id), 0));
  const outs = steps.map(only);
  assert.deepEqual(outs.map((el) => el.attrs.type), ["chat", "chat", "error"]);
  assert.ok(steps[2].events.some((e) => e.type === "refused" && e.reason === "rate_limited"));
  assert.equal(condition(outs[2]), "resource-constraint");
  assert.equal(outs[2].getChild("error")?.attrs.type, "wait");
  assert.equal(
    only(router.receive(CHAT("bob@example.org/r", "m4"), 0)).attrs.type,
    "chat",
    "bob has his own bucket",
  );
  assert.equal(
    only(router.receive(CHAT("alice@example.org/r", "m5"), 1000)).attrs.type,
    "chat",
    "a second later",
  );
});

Deno.test("a resource refusing a user's message: its message error goes to the user from the domain", () => {
  const router = setup();
  const refusal = parseXml(
    `<message type="error" id="m7" from="${TARGET}/b" to="${DOMAIN}/alice@example.org/r">` +
      `<error type="modify"><not-acceptable xmlns="${STANZAS}"/></error></message>`,
  );
  const out = only(router.receive(refusal, 0));
  assert.deepEqual(
    [out.attrs.type, out.attrs.id, out.attrs.to, out.attrs.from],
    ["error", "m7", "alice@example.org/r", DOMAIN],
  );
  assert.equal(condition(out), "not-acceptable");
  // To something that is no JID: dropped, never answered (it is an error).
  const bad = parseXml(
    `<message type="error" id="m8" from="${TARGET}/b" to="${DOMAIN}/@@"><error type="cancel"/></message>`,
  );
  assert.equal(router.receive(bad, 1).send.length, 0);
});

import assert from "node:assert/strict";
import { type Effects, Router, type RouterSettings } from "../../src/core/router.ts";
import { parseStanza } from "../../src/core/xml_scan.ts";
import { parseXml, serialize, type XmlElement } from "../../src/core/xml.ts";
import { BASE_SETTINGS, DOMAIN, resourcePresence, TARGET, testRouter } from "../support/router.ts";

const ALICE = "alice@example.org/phone";
const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

/** A router with the given resources online; `random` always picks the first. */
function setup(
  resources: Array<string | [string, number]> = ["a"],
  settings: Partial<RouterSettings> = {},
  random = () => 0,
): Router {
  return testRouter(settings, { resources, random });
}

function unavailable(name: string): XmlElement {
  return parseXml(
    `<presence type="unavailable" from="${TARGET}/${name}" to="${DOMAIN}"/>`,
  );
}

function get(id: string, from = ALICE, to = DOMAIN, type = "get"): XmlElement {
  return parseXml(
    `<iq type="${type}" id="${id}" from="${from}" to="${to}"><query xmlns="urn:example:q">hi</query></iq>`,
  );
}

function result(id: string, resource = "a", requester = ALICE): XmlElement {
  return parseXml(
    `<iq type="result" id="${id}" from="${TARGET}/${resource}" to="${DOMAIN}/${requester}"><answer xmlns="urn:example:q">42</answer></iq>`,
  );
}

function attrs(el: XmlElement): Record<string, string | undefined> {
  return Object.fromEntries(
    Object.entries(el.attrs).filter(([, v]) => v !== undefined),
  );
}

/** The single stanza sent, checked to be the only one. */
function only(fx: Effects): XmlElement {
  assert.equal(
    fx.send.length,
    1,
    `expected one stanza, got ${fx.send.map(String).join(" | ")}`,
  );
  return fx.send[0];
}

/** Asserts an error stanza: its addressing and <error type><condition/></error>. */
function assertError(
  el: XmlElement,
  expected: {
    name?: string;
    to: string;
    from: string;
    id?: string;
    type: string;
    condition: string;
  },
): void {
  assert.equal(el.name, expected.name ?? "iq");
  assert.deepEqual(attrs(el), {
    type: "error",
    to: expected.to,
    from: expected.from,
    ...(expected.id === undefined ? {} : { id: expected.id }),
  });
  const error = el.getChild("error");
  assert.ok(error, `no <error/> in ${el}`);
  assert.equal(error.attrs.type, expected.type);
  assert.ok(
    error.getChild(expected.condition, STANZAS),
    `expected ${expected.condition} in ${el}`,
  );
}

function forwardedTo(fx: Effects): string[] {
  return fx.send.map((el) => el.attrs.to as string);
}

// --- presence and subscription -------------------------------------------

Deno.test("online: subscribes to the target from the domain, and nothing else", () => {
  const router = new Router(BASE_SETTINGS, { random: Math.random, randomBits: () => 0 });
  const el = only(router.online(0));
  assert.equal(
    el.toString(),
    `<presence type="subscribe" to="${TARGET}" from="${DOMAIN}"/>`,
  );
});

Deno.test("a subscribe from the target is answered subscribed", () => {
  const router = setup([]);
  const fx = router.receive(
    parseXml(`<presence type="subscribe" from="${TARGET}" to="${DOMAIN}"/>`),
    0,
  );
  assert.equal(
    only(fx).toString(),
    `<presence type="subscribed" to="${TARGET}" from="${DOMAIN}"/>`,
  );
});

Deno.test("resources: available adds, unavailable removes, error empties and resubscribes with backoff", () => {
  const router = setup(["a", "b"]);
  assert.deepEqual(router.resources, ["a", "b"]);
  router.receive(unavailable("a"), 0);
  assert.deepEqual(router.resources, ["b"]);
  router.receive(resourcePresence("a"), 0);
  assert.deepEqual(router.resources, ["b", "a"]);

  const error = parseXml(
    `<presence type="error" from="${TARGET}" to="${DOMAIN}"><error type="cancel"/></presence>`,
  );
  assert.equal(router.receive(error, 1000).send.length, 0);
  assert.deepEqual(router.resources, []);
  assert.equal(router.nextWake(), 2000);
  assert.equal(router.tick(1999).send.length, 0);
  assert.equal(only(router.tick(2000)).attrs.type, "subscribe");
  assert.equal(router.nextWake(), undefined);
  router.receive(error, 3000); // second failure in a row: twice the wait
  assert.equal(router.nextWake(), 5000);
  router.receive(
    parseXml(`<presence type="subscribed" from="${TARGET}" to="${DOMAIN}"/>`),
    5000,
  );
  router.tick(5000);
  router.receive(error, 6000); // approval reset the backoff
  assert.equal(router.nextWake(), 7000);
});

Deno.test("resources: presence from the target's bare JID or of an odd type adds nothing", () => {
  const router = setup([]);
  router.receive(parseXml(`<presence from="${TARGET}" to="${DOMAIN}"/>`), 0);
  router.receive(
    parseXml(`<presence type="probe" from="${TARGET}/x" to="${DOMAIN}"/>`),
    0,
  );
  assert.deepEqual(router.resources, []);
});

// --- the seed's exchange --------------------------------------------------

Deno.test("a get to the bare domain goes to the resource with the same id and the JAT from", () => {
  const router = setup(["a"]);
  const request = get("1234", "user@some-domain.example/abc");
  const before = request.toString();
  const out = only(router.receive(request, 0));
  assert.deepEqual(attrs(out), {
    type: "get",
    id: "1234",
    to: `${TARGET}/a`,
    from: `${DOMAIN}/user@some-domain.example/abc`,
  });
  assert.equal(
    out.children.map(String).join(""),
    `<query xmlns="urn:example:q">hi</query>`,
  );
  assert.equal(
    request.toString(),
    before,
    "the received stanza is not mutated",
  );
});

Deno.test("a set to a resource of the domain is forwarded too", () => {
  const router = setup(["a"]);
  const out = only(
    router.receive(get("s1", ALICE, `${DOMAIN}/anything`, "set"), 0),
  );
  assert.deepEqual(attrs(out), {
    type: "set",
    id: "s1",
    to: `${TARGET}/a`,
    from: `${DOMAIN}/${ALICE}`,
  });
});

Deno.test("the reply goes back to the requester from the bare domain, payload unchanged", () => {
  const router = setup(["a"]);
  router.receive(get("7"), 0);
  const reply = result("7");
  const before = reply.toString();
  const out = only(router.receive(reply, 5));
  assert.deepEqual(attrs(out), {
    type: "result",
    id: "7",
    to: ALICE,
    from: DOMAIN,
  });
  assert.equal(
    out.children.map(String).join(""),
    `<answer xmlns="urn:example:q">42</answer>`,
  );
  assert.equal(reply.toString(), before);
  assert.equal(router.pendingCount, 0);
});

Deno.test("an error reply passes through with its application-specific condition", () => {
  const router = setup(["a"]);
  router.receive(get("e"), 0);
  const payload = `<error type="modify"><bad-request xmlns="${STANZAS}"/>` +
    `<text xmlns="${STANZAS}">nope &amp; never</text><too-big xmlns="urn:example:app"/></error>`;
  const reply = parseXml(
    `<iq type="error" id="e" from="${TARGET}/a" to="${DOMAIN}/${ALICE}">${payload}</iq>`,
  );
  const out = only(router.receive(reply, 0));
  assert.deepEqual(attrs(out), {
    type: "error",
    id: "e",
    to: ALICE,
    from: DOMAIN,
  });
  assert.equal(out.children.map(String).join(""), payload);
});

Deno.test("payloads pass through exactly: namespaces, attributes, escapes, non-ASCII", () => {
  const router = setup(["a"]);
  const requester = "bob@example.org/télé☎𝄞";
  const payload =
    `<q xmlns="urn:x" xmlns:y="urn:y" y:attr="&lt;&amp;&quot;"><y:i>a &lt; b ☎ 𝄞</y:i></q>`;
  const out = only(
    router.receive(
      parseXml(
        `<iq type="get" id="u" from="${requester}" to="${DOMAIN}">${payload}</iq>`,
      ),
      0,
    ),
  );
  assert.equal(out.attrs.from, `${DOMAIN}/${requester}`);
  assert.equal(out.children.map(String).join(""), payload);
});

// --- refusals ---------------------------------------------------------------

const REFUSALS: Array<
  {
    name: string;
    stanza: string;
    condition: string;
    type: string;
    from?: string;
  }
> = [
  {
    name: "no resource online",
    stanza: `<iq type="get" id="n" from="${ALICE}" to="${DOMAIN}"><q xmlns="urn:x"/></iq>`,
    condition: "service-unavailable",
    type: "cancel",
  },
  {
    name: "a message to the domain",
    stanza: `<message id="n" from="${ALICE}" to="${DOMAIN}"><body>hi</body></message>`,
    condition: "feature-not-implemented",
    type: "cancel",
  },
  {
    name: "a message to a resource of the domain",
    stanza: `<message id="n" from="${ALICE}" to="${DOMAIN}/x"><body>hi</body></message>`,
    condition: "feature-not-implemented",
    type: "cancel",
    from: `${DOMAIN}/x`,
  },
  {
    name: "presence from someone else",
    stanza: `<presence id="n" from="${ALICE}" to="${DOMAIN}"/>`,
    condition: "bad-request",
    type: "modify",
  },
  {
    name: "a subscribe from someone else",
    stanza: `<presence type="subscribe" id="n" from="${ALICE}" to="${DOMAIN}"/>`,
    condition: "bad-request",
    type: "modify",
  },
  {
    name: "an iq of no known type",
    stanza: `<iq type="poke" id="n" from="${ALICE}" to="${DOMAIN}"/>`,
    condition: "bad-request",
    type: "modify",
  },
];

/** When a request that finds no resource is refused at once: after the first second online. */
const LEARNED = 1_000;

for (const { name, stanza, condition, type, from } of REFUSALS) {
  Deno.test(`refused: ${name} gets ${condition}`, () => {
    const router = setup([]);
    const el = parseXml(stanza);
    assertError(only(router.receive(el, LEARNED)), {
      name: el.name,
      to: ALICE,
      from: from ?? DOMAIN,
      id: "n",
      type,
      condition,
    });
  });
}

const TARGET_REFUSALS: Array<
  { name: string; to: string; kind: "iq" | "message"; iqType?: "get" | "set"; condition: string }
> = [
  {
    name: "an iq get from the target to <domain>/<someone>",
    to: `${DOMAIN}/${ALICE}`,
    kind: "iq",
    iqType: "get",
    condition: "feature-not-implemented",
  },
  {
    name: "an iq set from the target to the bare domain",
    to: DOMAIN,
    kind: "iq",
    iqType: "set",
    condition: "bad-request",
  },
  {
    name: "a message from the target to the bare domain",
    to: DOMAIN,
    kind: "message",
    condition: "bad-request",
  },
];
for (const { name, to, kind, iqType, condition } of TARGET_REFUSALS) {
  Deno.test(`refused: ${name} gets ${condition}`, () => {
    const router = setup(["a"]);
    const stanza = kind === "iq"
      ? `<iq type="${iqType}" id="t" from="${TARGET}/a" to="${to}"><q xmlns="urn:x"/></iq>`
      : `<message id="t" from="${TARGET}/a" to="${to}"><body>x</body></message>`;
    const out = only(router.receive(parseXml(stanza), 0));
    assert.equal(out.name, kind);
    assert.equal(out.attrs.type, "error");
    assert.equal(out.attrs.to, `${TARGET}/a`);
    assert.equal(out.attrs.from, to);
    assert.ok(out.getChild("error")?.getChild(condition, STANZAS));
  });
}

const SILENT: Array<{ name: string; stanza: string; reason?: string }> = [
  {
    name: "an iq error from anyone",
    stanza: `<iq type="error" id="x" from="${ALICE}" to="${DOMAIN}"/>`,
    reason: "error_stanza",
  },
  {
    name: "an iq result from anyone",
    stanza: `<iq type="result" id="x" from="${ALICE}" to="${DOMAIN}/y"/>`,
    reason: "unexpected_reply",
  },
  {
    name: "a message error",
    stanza: `<message type="error" id="x" from="${ALICE}" to="${DOMAIN}"/>`,
    reason: "error_stanza",
  },
  {
    name: "a presence error from someone else",
    stanza: `<presence type="error" from="${ALICE}" to="${DOMAIN}"/>`,
    reason: "error_stanza",
  },
  {
    name: "an iq error from the target to the bare domain",
    stanza: `<iq type="error" id="x" from="${TARGET}/a" to="${DOMAIN}"/>`,
    reason: "error_stanza",
  },
  {
    name: "a result to a resource that is no JID",
    stanza: `<iq type="result" id="x" from="${TARGET}/a" to="${DOMAIN}/@bad@"/>`,
    reason: "bad_address",
  },
  {
    name: "a result to an empty-domain resource",
    stanza: `<iq type="result" id="x" from="${TARGET}/a" to="${DOMAIN}/user@"/>`,
    reason: "bad_address",
  },
  {
    name: "a stanza for another domain",
    stanza: `<iq type="get" id="x" from="${ALICE}" to="other.example.org"/>`,
    reason: "not_ours",
  },
  {
    name: "a stanza without from",
    stanza: `<iq type="get" id="x" to="${DOMAIN}"/>`,
    reason: "no_address",
  },
];
for (const { name, stanza, reason } of SILENT) {
  Deno.test(`never answered: ${name}`, () => {
    const router = setup(["a"]);
    const fx = router.receive(parseXml(stanza), 0);
    assert.equal(fx.send.length, 0, `sent ${fx.send.join(" | ")}`);
    assert.deepEqual(fx.events.map((e) => e.type === "dropped" && e.reason), [
      reason,
    ]);
  });
}

Deno.test("a get without an id gets bad-request without an id", () => {
  const router = setup(["a"]);
  const out = only(
    router.receive(
      parseXml(
        `<iq type="get" from="${ALICE}" to="${DOMAIN}"><q xmlns="urn:x"/></iq>`,
      ),
      0,
    ),
  );
  assertError(out, {
    to: ALICE,
    from: DOMAIN,
    type: "modify",
    condition: "bad-request",
  });
});

// --- exactly one reply ------------------------------------------------------

Deno.test("a reply nobody asked for, or from the wrong resource, is dropped", () => {
  const router = setup(["a", "b"]);
  router.receive(get("1"), 0); // to a (random = 0)
  const forged = router.receive(result("1", "a", "mallory@example.org/x"), 0);
  assert.equal(forged.send.length, 0);
  assert.equal(router.receive(result("2"), 0).send.length, 0, "unknown id");
  assert.equal(
    router.receive(result("1", "b"), 0).send.length,
    0,
    "wrong resource",
  );
  assert.equal(only(router.receive(result("1", "a"), 0)).attrs.to, ALICE);
  assert.equal(
    router.receive(result("1", "a"), 0).send.length,
    0,
    "second reply",
  );
});

Deno.test("a reused id that is still pending gets conflict; the first request is unaffected", () => {
  const router = setup(["a"]);
  router.receive(get("dup"), 0);
  assertError(only(router.receive(get("dup"), 1)), {
    to: ALICE,
    from: DOMAIN,
    id: "dup",
    type: "cancel",
    condition: "conflict",
  });
  assert.equal(router.pendingCount, 1);
  assert.equal(only(router.receive(result("dup"), 2)).attrs.type, "result");
  // Once answered, the id may be used again.
  assert.equal(only(router.receive(get("dup"), 3)).attrs.to, `${TARGET}/a`);
});

Deno.test("timeout: remote-server-timeout from the bare domain, and the late reply is dropped", () => {
  const router = setup(["a"], { requestTimeoutMs: 2000 });
  router.receive(get("slow", ALICE, `${DOMAIN}/res`), 1000);
  assert.equal(router.nextWake(), 3000);
  assert.equal(router.tick(2999).send.length, 0);
  assertError(only(router.tick(3000)), {
    to: ALICE,
    from: DOMAIN,
    id: "slow",
    type: "wait",
    condition: "remote-server-timeout",
  });
  assert.equal(router.nextWake(), undefined);
  assert.equal(router.receive(result("slow"), 3001).send.length, 0);
});

Deno.test("the table is empty after N requests that all time out", () => {
  const router = setup(["a", "b"], { requestTimeoutMs: 100, maxPendingPerResource: 10_000 });
  const n = 5000;
  for (let i = 0; i < n; i++) {
    router.receive(get(`t${i}`, `u${i % 7}@example.org/r`), i);
  }
  assert.equal(router.pendingCount, n);
  let answered = 0;
  // The last request times out at n - 1 + 100 ms; the limit only keeps a
  // nextWake() that never becomes undefined from looping forever.
  const limit = 10 * n;
  for (let now = 0; now <= limit && router.nextWake() !== undefined; now += 50) {
    answered += router.tick(now).send.length;
  }
  assert.equal(router.nextWake(), undefined);
  assert.equal(answered, n);
  assert.equal(router.pendingCount, 0);
});

Deno.test("a shorter timeout after a reload applies to the next request, not to older ones", () => {
  const router = setup(["a"], { requestTimeoutMs: 10_000 });
  router.receive(get("old"), 0);
  router.settings = { ...router.settings, requestTimeoutMs: 1000 };
  router.receive(get("new"), 0);
  assert.equal(router.nextWake(), 1000);
  assert.deepEqual(router.tick(1000).send.map((el) => el.attrs.id), ["new"]);
  assert.deepEqual(router.tick(10_000).send.map((el) => el.attrs.id), ["old"]);
});

Deno.test("failover: a get is re-sent once to another resource; a set gets recipient-unavailable", () => {
  const router = setup(["a", "b"]);
  router.receive(get("g"), 0);
  router.receive(get("s", ALICE, DOMAIN, "set"), 0);
  const fx = router.receive(unavailable("a"), 10);
  assert.equal(fx.send.length, 2);
  const [resent, lost] = fx.send;
  assert.deepEqual(attrs(resent), {
    type: "get",
    id: "g",
    to: `${TARGET}/b`,
    from: `${DOMAIN}/${ALICE}`,
  });
  assertError(lost, {
    to: ALICE,
    from: DOMAIN,
    id: "s",
    type: "wait",
    condition: "recipient-unavailable",
  });
  // The re-sent get is answered by b only.
  assert.equal(router.receive(result("g", "a"), 11).send.length, 0);
  assert.equal(only(router.receive(result("g", "b"), 12)).attrs.type, "result");
});

Deno.test("failover: a get already re-sent once, or with no other resource, gets service-unavailable", () => {
  const router = setup(["a", "b"]);
  router.receive(get("g"), 0);
  router.receive(unavailable("a"), 1); // re-sent to b
  router.receive(resourcePresence("a"), 2);
  assertError(only(router.receive(unavailable("b"), 3)), {
    to: ALICE,
    from: DOMAIN,
    id: "g",
    type: "cancel",
    condition: "service-unavailable",
  });
  assert.equal(router.pendingCount, 0);
});

Deno.test("failover: a presence error settles every pending request", () => {
  const router = setup(["a"]);
  router.receive(get("g"), 0);
  router.receive(get("s", ALICE, DOMAIN, "set"), 0);
  const fx = router.receive(
    parseXml(`<presence type="error" from="${TARGET}" to="${DOMAIN}"/>`),
    1,
  );
  assert.deepEqual(
    fx.send.map((el) => el.getChild("error")?.children[0]).map((c) =>
      typeof c !== "string" && c?.name
    ),
    [
      "service-unavailable",
      "recipient-unavailable",
    ],
  );
  assert.equal(router.pendingCount, 0);
});

const serviceUnavailable = (id: string, resource = "a", text = "") =>
  parseXml(
    `<iq type="error" id="${id}" from="${TARGET}/${resource}" to="${DOMAIN}/${ALICE}"><error type="cancel"><service-unavailable xmlns="${STANZAS}"/>${text}</error></iq>`,
  );

Deno.test("an online resource's own service-unavailable goes to the requester as it is", () => {
  // RFC 6120 §8.4: the answer to a payload the client does not support.
  const router = setup(["a", "b"]);
  router.receive(get("g"), 0);
  const text = `<text xmlns="${STANZAS}">unknown namespace</text>`;
  const out = only(router.receive(serviceUnavailable("g", "a", text), 1));
  assertError(out, {
    to: ALICE,
    from: DOMAIN,
    id: "g",
    type: "cancel",
    condition: "service-unavailable",
  });
  assert.equal(out.getChild("error")?.getChildText("text", STANZAS), "unknown namespace");
  assert.equal(router.pendingCount, 0);
});

Deno.test("after a reconnect, the server's bounce from a resource not back fails over", () => {
  const router = setup(["a", "b"]);
  router.receive(get("g"), 0); // to a
  router.receive(get("s", ALICE, DOMAIN, "set"), 1); // to a
  router.online(10);
  router.receive(resourcePresence("b"), 11);
  assert.deepEqual(forwardedTo(router.receive(serviceUnavailable("g"), 12)), [`${TARGET}/b`]);
  assertError(only(router.receive(serviceUnavailable("s"), 13)), {
    to: ALICE,
    from: DOMAIN,
    id: "s",
    type: "wait",
    condition: "recipient-unavailable",
  });
});

Deno.test("after a reconnect, a resource announced again takes back its requests, and fails them over when it goes", () => {
  const router = setup(["a", "b"]);
  router.receive(get("g"), 0); // to a
  router.online(10);
  router.receive(resourcePresence("b"), 11);
  router.receive(resourcePresence("a"), 12);
  assert.deepEqual(forwardedTo(router.receive(unavailable("a"), 13)), [`${TARGET}/b`]);
});

Deno.test("after a reconnect, requests whose resource is not announced again within the first second fail over", () => {
  const router = setup(["a", "b"]);
  router.receive(get("g"), 0); // to a
  router.receive(get("s", ALICE, DOMAIN, "set"), 1); // to a
  router.online(10);
  router.receive(
    parseXml(`<presence type="subscribed" from="${TARGET}" to="${DOMAIN}"/>`),
    11,
  );
  router.receive(resourcePresence("b"), 12);
  assert.equal(router.nextWake(), 1_010);
  assert.equal(router.tick(1_009).send.length, 0);
  const fx = router.tick(1_010);
  assert.equal(fx.send.length, 2, fx.send.join(" | "));
  assert.deepEqual(forwardedTo({ send: [fx.send[0]], events: [] }), [`${TARGET}/b`]);
  assertError(fx.send[1], {
    to: ALICE,
    from: DOMAIN,
    id: "s",
    type: "wait",
    condition: "recipient-unavailable",
  });
  assert.equal(router.nextWake(), 30_000, "the re-sent get keeps its deadline");
});

Deno.test("after a reconnect with no word from the server, pending requests wait for their reply", () => {
  const router = setup(["a"]);
  router.receive(get("g"), 0);
  router.online(10);
  assert.equal(router.tick(1_010).send.length, 0);
  const out = only(router.receive(result("g"), 1_500));
  assert.equal(out.attrs.type, "result");
  assert.equal(out.attrs.to, ALICE);
});

Deno.test("requests waiting for the first resource count towards max_pending_per_requester", () => {
  const router = testRouter({ maxPendingPerRequester: 2 });
  assert.equal(router.receive(get("w1"), 10).send.length, 0);
  assert.equal(router.receive(get("w2"), 10).send.length, 0);
  assertError(only(router.receive(get("w3"), 10)), toAlice("w3", "wait", "resource-constraint"));
});

Deno.test("max_pending caps everything held: waiting messages and the target's requests too", () => {
  const router = testRouter({ maxPending: 2, messages: "forward", allowTargetRequests: true });
  const chat = parseXml(
    `<message type="chat" id="m1" from="bob@example.org/r" to="${DOMAIN}"><body>hi</body></message>`,
  );
  assert.equal(router.receive(chat, 10).send.length, 0, "the message waits");
  assert.equal(router.receive(get("w1"), 10).send.length, 0, "the request waits");
  assertError(only(router.receive(get("w2"), 10)), toAlice("w2", "wait", "resource-constraint"));
  const ask = `<iq type="get" id="t1" from="${TARGET}/a" to="${DOMAIN}/bob@example.org"/>`;
  assertError(only(router.receive(parseXml(ask), 10)), {
    to: `${TARGET}/a`,
    from: `${DOMAIN}/bob@example.org`,
    id: "t1",
    type: "wait",
    condition: "resource-constraint",
  });
  assert.equal(router.inFlightCount, 2);
});

Deno.test("a get whose payload nests 20,000 deep fails over with that payload, byte for byte", () => {
  const deep = "<a>".repeat(20_000) + "x" + "</a>".repeat(20_000);
  const router = setup(["a", "b"]);
  const request = `<iq type="get" id="deep" from="${ALICE}" to="${DOMAIN}">${deep}</iq>`;
  // As the stream reads it: lazily, the payload kept as text.
  router.receive(parseStanza(request), 0);
  const fx = router.receive(unavailable("a"), 1);
  assert.equal(fx.send.length, 1);
  const resent = serialize(fx.send[0]);
  assert.equal(
    resent,
    `<iq type="get" id="deep" to="${TARGET}/b" from="${DOMAIN}/${ALICE}">${deep}</iq>`,
  );
});

Deno.test("while draining, a get whose resource goes is still re-sent to another", () => {
  const router = setup(["a", "b"]);
  router.receive(get("g"), 0); // to a
  router.drain();
  assert.deepEqual(forwardedTo(router.receive(unavailable("a"), 1)), [`${TARGET}/b`]);
});

// --- balancing --------------------------------------------------------------

function spread(
  router: Router,
  requests: number,
  requester = (i: number) => `u${i}@example.org/r`,
): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < requests; i++) {
    const to = only(router.receive(get(`b${i}`, requester(i)), 0)).attrs
      .to as string;
    counts.set(to, (counts.get(to) ?? 0) + 1);
  }
  return counts;
}

Deno.test("round-robin: 300 requests over 3 resources give each exactly 100", () => {
  const router = setup(["a", "b", "c"], { balance: "round-robin" });
  assert.deepEqual([...spread(router, 300).values()], [100, 100, 100]);
});

Deno.test("least-pending: the resource holding fewest requests wins, ties at random", () => {
  const router = setup(["a", "b"], { balance: "least-pending" }, () => 0.99);
  router.receive(get("1"), 0); // tie: random 0.99 keeps a
  assert.equal(only(router.receive(get("2"), 0)).attrs.to, `${TARGET}/b`);
  assert.equal(only(router.receive(get("3"), 0)).attrs.to, `${TARGET}/a`);
  router.receive(result("1", "a"), 0);
  router.receive(result("3", "a"), 0);
  assert.equal(only(router.receive(get("4"), 0)).attrs.to, `${TARGET}/a`);
});

Deno.test("random: uses the injected random numbers", () => {
  let next = 0;
  const values = [0.1, 0.6, 0.4];
  const router = setup(
    ["a", "b"],
    { balance: "random" },
    () => values[next++ % values.length],
  );
  assert.deepEqual(
    [0, 1, 2].map((i) => only(router.receive(get(`${i}`), 0)).attrs.to),
    [
      `${TARGET}/a`,
      `${TARGET}/b`,
      `${TARGET}/a`,
    ],
  );
});

Deno.test("sticky: one requester stays on one resource, and moves only when it leaves", () => {
  const router = setup(["a", "b", "c", "d"], { balance: "sticky" });
  const requesters = Array.from(
    { length: 40 },
    (_, i) => `user${i}@example.org`,
  );
  const place = () =>
    new Map(requesters.map((r, i) => {
      const fx = router.receive(
        get(`x${i}-${Math.random()}`, `${r}/${i % 3}`),
        0,
      );
      return [r, only(fx).attrs.to as string];
    }));
  const first = place();
  assert.deepEqual(
    place(),
    first,
    "same placement, whatever the requester's resource",
  );
  assert.ok(
    new Set(first.values()).size > 1,
    "requesters spread over resources",
  );
  router.receive(unavailable("b"), 0);
  const after = place();
  for (const r of requesters) {
    if (first.get(r) !== `${TARGET}/b`) {
      assert.equal(after.get(r), first.get(r), `${r} moved`);
    } else assert.notEqual(after.get(r), `${TARGET}/b`);
  }
});

Deno.test("sticky: a resource coming online takes no requester that already has one", () => {
  const router = setup(["a", "b"], { balance: "sticky" });
  const requesters = Array.from({ length: 40 }, (_, i) => `user${i}@example.org/r`);
  const before = requesters.map((r, i) => only(router.receive(get(`p${i}`, r), 0)).attrs.to);
  router.receive(resourcePresence("c"), 1);
  const after = requesters.map((r, i) => only(router.receive(get(`q${i}`, r), 2)).attrs.to);
  assert.deepEqual(after, before);
  // A newcomer may well go to the new resource: placement is by rendezvous.
  const newcomers = Array.from({ length: 40 }, (_, i) => `new${i}@example.org/r`);
  const placed = newcomers.map((r, i) => only(router.receive(get(`n${i}`, r), 3)).attrs.to);
  assert.ok(placed.includes(`${TARGET}/c`), "new requesters spread over c too");
});

Deno.test("sticky: a requester on a negative-priority resource moves when a normal one comes", () => {
  const router = setup([["low", -1]], { balance: "sticky" });
  assert.equal(only(router.receive(get("1"), 0)).attrs.to, `${TARGET}/low`);
  router.receive(resourcePresence("a"), 1);
  assert.equal(only(router.receive(get("2"), 2)).attrs.to, `${TARGET}/a`);
});

Deno.test("sticky: a requester whose resource is full for a moment goes back to it once it has room", () => {
  const router = setup(["a", "b"], { balance: "sticky", maxPendingPerResource: 1 });
  const home = only(router.receive(get("1"), 0)).attrs.to as string;
  const other = only(router.receive(get("2"), 1)).attrs.to as string;
  assert.notEqual(other, home, "lent to the other while its own is full");
  router.receive(result("1", home.split("/")[1]), 2);
  router.receive(result("2", other.split("/")[1]), 2);
  assert.equal(only(router.receive(get("3"), 3)).attrs.to, home, "back home");
});

Deno.test("a resource's directed presence to <domain>/<JID> changes neither its availability nor its subscription", () => {
  const router = setup(["a"]);
  only(router.receive(get("held"), 0));
  for (const type of [undefined, "unavailable", "error", "unsubscribed"]) {
    const directed = parseXml(
      `<presence${
        type ? ` type="${type}"` : ""
      } from="${TARGET}/a" to="${DOMAIN}/bob@example.org"/>`,
    );
    const fx = router.receive(directed, 1);
    assert.deepEqual(fx.send, [], "no failover, no answer");
    assert.deepEqual(fx.events.map((e) => e.type === "dropped" ? e.reason : e.type), [
      "ignored_presence",
    ]);
  }
  assert.deepEqual(router.resources, ["a"]);
  assert.equal(router.pendingCount, 1, "its request still waits for its answer");
});

Deno.test("a negative-priority resource is used only when no other is online", () => {
  const router = setup([["low", -1], "a"], { balance: "round-robin" });
  assert.deepEqual([...spread(router, 4).keys()], [`${TARGET}/a`]);
  router.receive(unavailable("a"), 0);
  assert.equal(only(router.receive(get("z"), 0)).attrs.to, `${TARGET}/low`);
});

Deno.test("max_pending_per_resource skips a full resource; all full gives resource-constraint", () => {
  const router = setup(["a", "b"], {
    balance: "round-robin",
    maxPendingPerResource: 1,
  });
  assert.equal(only(router.receive(get("1"), 0)).attrs.to, `${TARGET}/a`);
  assert.equal(only(router.receive(get("2"), 0)).attrs.to, `${TARGET}/b`);
  assertError(only(router.receive(get("3"), 0)), {
    to: ALICE,
    from: DOMAIN,
    id: "3",
    type: "wait",
    condition: "resource-constraint",
  });
});

Deno.test("max_pending caps the table: beyond it, resource-constraint", () => {
  const router = setup(["a"], { maxPending: 2 });
  router.receive(get("1"), 0);
  router.receive(get("2"), 0);
  assertError(only(router.receive(get("3"), 0)), {
    to: ALICE,
    from: DOMAIN,
    id: "3",
    type: "wait",
    condition: "resource-constraint",
  });
  assert.equal(router.pendingCount, 2);
});

// --- long addresses ---------------------------------------------------------

Deno.test("long address: a requester whose JID does not fit a resource gets a token, and its answer", () => {
  const router = setup(["a"]);
  const requester = `bob@example.org/${"r".repeat(1010)}`;
  const out = only(router.receive(get("L", requester), 0));
  const from = out.attrs.from as string;
  assert.ok(from.startsWith(`${DOMAIN}//`), from);
  assert.ok(from.length < 64, "the token is short");
  const reply = parseXml(
    `<iq type="result" id="L" from="${TARGET}/a" to="${from}"/>`,
  );
  assert.deepEqual(attrs(only(router.receive(reply, 1))), {
    type: "result",
    id: "L",
    to: requester,
    from: DOMAIN,
  });
  assert.equal(
    router.receive(reply, 2).send.length,
    0,
    "the token is gone with its request",
  );
});

Deno.test("long address: a reused id is caught; a short JID keeps the mod_client_proxy form", () => {
  const router = setup(["a"]);
  const requester = `bob@example.org/${"é".repeat(600)}`; // 1200 bytes, 600 characters
  router.receive(get("L", requester), 0);
  assert.equal(
    only(router.receive(get("L", requester), 0)).attrs.type,
    "error",
  );
  const fits = `bob@example.org/${"r".repeat(1023 - "bob@example.org/".length)}`;
  assert.equal(
    only(router.receive(get("L", fits), 0)).attrs.from,
    `${DOMAIN}/${fits}`,
  );
});

// --- shutdown ---------------------------------------------------------------

Deno.test("shutdown: new requests get service-unavailable (wait); the rest are settled, then unavailable", () => {
  const router = setup(["a"]);
  router.receive(get("in-flight"), 0);
  router.drain();
  assertError(only(router.receive(get("late"), 1)), {
    to: ALICE,
    from: DOMAIN,
    id: "late",
    type: "wait",
    condition: "service-unavailable",
  });
  const fx = router.settleAll(2);
  assert.equal(fx.send.length, 2);
  assertError(fx.send[0], {
    to: ALICE,
    from: DOMAIN,
    id: "in-flight",
    type: "wait",
    condition: "service-unavailable",
  });
  assert.equal(
    fx.send[1].toString(),
    `<presence type="unavailable" to="${TARGET}" from="${DOMAIN}"/>`,
  );
  assert.equal(router.pendingCount, 0);
  assert.equal(router.nextWake(), undefined);
});

Deno.test("a look that takes over with no resource known asks for the target's presence again", () => {
  // ejabberd: a look's subscription answered to the instance that was dying.
  const router = setup(["a"]);
  router.handOver(100);
  assert.equal(only(router.online(200)).attrs.type, "subscribe");
  const fx = router.takeOver(600);
  assert.equal(
    only(fx).toString(),
    `<presence type="subscribe" to="${TARGET}" from="${DOMAIN}"/>`,
  );
  // Answered this time: the resource is back, and a take-over then asks nothing.
  router.receive(parseXml(`<presence type="subscribed" from="${TARGET}" to="${DOMAIN}"/>`), 610);
  router.receive(resourcePresence("a"), 620);
  assert.deepEqual(router.resources, ["a"]);
  assert.equal(router.takeOver(700).send.length, 0);
});

Deno.test("a standby stopped during a look speaks for nobody: no goodbye, subscribers told nothing", () => {
  const router = testRouter({ presence: true }, {
    subscribers: ["alice@example.org"],
    resources: ["a"],
  });
  router.handOver(100);
  assert.equal(only(router.online(5_000, true)).attrs.type, "subscribe");
  router.drain();
  const fx = router.settleAll(5_200);
  assert.deepEqual(fx.send.map((el) => el.toString()), []);
  assert.equal(router.nextWake(), undefined);
});

Deno.test("a reconnect forgets resources but keeps their requests answerable", () => {
  const router = setup(["a"]);
  router.receive(get("1"), 0);
  const fx = router.online(5);
  assert.equal(only(fx).attrs.type, "subscribe");
  assert.deepEqual(router.resources, []);
  assert.equal(only(router.receive(result("1"), 6)).attrs.to, ALICE);
});

Deno.test("every stanza sent is from the domain or a resource of it", () => {
  const router = setup(["a", "b"], { requestTimeoutMs: 10 });
  const all: XmlElement[] = [];
  const feed = (fx: Effects) => all.push(...fx.send);
  feed(router.receive(get("1"), 0));
  feed(router.receive(get("2", ALICE, DOMAIN, "set"), 0));
  feed(
    router.receive(parseXml(`<message from="${ALICE}" to="${DOMAIN}/q"/>`), 0),
  );
  feed(router.receive(unavailable("a"), 1));
  feed(router.tick(100));
  feed(router.settleAll(101));
  assert.ok(all.length >= 4);
  for (const el of all) {
    const from = el.attrs.from as string;
    assert.ok(
      from === DOMAIN || from.startsWith(`${DOMAIN}/`),
      `from ${from} in ${el}`,
    );
  }
});

// --- access and limits ------------------------------------------------------

Deno.test("access: a denied requester gets forbidden (auth), or service-unavailable when hidden", () => {
  const router = setup(["a"], { allow: ["@example.org"], deny: ["mallory@example.org"] });
  assertError(only(router.receive(get("1", "mallory@example.org/x"), 0)), {
    to: "mallory@example.org/x",
    from: DOMAIN,
    id: "1",
    type: "auth",
    condition: "forbidden",
  });
  assertError(only(router.receive(get("2", "eve@elsewhere.net/x"), 0)), {
    to: "eve@elsewhere.net/x",
    from: DOMAIN,
    id: "2",
    type: "auth",
    condition: "forbidden",
  });
  assert.equal(only(router.receive(get("3"), 0)).attrs.to, `${TARGET}/a`, "alice is allowed");
  router.settings = { ...router.settings, hideFromDenied: true };
  assertError(only(router.receive(get("4", "mallory@example.org/x"), 0)), {
    to: "mallory@example.org/x",
    from: DOMAIN,
    id: "4",
    type: "cancel",
    condition: "service-unavailable",
  });
});

Deno.test("rate limit: a requester over its bucket gets resource-constraint; others are served", () => {
  const router = setup(["a"], {
    rateLimit: { perSecond: 2, burst: 3 },
    maxPendingPerResource: 100,
  });
  const sent = [0, 1, 2, 3].map((i) => only(router.receive(get(`r${i}`), 0)));
  assert.deepEqual(sent.map((el) => el.attrs.type), ["get", "get", "get", "error"]);
  assertError(sent[3], {
    to: ALICE,
    from: DOMAIN,
    id: "r3",
    type: "wait",
    condition: "resource-constraint",
  });
  assert.equal(only(router.receive(get("b0", "bob@example.org/x"), 0)).attrs.type, "get");
  // Half a second later one token is back (2 per second).
  assert.equal(only(router.receive(get("r4"), 500)).attrs.type, "get");
  assert.equal(only(router.receive(get("r5"), 500)).attrs.type, "error");
});

Deno.test("max_pending_per_requester: beyond it resource-constraint, other requesters unaffected", () => {
  const router = setup(["a"], { maxPendingPerRequester: 2 });
  router.receive(get("1"), 0);
  router.receive(get("2", "alice@example.org/other"), 0); // same bare JID
  assertError(only(router.receive(get("3"), 0)), {
    to: ALICE,
    from: DOMAIN,
    id: "3",
    type: "wait",
    condition: "resource-constraint",
  });
  assert.equal(only(router.receive(get("b", "bob@example.org/x"), 0)).attrs.type, "get");
  router.receive(result("1"), 1);
  assert.equal(only(router.receive(get("4"), 2)).attrs.type, "get", "an answer frees a slot");
});

Deno.test("hand-over to a sibling instance answers every request held, service-unavailable (wait)", () => {
  const router = setup(["a"]);
  router.receive(get("1"), 0);
  router.receive(get("2", ALICE, DOMAIN, "set"), 0);
  const fx = router.handOver(5);
  assert.equal(fx.send.length, 2);
  for (const [i, el] of fx.send.entries()) {
    assertError(el, {
      to: ALICE,
      from: DOMAIN,
      id: `${i + 1}`,
      type: "wait",
      condition: "service-unavailable",
    });
  }
  assert.equal(router.pendingCount, 0);
  assert.equal(router.receive(result("1"), 6).send.length, 0, "a late reply is dropped");
});

Deno.test("subscribed from the target: a probe follows (ejabberd sends presence only when asked)", () => {
  const router = setup([]);
  const fx = router.receive(
    parseXml(`<presence type="subscribed" from="${TARGET}" to="${DOMAIN}"/>`),
    0,
  );
  assert.equal(only(fx).toString(), `<presence type="probe" to="${TARGET}" from="${DOMAIN}"/>`);
});

/** The error our domain sends Alice for her request `id`. */
function toAlice(id: string, type: string, condition: string) {
  return { to: ALICE, from: DOMAIN, id, type, condition };
}

// Just after (re)connecting, the server has not yet told which resources
// are online: a request that finds none waits for the first one.

Deno.test("just after connecting, a request that finds no resource waits for the first one", () => {
  const router = setup([]);
  const waiting = router.receive(get("w1"), 10);
  assert.deepEqual(waiting.send.map(String), [], "nothing sent yet");
  assert.equal(router.pendingCount, 1);
  assert.equal(router.nextWake(), 1_000, "it waits until a second after going online");
  const forwarded = only(router.receive(resourcePresence("a"), 20));
  assert.deepEqual(attrs(forwarded), {
    type: "get",
    id: "w1",
    from: `${DOMAIN}/${ALICE}`,
    to: `${TARGET}/a`,
  });
  assert.equal(forwarded.getChildText("query", "urn:example:q"), "hi");
  const fx = router.receive(result("w1"), 30);
  assert.deepEqual(attrs(only(fx)), { type: "result", id: "w1", from: DOMAIN, to: ALICE });
  const done = fx.events.find((e) => e.type === "outcome");
  assert.deepEqual(done, {
    type: "outcome",
    outcome: "result",
    requester: ALICE,
    id: "w1",
    durationMs: 20,
  }, "the wait counts in its duration");
  assert.equal(router.pendingCount, 0);
});

Deno.test("requests waiting for a resource go in order, and time out from their arrival", () => {
  const router = setup([], { requestTimeoutMs: 5_000 });
  router.receive(get("w1"), 10);
  router.receive(get("w2", "bob@example.org/x"), 15);
  const fx = router.receive(resourcePresence("a"), 900);
  assert.deepEqual(fx.send.map((el) => el.attrs.id), ["w1", "w2"]);
  assert.equal(router.nextWake(), 5_010, "w1's deadline counts from its arrival");
});

Deno.test("no resource within the first second: service-unavailable, at the second's end", () => {
  const router = setup([]);
  router.receive(get("w1"), 10);
  assert.deepEqual(router.tick(999).send.map(String), []);
  assertError(only(router.tick(1_000)), toAlice("w1", "cancel", "service-unavailable"));
  assert.equal(router.pendingCount, 0);
  assert.equal(router.nextWake(), undefined);
  // The window is closed: the next one is refused at once.
  assertError(
    only(router.receive(get("w2"), 1_001)),
    toAlice("w2", "cancel", "service-unavailable"),
  );
});

Deno.test("the wait for a resource never outlasts the request's own timeout", () => {
  const router = setup([], { requestTimeoutMs: 300 });
  router.receive(get("w1"), 10);
  assert.equal(router.nextWake(), 310);
  assertError(only(router.tick(310)), toAlice("w1", "cancel", "service-unavailable"));
});

Deno.test("a waiting request: its id reused gets conflict; shutdown and hand-over answer it", () => {
  const router = setup([]);
  router.receive(get("w1"), 10);
  assertError(only(router.receive(get("w1"), 11)), toAlice("w1", "cancel", "conflict"));
  const settled = router.settleAll(12);
  assertError(settled.send[0], toAlice("w1", "wait", "service-unavailable"));
  assert.equal(router.pendingCount, 0);
  const other = setup([]);
  other.receive(get("w2"), 10);
  assertError(only(other.handOver(20)), toAlice("w2", "wait", "service-unavailable"));
});

Deno.test("every reconnect opens the window again", () => {
  const router = setup([]);
  router.online(5_000);
  assert.deepEqual(router.receive(get("w1"), 5_500).send.map(String), []);
  assert.equal(router.nextWake(), 6_000);
});

// The router as a whole: the seed's exchange, shutdown, looks and hand-over, and what it may send.
import assert from "node:assert/strict";
import type { Effects } from "../../src/core/router.ts";
import { parseXml, type XmlElement } from "../../src/core/xml.ts";
import {
  ALICE,
  assertError,
  attrs,
  DOMAIN,
  get,
  only,
  resourcePresence,
  result,
  routerWith,
  STANZAS,
  TARGET,
  testRouter,
  unavailable,
} from "../support/router.ts";

Deno.test("a get to the bare domain goes to the resource with the same id and the JAT from", () => {
  const router = routerWith(["a"]);
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
  const router = routerWith(["a"]);
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
  const router = routerWith(["a"]);
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
  const router = routerWith(["a"]);
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
  const router = routerWith(["a"]);
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

Deno.test("shutdown: new requests get service-unavailable (wait); the rest are settled, then unavailable", () => {
  const router = routerWith(["a"]);
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
  const router = routerWith(["a"]);
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
  const router = routerWith(["a"]);
  router.receive(get("1"), 0);
  const fx = router.online(5);
  assert.equal(only(fx).attrs.type, "subscribe");
  assert.deepEqual(router.resources, []);
  assert.equal(only(router.receive(result("1"), 6)).attrs.to, ALICE);
});

Deno.test("every stanza sent is from the domain or a resource of it", () => {
  const router = routerWith(["a", "b"], { requestTimeoutMs: 10 });
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

Deno.test("hand-over to a sibling instance answers every request held, service-unavailable (wait)", () => {
  const router = routerWith(["a"]);
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

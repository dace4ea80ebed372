// Forwarded requests until their one answer: replies, timeouts, failover, reconnects, long addresses.
import assert from "node:assert/strict";
import { parseStanza } from "../../src/core/xml_scan.ts";
import { parseXml, serialize } from "../../src/core/xml.ts";
import { MAX_KEPT_CHARS } from "../../src/core/forwarded.ts";
import {
  ALICE,
  assertError,
  attrs,
  DOMAIN,
  forwardedTo,
  get,
  only,
  resourcePresence,
  result,
  routerWith,
  STANZAS,
  TARGET,
  unavailable,
} from "../support/router.ts";

Deno.test("a reply nobody asked for, or from the wrong resource, is dropped", () => {
  const router = routerWith(["a", "b"]);
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
  const router = routerWith(["a"]);
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
  const router = routerWith(["a"], { requestTimeoutMs: 2000 });
  router.receive(get("slow", ALICE), 1000);
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

Deno.test("a request to a resource of the domain is answered from that address, however it ends", () => {
  const router = routerWith(["a"], { requestTimeoutMs: 2000 });
  // The domain in another case, as a client may write it; the resource as is.
  const asked = `${DOMAIN.toUpperCase()}/Desk`;
  const from = `${DOMAIN}/Desk`;
  router.receive(get("answered", ALICE, asked), 0);
  const reply = only(router.receive(result("answered"), 10));
  assert.deepEqual(attrs(reply), { type: "result", id: "answered", from, to: ALICE });
  router.receive(get("slow", ALICE, asked), 100);
  assertError(only(router.tick(2100)), {
    to: ALICE,
    from,
    id: "slow",
    type: "wait",
    condition: "remote-server-timeout",
  });
  // The bare domain, asked, answers as the bare domain.
  router.receive(get("bare", ALICE), 3000);
  assert.equal(only(router.receive(result("bare"), 3010)).attrs.from, DOMAIN);
  // Its only resource gone: the failover finds none.
  router.receive(get("orphaned", ALICE, asked), 4000);
  const failover = router.receive(unavailable("a"), 4010).send.filter((el) => el.name === "iq");
  assert.deepEqual(failover.map((el) => [el.attrs.id, el.attrs.from]), [["orphaned", from]]);
  // Shutting down: what is pending is answered from where it was asked too.
  router.receive(resourcePresence("b"), 5000);
  router.receive(get("at-shutdown", ALICE, asked), 5010);
  const settled = router.settleAll(5020).send.filter((el) => el.name === "iq");
  assert.deepEqual(settled.map((el) => [el.attrs.id, el.attrs.from]), [["at-shutdown", from]]);
});

Deno.test("the table is empty after N requests that all time out", () => {
  const router = routerWith(["a", "b"], { requestTimeoutMs: 100, maxPendingPerResource: 10_000 });
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
  const router = routerWith(["a"], { requestTimeoutMs: 10_000 });
  router.receive(get("old"), 0);
  router.settings = { ...router.settings, requestTimeoutMs: 1000 };
  router.receive(get("new"), 0);
  assert.equal(router.nextWake(), 1000);
  assert.deepEqual(router.tick(1000).send.map((el) => el.attrs.id), ["new"]);
  assert.deepEqual(router.tick(10_000).send.map((el) => el.attrs.id), ["old"]);
});

Deno.test("failover: a get is re-sent once to another resource; a set gets recipient-unavailable", () => {
  const router = routerWith(["a", "b"]);
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
  const router = routerWith(["a", "b"]);
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

Deno.test("failover: the gets' copies are held to a budget; past it a get fails over with an answer", () => {
  const router = routerWith(["a", "b"]);
  const big = (id: string) =>
    parseXml(
      `<iq type="get" id="${id}" from="${ALICE}" to="${DOMAIN}"><q xmlns="urn:x">${
        "x".repeat(MAX_KEPT_CHARS / 4 - 200)
      }</q></iq>`,
    );
  // Four fill the budget; a fifth is forwarded all the same, without a copy.
  for (const id of ["1", "2", "3", "4", "5"]) {
    assert.equal(only(router.receive(big(id), 0)).attrs.to, `${TARGET}/a`);
  }
  const fx = router.receive(unavailable("a"), 1);
  assert.deepEqual(
    fx.send.map((el) => [el.attrs.id, el.attrs.type, el.attrs.to]),
    [
      ["1", "get", `${TARGET}/b`],
      ["2", "get", `${TARGET}/b`],
      ["3", "get", `${TARGET}/b`],
      ["4", "get", `${TARGET}/b`],
      ["5", "error", ALICE],
    ],
  );
  assertError(fx.send[4], {
    to: ALICE,
    from: DOMAIN,
    id: "5",
    type: "cancel",
    condition: "service-unavailable",
  });
  // Copies are given back once re-sent or settled: the budget holds gets again.
  for (const id of ["1", "2", "3", "4"]) router.receive(result(id, "b"), 2);
  router.receive(big("6"), 3);
  router.receive(resourcePresence("a"), 4);
  const again = router.receive(unavailable("b"), 5);
  assert.deepEqual(again.send.map((el) => [el.attrs.id, el.attrs.type]), [["6", "get"]]);
});

Deno.test("failover: a presence error settles every pending request", () => {
  const router = routerWith(["a"]);
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
  const router = routerWith(["a", "b"]);
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
  const router = routerWith(["a", "b"]);
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
  const router = routerWith(["a", "b"]);
  router.receive(get("g"), 0); // to a
  router.online(10);
  router.receive(resourcePresence("b"), 11);
  router.receive(resourcePresence("a"), 12);
  assert.deepEqual(forwardedTo(router.receive(unavailable("a"), 13)), [`${TARGET}/b`]);
});

Deno.test("after a reconnect, requests whose resource is not announced again within the first second fail over", () => {
  const router = routerWith(["a", "b"]);
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
  const router = routerWith(["a"]);
  router.receive(get("g"), 0);
  router.online(10);
  assert.equal(router.tick(1_010).send.length, 0);
  const out = only(router.receive(result("g"), 1_500));
  assert.equal(out.attrs.type, "result");
  assert.equal(out.attrs.to, ALICE);
});

Deno.test("a get whose payload nests 20,000 deep fails over with that payload, byte for byte", () => {
  const deep = "<a>".repeat(20_000) + "x" + "</a>".repeat(20_000);
  const router = routerWith(["a", "b"]);
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
  const router = routerWith(["a", "b"]);
  router.receive(get("g"), 0); // to a
  router.drain();
  assert.deepEqual(forwardedTo(router.receive(unavailable("a"), 1)), [`${TARGET}/b`]);
});

Deno.test("long address: a requester whose JID does not fit a resource gets a token, and its answer", () => {
  const router = routerWith(["a"]);
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
  const router = routerWith(["a"]);
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

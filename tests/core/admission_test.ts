// Who gets in, and how many: access lists, rate limits and the caps on requests held.
import assert from "node:assert/strict";
import { parseXml } from "../../src/core/xml.ts";
import {
  ALICE,
  assertError,
  DOMAIN,
  get,
  only,
  result,
  routerWith,
  TARGET,
  testRouter,
  toAlice,
} from "../support/router.ts";

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

Deno.test("max_pending caps the table: beyond it, resource-constraint", () => {
  const router = routerWith(["a"], { maxPending: 2 });
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

Deno.test("access: a denied requester gets forbidden (auth), or service-unavailable when hidden", () => {
  const router = routerWith(["a"], { allow: ["@example.org"], deny: ["mallory@example.org"] });
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
  const router = routerWith(["a"], {
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
  const router = routerWith(["a"], { maxPendingPerRequester: 2 });
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

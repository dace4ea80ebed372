// Just after (re)connecting, the server has not yet told which resources are online: a request
// that finds none waits for the first one (src/core/requests.ts).
import assert from "node:assert/strict";
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
  TARGET,
  toAlice,
} from "../support/router.ts";

Deno.test("just after connecting, a request that finds no resource waits for the first one", () => {
  const router = routerWith([]);
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
  const router = routerWith([], { requestTimeoutMs: 5_000 });
  router.receive(get("w1"), 10);
  router.receive(get("w2", "bob@example.org/x"), 15);
  const fx = router.receive(resourcePresence("a"), 900);
  assert.deepEqual(fx.send.map((el) => el.attrs.id), ["w1", "w2"]);
  assert.equal(router.nextWake(), 5_010, "w1's deadline counts from its arrival");
});

Deno.test("no resource within the first second: service-unavailable, at the second's end", () => {
  const router = routerWith([]);
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
  const router = routerWith([], { requestTimeoutMs: 300 });
  router.receive(get("w1"), 10);
  assert.equal(router.nextWake(), 310);
  assertError(only(router.tick(310)), toAlice("w1", "cancel", "service-unavailable"));
});

Deno.test("a waiting request: its id reused gets conflict; shutdown and hand-over answer it", () => {
  const router = routerWith([]);
  router.receive(get("w1"), 10);
  assertError(only(router.receive(get("w1"), 11)), toAlice("w1", "cancel", "conflict"));
  const settled = router.settleAll(12);
  assertError(settled.send[0], toAlice("w1", "wait", "service-unavailable"));
  assert.equal(router.pendingCount, 0);
  const other = routerWith([]);
  other.receive(get("w2"), 10);
  assertError(only(other.handOver(20)), toAlice("w2", "wait", "service-unavailable"));
});

Deno.test("every reconnect opens the window again", () => {
  const router = routerWith([]);
  router.online(5_000);
  assert.deepEqual(router.receive(get("w1"), 5_500).send.map(String), []);
  assert.equal(router.nextWake(), 6_000);
});

Deno.test("a request carried over from a closed stream keeps the time it arrived", () => {
  const router = routerWith(["a"], { requestTimeoutMs: 5_000 });
  // Arrived at 1,000 on the old stream, routed at 3,000: its deadline is 6,000, not 8,000.
  const forwarded = only(router.receive(get("c1"), 3_000, 1_000));
  assert.deepEqual(attrs(forwarded).to, `${TARGET}/a`);
  assert.equal(router.nextWake(), 6_000);
  assert.deepEqual(router.tick(5_999).send, []);
  const fx = router.tick(6_000);
  assertError(only(fx), toAlice("c1", "wait", "remote-server-timeout"));
  const done = fx.events.find((e) => e.type === "outcome");
  assert.equal(done?.type === "outcome" && done.durationMs, 5_000, "timed from its arrival");
});

Deno.test("a carried request whose time is up is answered as timed out, counted, not forwarded", () => {
  const router = routerWith(["a"], { requestTimeoutMs: 5_000 });
  const fx = router.receive(get("c2"), 6_000, 1_000);
  assertError(only(fx), toAlice("c2", "wait", "remote-server-timeout"));
  assert.deepEqual(fx.events, [{
    type: "outcome",
    outcome: "timeout",
    requester: ALICE,
    id: "c2",
    durationMs: 5_000,
  }]);
  assert.equal(router.pendingCount, 0);
  // One a moment younger is forwarded.
  assert.deepEqual(attrs(only(router.receive(get("c3"), 6_000, 1_001))).id, "c3");
});

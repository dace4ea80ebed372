/**
 * `drain`: the operator drains a resource by name (a reload), for a client
 * that cannot say `<show>dnd</show>`: the same rules as `dnd`, and either
 * one keeps it draining.
 */
import assert from "node:assert/strict";
import {
  AFFINITY,
  affinityRouter,
  conference,
  draining,
  events,
  placeAll,
  placed,
  plain,
  presence,
  ROOMS,
} from "../support/affinity.ts";
import { BASE_SETTINGS, get, routerWith } from "../support/router.ts";

Deno.test("drain: a reload naming a resource drains it: its rooms stay, no new room nor keyless request", () => {
  const router = affinityRouter(["a", "b", "c"]);
  const before = placeAll(router, ROOMS.slice(0, 100));
  const fx = router.reconfigure({ ...BASE_SETTINGS, ...AFFINITY, drain: ["a"] }, 6_000);
  assert.deepEqual(events(fx, "resource"), [
    { type: "resource", change: "draining", resource: "a", count: 3 },
  ]);
  assert.equal(draining(router), 1);
  assert.deepEqual(placeAll(router, ROOMS.slice(0, 100), 6_000), before, "its rooms stay");
  const fresh = placeAll(router, ROOMS.slice(100), 6_000);
  assert.ok(![...fresh.values()].includes("a"), "no new room on a drained resource");
  for (let i = 0; i < 20; i++) assert.notEqual(placed(router.receive(plain(), 6_000)), "a");
  // The same reload again says nothing; taking it out of the list puts it back in service.
  const same = router.reconfigure({ ...BASE_SETTINGS, ...AFFINITY, drain: ["a"] }, 6_500);
  assert.deepEqual(events(same, "resource"), []);
  const back = router.reconfigure({ ...BASE_SETTINGS, ...AFFINITY }, 7_000);
  assert.deepEqual(events(back, "resource"), [
    { type: "resource", change: "undrained", resource: "a", count: 3 },
  ]);
  const later = placeAll(router, ROOMS.slice(200).map((r) => `x${r}`), 8_000);
  assert.ok([...later.values()].includes("a"));
});

Deno.test("drain: a named resource that comes online, or again, is draining from its first presence", () => {
  const router = affinityRouter(["a"], { drain: ["b"] });
  const fx = router.receive(presence("b"), 5_000);
  assert.deepEqual(events(fx, "resource").map((e) => e.change), ["up", "draining"]);
  assert.deepEqual(new Set(placeAll(router, ROOMS.slice(0, 30), 5_000).values()), new Set(["a"]));
  // Its presence changing (a status, no dnd) does not undrain it.
  const status = router.receive(presence("b", "<status>busy</status>"), 5_100);
  assert.deepEqual(events(status, "resource"), []);
  assert.equal(draining(router), 1);
  // After a reconnect, announced again: draining again from its first presence.
  router.online(6_000);
  assert.equal(draining(router), 0, "no resource known right after the reconnect");
  const again = router.receive(presence("b"), 6_100);
  assert.deepEqual(events(again, "resource").map((e) => e.change), ["up", "draining"]);
});

Deno.test("drain: either the list or dnd keeps a resource draining; it undrains when neither does", () => {
  const router = affinityRouter(["a", "b"]);
  router.receive(presence("a", "<show>dnd</show>"), 5_000);
  // Named too: no change, it was draining already.
  const named = router.reconfigure({ ...BASE_SETTINGS, ...AFFINITY, drain: ["a"] }, 5_100);
  assert.deepEqual(events(named, "resource"), []);
  // dnd gone, still named: still draining.
  assert.deepEqual(events(router.receive(presence("a"), 5_200), "resource"), []);
  assert.equal(draining(router), 1);
  const back = router.reconfigure({ ...BASE_SETTINGS, ...AFFINITY }, 5_300);
  assert.deepEqual(events(back, "resource").map((e) => e.change), ["undrained"]);
  // dnd again, not named: draining by its presence alone; the list going away leaves it so.
  router.receive(presence("a", "<show>dnd</show>"), 5_400);
  const none = router.reconfigure({ ...BASE_SETTINGS, ...AFFINITY, drain: [] }, 5_500);
  assert.deepEqual(events(none, "resource"), []);
  assert.equal(draining(router), 1);
});

Deno.test("drain: names are matched as the server stamps them, case and all", () => {
  assert.equal(draining(affinityRouter(["a", "B"], { drain: ["B"] })), 1);
  const router = affinityRouter(["a", "B"], { drain: ["b"] });
  assert.equal(draining(router), 0, "B is not b: resourceparts keep their case");
});

Deno.test("drain: a request that waits for a resource goes once the only one is undrained", () => {
  const router = routerWith(["a"], { drain: ["a"], requestTimeoutMs: 5_000 });
  // Every resource draining, just after connecting: a keyless request waits for one.
  assert.deepEqual(router.receive(get("w1"), 10).send, []);
  const back = router.reconfigure({ ...BASE_SETTINGS, requestTimeoutMs: 5_000 }, 20);
  assert.deepEqual(events(back, "resource").map((e) => e.change), ["undrained"]);
  assert.deepEqual(back.send.map((s) => [s.attrs.id, s.attrs.to]), [
    ["w1", "service@example.org/a"],
  ]);
});

Deno.test("drain: several undrained by one reload take what waits as one set, not the first alone", () => {
  const router = routerWith(["a", "b"], {
    drain: ["a", "b"],
    balance: "least-pending",
    requestTimeoutMs: 5_000,
  });
  assert.deepEqual(router.receive(get("w1"), 10).send, []);
  assert.deepEqual(router.receive(get("w2", "bob@example.org/x"), 10).send, []);
  const back = router.reconfigure({ ...BASE_SETTINGS, balance: "least-pending" }, 20);
  assert.deepEqual(events(back, "resource").map((e) => e.change), ["undrained", "undrained"]);
  // Least-pending spreads them: one each, as if both had come back before either was placed.
  assert.deepEqual(back.send.map((s) => s.attrs.id), ["w1", "w2"]);
  assert.deepEqual(
    new Set(back.send.map((s) => s.attrs.to)),
    new Set(["a", "b"].map((r) => `service@example.org/${r}`)),
  );
});

Deno.test("drain: a drained resource's rooms do not expire while it is online; others do", () => {
  const IDLE = { affinityIdleMs: 60_000 };
  const router = affinityRouter(["a", "b"], IDLE);
  const placed0 = placeAll(router, ROOMS.slice(0, 20), 5_000);
  const onA = [...placed0].filter(([, r]) => r === "a").map(([room]) => room);
  const onB = [...placed0].filter(([, r]) => r === "b").map(([room]) => room);
  assert.ok(onA.length > 0 && onB.length > 0);
  router.reconfigure({
    ...BASE_SETTINGS,
    ...AFFINITY,
    balance: "round-robin",
    ...IDLE,
    drain: ["a"],
  }, 6_000);
  const fx = router.tick(70_000);
  // b's pins idled out; a's are held as used now, and the room goes where it runs.
  assert.deepEqual(events(fx, "unpinned").flatMap((e) => e.keys).toSorted(), onB.toSorted());
  assert.equal(router.affinityKeyCount, onA.length);
  assert.equal(placed(router.receive(conference(onA[0]), 70_000)), "a");
  // Out of drain, they idle out as any other.
  router.reconfigure({ ...BASE_SETTINGS, ...AFFINITY, balance: "round-robin", ...IDLE }, 71_000);
  router.tick(200_000);
  assert.equal(router.affinityKeyCount, 0);
});

Deno.test("drain: after a reconnect, a named resource's rooms keep their pins until it is back", () => {
  const IDLE = { affinityIdleMs: 60_000, drain: ["a"] };
  const router = affinityRouter(["a", "b"]);
  const where = [...placeAll(router, ROOMS.slice(0, 20), 5_000)];
  const onA = where.filter(([, r]) => r === "a");
  const onB = where.filter(([, r]) => r === "b").map(([room]) => room);
  router.reconfigure({ ...BASE_SETTINGS, ...AFFINITY, balance: "round-robin", ...IDLE }, 6_000);
  // Past their idle time as the stream comes back, before a is announced again: a's stay
  // pinned, b's (not draining) idle out.
  router.online(65_000);
  const ended = events(router.tick(65_500), "unpinned").flatMap((e) => e.keys);
  assert.deepEqual(ended.toSorted(), onB.toSorted());
  assert.equal(router.affinityKeyCount, onA.length);
  router.receive(presence("a"), 65_600);
  assert.equal(placed(router.receive(conference(onA[0][0]), 65_700)), "a");
});

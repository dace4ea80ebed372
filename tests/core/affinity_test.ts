/**
 * Affinity by request content: where a key goes the first time
 * (rendezvous), how its pin holds (joins, capacity, draining, reconnects)
 * and how it ends (its resource leaving, idle expiry, eviction), with a
 * fake clock and fixed resource sets.
 */
import assert from "node:assert/strict";
import type { AffinityShape } from "../../src/core/affinity_key.ts";
import { Router } from "../../src/core/router.ts";
import { parseXml } from "../../src/core/xml.ts";
import { BASE_SETTINGS, DOMAIN, resourcePresence, TARGET, testRouter } from "../support/router.ts";
import {
  AFFINITY,
  affinityRouter,
  CONFERENCE,
  conference,
  draining,
  errorOf,
  events,
  FOCUS,
  placeAll,
  placed,
  plain,
  presence,
  ROOMS,
} from "../support/affinity.ts";

Deno.test("affinity: a new key goes to its rendezvous choice, the same for a new Router and any arrival order", () => {
  const first = placeAll(affinityRouter(["a", "b", "c"]), ROOMS);
  let state = 0x9e3779b9;
  const other = affinityRouter(["c", "a", "b"], { balance: "random" }, () => {
    state = (state * 1103515245 + 12345) >>> 0;
    return state / 2 ** 32;
  });
  assert.deepEqual(placeAll(other, ROOMS), first);
});

Deno.test("affinity: without the store, a new Router keeps each pin made over the same resources, not one made when they were others", () => {
  // Pinned while a, b and c were online; then b leaves and comes back.
  const router = affinityRouter(["a", "b", "c"]);
  const before = placeAll(router, ROOMS);
  router.receive(presence("b", "", "unavailable"), 5_000);
  const moved = ROOMS.filter((room) => before.get(room) === "b");
  const now = placeAll(router, ROOMS, 6_000); // b's rooms pinned anew, on a or c
  router.receive(resourcePresence("b"), 7_000);
  assert.deepEqual(placeAll(router, ROOMS, 8_000), now, "b takes none back");

  // A new Router with no store (a standby on another host taking over), same resources.
  const fresh = placeAll(affinityRouter(["b", "c", "a"]), ROOMS);
  for (const room of ROOMS) {
    if (moved.includes(room)) assert.equal(fresh.get(room), "b", `${room}: its choice again`);
    else assert.equal(fresh.get(room), now.get(room), `${room} stays`);
  }
  assert.ok(moved.length >= 60, `${moved.length} rooms pinned while b was away`);
  assert.ok(moved.every((room) => now.get(room) !== "b"), "so those rooms move");
});

Deno.test("affinity: 300 rooms spread over three resources, each between 20 % and 45 %", () => {
  const counts = new Map<string, number>();
  for (const name of placeAll(affinityRouter(["a", "b", "c"]), ROOMS).values()) {
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  assert.deepEqual([...counts.keys()].sort(), ["a", "b", "c"]);
  for (const [name, n] of counts) {
    assert.ok(n >= 60 && n <= 135, `${name} has ${n} of 300 rooms`);
  }
});

Deno.test("affinity: a key stays on its resource while it is online; every request of it goes there", () => {
  const router = affinityRouter(["a", "b", "c"]);
  const where = placeAll(router, ROOMS.slice(0, 20));
  for (const from of ["bob@example.net/x", "carol@example.com/y", "alice@example.org/web"]) {
    for (const room of ROOMS.slice(0, 20)) {
      assert.equal(placed(router.receive(conference(room, from), 6_000)), where.get(room));
    }
  }
  assert.equal(router.affinityKeyCount, 20);
});

Deno.test("affinity: a resource that joins takes no existing key, only new ones", () => {
  const router = affinityRouter(["a", "b"]);
  const before = placeAll(router, ROOMS.slice(0, 150));
  router.receive(resourcePresence("c"), 5_000);
  assert.deepEqual(placeAll(router, ROOMS.slice(0, 150), 6_000), before);
  const fresh = placeAll(router, ROOMS.slice(150), 6_000);
  assert.ok([...fresh.values()].includes("c"), "the new resource takes new keys");
  // The new keys land where a fresh router with all three puts them.
  const reference = placeAll(affinityRouter(["a", "b", "c"]), ROOMS.slice(150));
  assert.deepEqual(fresh, reference);
});

Deno.test("affinity: two shapes with one key (a room's conference and login-url) share its pin", () => {
  const loginUrl: AffinityShape = { namespace: FOCUS, element: "login-url", attribute: "room" };
  const router = affinityRouter(["a", "b"], { affinity: [CONFERENCE, loginUrl] });
  const where = placeAll(router, ROOMS.slice(0, 40));
  router.receive(resourcePresence("c"), 5_000);
  for (const room of ROOMS.slice(0, 40)) {
    const ask = parseXml(
      `<iq type="get" id="l${room}" from="bob@example.net/x" to="${DOMAIN}">` +
        `<login-url xmlns="${FOCUS}" room="${room}" machine-uid="m"/></iq>`,
    );
    assert.equal(placed(router.receive(ask, 6_000)), where.get(room), room);
  }
  assert.equal(router.affinityKeyCount, 40);
});

Deno.test("affinity: a resource leaving moves only its own keys, to their choice among the rest", () => {
  const router = affinityRouter(["a", "b", "c"]);
  const before = placeAll(router, ROOMS);
  const fx = router.receive(presence("b", "", "unavailable"), 5_000);
  const onB = ROOMS.filter((room) => before.get(room) === "b");
  assert.deepEqual(events(fx, "unpinned"), [{
    type: "unpinned",
    keys: onB,
    reason: "resource_left",
  }]);
  assert.equal(router.affinityKeyCount, ROOMS.length - onB.length);
  const after = placeAll(router, ROOMS, 6_000);
  const reference = placeAll(affinityRouter(["a", "c"]), ROOMS);
  for (const room of ROOMS) {
    assert.equal(
      after.get(room),
      before.get(room) === "b" ? reference.get(room) : before.get(room),
    );
  }
});

Deno.test("affinity: a key is normalised as a JID, so two spellings are one room", () => {
  const router = affinityRouter(["a", "b", "c"]);
  const fx = router.receive(conference("Room7@Conference.Example.ORG"), 5_000);
  assert.deepEqual(events(fx, "pinned").map((e) => e.key), ["room7@conference.example.org"]);
  for (let i = 0; i < 5; i++) {
    assert.equal(
      placed(router.receive(conference("room7@conference.example.org"), 5_000)),
      placed(fx),
    );
  }
  assert.equal(router.affinityKeyCount, 1);
});

Deno.test("affinity: a pinned resource at max_pending_per_resource makes its keys wait; they never move", () => {
  const router = affinityRouter(["a", "b"], { maxPendingPerResource: 1 });
  const room = ROOMS[0];
  const home = placed(router.receive(conference(room), 5_000));
  const refused = router.receive(conference(room, "bob@example.net/x"), 5_000);
  assert.equal(refused.send.length, 1);
  assert.deepEqual(errorOf(refused.send[0]), ["wait", "resource-constraint"]);
  assert.equal(events(refused, "outcome")[0].outcome, "busy");
  // Another room, keyless or pinned elsewhere, still goes to the other one.
  assert.notEqual(placed(router.receive(plain(), 5_000)), home);
});

Deno.test("affinity: a request refused as busy is a use of its key: a full resource's room does not expire", () => {
  const router = affinityRouter(["a", "b"], { maxPendingPerResource: 1, affinityIdleMs: 1_000 });
  const room = ROOMS.find((r) => placeAll(affinityRouter(["a", "b"]), [r]).get(r) === "a")!;
  assert.equal(placed(router.receive(conference(room), 5_000)), "a"); // left unanswered
  for (const at of [5_300, 5_600, 5_900]) {
    const busy = router.receive(conference(room, `u${at}@example.net/r`), at);
    assert.deepEqual(errorOf(busy.send[0]), ["wait", "resource-constraint"]);
  }
  assert.deepEqual(events(router.tick(6_000), "unpinned"), []);
  assert.equal(router.nextWake(), 6_900, "the pin lasts from the last refusal");
  const later = router.receive(conference(room, "late@example.net/r"), 6_100);
  assert.deepEqual(errorOf(later.send[0]), ["wait", "resource-constraint"], "still a's room");
  assert.deepEqual(events(later, "pinned"), []);
});

Deno.test("affinity: a get re-sent after its resource left waits (resource-constraint) when the key's new resource is full", () => {
  const room = ROOMS.find((r) =>
    placeAll(affinityRouter(["a", "b", "c"]), [r]).get(r) === "a" &&
    placeAll(affinityRouter(["b", "c"]), [r]).get(r) === "b"
  )!;
  const router = affinityRouter(["a", "b", "c"], { maxPendingPerResource: 2 });
  assert.equal(placed(router.receive(conference(room, "u1@example.net/r", "get"), 5_000)), "a");
  assert.equal(placed(router.receive(conference(room, "u2@example.net/r", "get"), 5_000)), "a");
  // b holds one keyless request: the first get re-sent fills it.
  let other = 0;
  while (placed(router.receive(plain(`k${other}@example.org/r`), 5_000)) !== "b") other++;
  const left = router.receive(presence("a", "", "unavailable"), 5_100);
  const [resent, refused] = left.send;
  assert.equal(left.send.length, 2, left.send.join("\n"));
  assert.equal(resent.attrs.to, `${TARGET}/b`);
  assert.equal(refused.attrs.to, "u2@example.net/r");
  assert.deepEqual(
    errorOf(refused),
    ["wait", "resource-constraint"],
    "c has room, but not the room",
  );
  assert.deepEqual(events(left, "outcome").map((e) => [e.requester, e.outcome]), [
    ["u2@example.net/r", "failover"],
  ]);
});

Deno.test("affinity: a key unused for affinity_idle ends, on tick or when next used", () => {
  // A room pinned to `a` while alone, whose choice among a and b is b.
  const room = ROOMS.find((r) => placeAll(affinityRouter(["a", "b"]), [r]).get(r) === "b")!;
  const router = affinityRouter(["a"], { affinityIdleMs: 1_000 });
  placeAll(router, [room], 5_000);
  router.receive(resourcePresence("b"), 5_100);
  assert.equal(router.nextWake(), 6_000, "the shell is woken when the pin expires");
  placeAll(router, [room], 5_900); // a use: the pin holds, and lasts from now
  assert.equal(router.nextWake(), 6_900);
  assert.deepEqual(events(router.tick(6_899), "unpinned"), []);
  assert.deepEqual(events(router.tick(6_900), "unpinned"), [
    { type: "unpinned", keys: [room], reason: "expired" },
  ]);
  assert.equal(router.nextWake(), undefined);
  assert.equal(placeAll(router, [room], 7_000).get(room), "b");
  // Not ticked in time: the next request finds it expired all the same.
  assert.equal(placeAll(router, [room], 7_500).get(room), "b");
  router.receive(presence("b", "", "unavailable"), 7_600);
  placeAll(router, [room], 7_700);
  router.receive(resourcePresence("b"), 7_800);
  const late = router.receive(conference(room), 8_700);
  assert.equal(placed(late), "b");
  assert.deepEqual(events(late, "unpinned"), [{
    type: "unpinned",
    keys: [room],
    reason: "expired",
  }]);
});

Deno.test("affinity: beyond max_affinity_keys the least recently used pin goes first", () => {
  const router = affinityRouter(["a", "b", "c"], { maxAffinityKeys: 2 });
  const [r1, r2, r3] = ROOMS;
  placeAll(router, [r1, r2], 5_000);
  placeAll(router, [r1], 5_001);
  const fx = router.receive(conference(r3), 5_002);
  assert.deepEqual(events(fx, "unpinned"), [{ type: "unpinned", keys: [r2], reason: "evicted" }]);
  assert.equal(router.affinityKeyCount, 2);
});

Deno.test("affinity: max_affinity_keys lowered by a reload, or a store holding more, evicts at once", () => {
  const router = affinityRouter(["a", "b", "c"]);
  placeAll(router, ROOMS.slice(0, 10), 5_000);
  placeAll(router, [ROOMS[0]], 5_001); // the most recently used
  const fx = router.reconfigure({ ...router.settings, maxAffinityKeys: 3 }, 5_500);
  assert.deepEqual(events(fx, "unpinned"), [
    { type: "unpinned", keys: ROOMS.slice(1, 8), reason: "evicted" },
  ]);
  assert.equal(router.affinityKeyCount, 3);
  // A store written under a larger bound: its oldest go as it is read.
  const stored = ROOMS.slice(0, 5).map((room): [string, string] => [room, "a"]);
  const restarted = new Router({ ...BASE_SETTINGS, ...AFFINITY, maxAffinityKeys: 2 }, {
    random: () => 0,
    randomBits: () => 0,
    storedPins: () => stored,
  });
  assert.deepEqual(events(restarted.online(0), "unpinned"), [
    { type: "unpinned", keys: ROOMS.slice(0, 3), reason: "evicted" },
  ]);
  assert.equal(restarted.affinityKeyCount, 2);
});

Deno.test("affinity: a draining resource (dnd) keeps its keys, and gets no new key and no keyless request", () => {
  const router = affinityRouter(["a", "b", "c"]);
  const before = placeAll(router, ROOMS.slice(0, 100));
  const fx = router.receive(presence("a", "<show>dnd</show>"), 5_000);
  assert.deepEqual(events(fx, "resource"), [
    { type: "resource", change: "draining", resource: "a", count: 3 },
  ]);
  assert.equal(draining(router), 1);
  assert.deepEqual(placeAll(router, ROOMS.slice(0, 100), 6_000), before, "its rooms stay");
  const fresh = placeAll(router, ROOMS.slice(100), 6_000);
  assert.ok(![...fresh.values()].includes("a"), "no new room on a draining resource");
  for (let i = 0; i < 20; i++) assert.notEqual(placed(router.receive(plain(), 6_000)), "a");
  // Back in service: it takes new rooms again.
  const back = router.receive(presence("a", "<show>chat</show>"), 7_000);
  assert.deepEqual(events(back, "resource"), [
    { type: "resource", change: "undrained", resource: "a", count: 3 },
  ]);
  const later = placeAll(router, ROOMS.slice(200).map((r) => `x${r}`), 8_000);
  assert.ok([...later.values()].includes("a"));
});

Deno.test("affinity: a resource that comes online draining is told so, and takes no new key", () => {
  const router = affinityRouter(["a"]);
  const fx = router.receive(presence("b", "<show>dnd</show>"), 5_000);
  assert.deepEqual(events(fx, "resource").map((e) => e.change), ["up", "draining"]);
  assert.deepEqual(new Set(placeAll(router, ROOMS.slice(0, 30), 5_000).values()), new Set(["a"]));
});

Deno.test("affinity: a get in flight whose resource leaves is re-sent where its key goes now", () => {
  const router = affinityRouter(["a", "b", "c"]);
  const room = ROOMS[3];
  const home = placed(router.receive(conference(room, "alice@example.org/web", "get"), 5_000));
  const gone = router.receive(presence(home, "", "unavailable"), 5_100);
  const next = placed(gone);
  assert.notEqual(next, home);
  assert.deepEqual(events(gone, "pinned"), [{ type: "pinned", key: room, resource: next }]);
  assert.equal(placed(router.receive(conference(room, "bob@example.net/x"), 5_200)), next);
});

Deno.test("affinity: a set in flight whose resource leaves fails over as today", () => {
  const router = affinityRouter(["a", "b"]);
  const home = placed(router.receive(conference(ROOMS[0]), 5_000));
  const gone = router.receive(presence(home, "", "unavailable"), 5_100);
  assert.equal(gone.send.length, 1);
  assert.deepEqual(errorOf(gone.send[0]), ["wait", "recipient-unavailable"]);
});

Deno.test("affinity: after a reconnect a key waits for its resource, then moves if it is not back", () => {
  const router = affinityRouter(["a", "b", "c"]);
  const where = placeAll(router, ROOMS.slice(0, 30));
  const onC = ROOMS.slice(0, 30).find((r) => where.get(r) === "c")!;
  const onA = ROOMS.slice(0, 30).find((r) => where.get(r) === "a")!;
  router.online(10_000);
  router.receive(resourcePresence("a"), 10_010);
  router.receive(resourcePresence("b"), 10_010);
  // Its resource is not back yet: it waits, while a key whose resource is back goes at once.
  assert.deepEqual(router.receive(conference(onC), 10_100).send, []);
  assert.equal(placed(router.receive(conference(onA), 10_100)), "a");
  assert.equal(router.nextWake(), 11_000);
  const fx = router.tick(11_000);
  const moved = placed(fx);
  assert.ok(moved === "a" || moved === "b");
  const [first, rest] = events(fx, "unpinned");
  assert.deepEqual(first, { type: "unpinned", keys: [onC], reason: "resource_left" });
  // The end of the second ends the other keys of c too.
  const onCAll = ROOMS.slice(0, 30).filter((r) => where.get(r) === "c" && r !== onC);
  assert.deepEqual(rest, { type: "unpinned", keys: onCAll, reason: "resource_left" });
  assert.equal(router.affinityKeyCount, 30 - onCAll.length);
});

Deno.test("affinity: after a reconnect a key whose resource is back in time stays", () => {
  const router = affinityRouter(["a", "b", "c"]);
  const where = placeAll(router, ROOMS.slice(0, 30));
  const onC = ROOMS.slice(0, 30).find((r) => where.get(r) === "c")!;
  router.online(10_000);
  router.receive(resourcePresence("a"), 10_010);
  assert.deepEqual(router.receive(conference(onC), 10_100).send, []);
  assert.equal(placed(router.receive(resourcePresence("c"), 10_200)), "c");
  router.receive(resourcePresence("b"), 10_900);
  router.tick(11_000);
  assert.equal(router.affinityKeyCount, 30, "every pin held: their resources came back");
});

Deno.test("affinity: stored pins are taken at the first online, and given up on a hand-over", () => {
  const room = ROOMS.find((r) => placeAll(affinityRouter(["a", "b", "c"]), [r]).get(r) !== "c")!;
  const stored: Array<[string, string]> = [[room, "c"]];
  let reads = 0;
  const router = new Router({ ...BASE_SETTINGS, ...AFFINITY }, {
    random: () => 0,
    randomBits: () => 0,
    storedPins: () => {
      reads++;
      return stored;
    },
  });
  router.online(0);
  for (const name of ["a", "b", "c"]) router.receive(resourcePresence(name), 10);
  assert.equal(router.affinityKeyCount, 1);
  assert.equal(placed(router.receive(conference(room), 5_000)), "c");
  router.online(6_000); // a reconnect: memory is the latest
  assert.equal(reads, 1);
  router.handOver(7_000);
  assert.equal(router.affinityKeyCount, 0, "the other instance serves them now");
  router.online(8_000); // taking over again: the store is the latest
  assert.equal(reads, 2);
  assert.equal(router.affinityKeyCount, 1);
});

Deno.test("affinity: a look that takes over reads the store again: the pins written meanwhile count", () => {
  const [first, second] = ROOMS.filter((r) =>
    placeAll(affinityRouter(["a", "b", "c"]), [r]).get(r) !== "c"
  );
  let stored: Array<[string, string]> = [[first, "c"]];
  const router = new Router({ ...BASE_SETTINGS, ...AFFINITY }, {
    random: () => 0,
    randomBits: () => 0,
    storedPins: () => stored,
  });
  router.online(0);
  router.handOver(100); // the newer of two instances steps back
  router.online(6_000); // a look: the other instance still writes
  stored = [[first, "c"], [second, "c"]];
  router.takeOver(6_400); // nobody there: it died during the look
  for (const name of ["a", "b", "c"]) router.receive(resourcePresence(name), 6_410);
  assert.equal(placed(router.receive(conference(first), 6_500)), "c");
  assert.equal(placed(router.receive(conference(second), 6_500)), "c", "written during the look");
  assert.equal(router.affinityKeyCount, 2);
});

Deno.test("affinity: each new pin is reported once, for the shell to store", () => {
  const router = affinityRouter(["a", "b"]);
  const first = router.receive(conference(ROOMS[0]), 5_000);
  assert.deepEqual(events(first, "pinned"), [
    { type: "pinned", key: ROOMS[0], resource: placed(first) },
  ]);
  assert.deepEqual(
    events(router.receive(conference(ROOMS[0], "bob@example.net/x"), 5_000), "pinned"),
    [],
  );
});

Deno.test("affinity: outcomes say how each request was placed, only with affinity on", () => {
  const router = affinityRouter(["a"], { maxPendingPerResource: 1 });
  router.receive(conference(ROOMS[0]), 5_000);
  const busy = router.receive(conference(ROOMS[0], "bob@example.net/x"), 5_000);
  assert.equal(events(busy, "outcome")[0].placement, "affinity");
  const keyless = router.receive(plain("bob@example.net/x"), 5_000);
  assert.equal(events(keyless, "outcome")[0].placement, "balance");
  const off = testRouter({ maxPendingPerResource: 0 }, { resources: ["a"] });
  const outcome = events(off.receive(conference(ROOMS[0]), 5_000), "outcome")[0];
  assert.equal(outcome.placement, undefined);
  assert.ok(!("placement" in outcome));
});

Deno.test("affinity: a reload that changes the shapes keeps the pins", () => {
  const router = affinityRouter(["a", "b", "c"]);
  const where = placeAll(router, ROOMS.slice(0, 10));
  router.settings = {
    ...router.settings,
    affinity: [CONFERENCE, { namespace: "urn:x", element: "q", attribute: "k" }],
  };
  assert.equal(router.affinityKeyCount, 10);
  assert.deepEqual(placeAll(router, ROOMS.slice(0, 10), 6_000), where);
  router.settings = { ...router.settings, affinity: undefined };
  assert.equal(router.affinityKeyCount, 10, "off: the pins wait for it to come back, or expire");
});

Deno.test("affinity: off, a request's content changes nothing (balance as configured)", () => {
  const router = testRouter({ balance: "round-robin" }, { resources: ["a", "b"] });
  const names = [0, 1, 2, 3].map(() => placed(router.receive(conference(ROOMS[0]), 5_000)));
  assert.deepEqual(names, ["a", "b", "a", "b"]);
  assert.equal(router.affinityKeyCount, 0);
});

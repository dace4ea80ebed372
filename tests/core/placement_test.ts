// Which resource gets a request: the balancing policies, stickiness, priorities, full resources.
import assert from "node:assert/strict";
import type { Router } from "../../src/core/router.ts";
import {
  ALICE,
  assertError,
  DOMAIN,
  get,
  only,
  resourcePresence,
  result,
  routerWith,
  TARGET,
  unavailable,
} from "../support/router.ts";

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
  const router = routerWith(["a", "b", "c"], { balance: "round-robin" });
  assert.deepEqual([...spread(router, 300).values()], [100, 100, 100]);
});

Deno.test("least-pending: the resource holding fewest requests wins, ties at random", () => {
  const router = routerWith(["a", "b"], { balance: "least-pending" }, () => 0.99);
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
  const router = routerWith(
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
  const router = routerWith(["a", "b", "c", "d"], { balance: "sticky" });
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
  const router = routerWith(["a", "b"], { balance: "sticky" });
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
  const router = routerWith([["low", -1]], { balance: "sticky" });
  assert.equal(only(router.receive(get("1"), 0)).attrs.to, `${TARGET}/low`);
  router.receive(resourcePresence("a"), 1);
  assert.equal(only(router.receive(get("2"), 2)).attrs.to, `${TARGET}/a`);
});

Deno.test("sticky: a requester whose resource is full for a moment goes back to it once it has room", () => {
  const router = routerWith(["a", "b"], { balance: "sticky", maxPendingPerResource: 1 });
  const home = only(router.receive(get("1"), 0)).attrs.to as string;
  const other = only(router.receive(get("2"), 1)).attrs.to as string;
  assert.notEqual(other, home, "lent to the other while its own is full");
  router.receive(result("1", home.split("/")[1]), 2);
  router.receive(result("2", other.split("/")[1]), 2);
  assert.equal(only(router.receive(get("3"), 3)).attrs.to, home, "back home");
});

Deno.test("a negative-priority resource is used only when no other is online", () => {
  const router = routerWith([["low", -1], "a"], { balance: "round-robin" });
  assert.deepEqual([...spread(router, 4).keys()], [`${TARGET}/a`]);
  router.receive(unavailable("a"), 0);
  assert.equal(only(router.receive(get("z"), 0)).attrs.to, `${TARGET}/low`);
});

Deno.test("max_pending_per_resource skips a full resource; all full gives resource-constraint", () => {
  const router = routerWith(["a", "b"], {
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

/** Choosing a resource: each policy over plain resources, with injected randomness. */
import assert from "node:assert/strict";
import { BALANCES, type ChoiceContext, choose } from "../../src/core/balance.ts";
import type { Pending } from "../../src/core/pending.ts";
import type { Resource } from "../../src/core/resources.ts";

/** A resource holding `pending` placeholder requests. */
function res(name: string, { priority = 0, pending = 0 } = {}): Resource {
  const held = new Set<Pending>();
  for (let i = 0; i < pending; i++) held.add({ key: `${name}\0${i}` } as Pending);
  return {
    name,
    jid: `svc@example.org/${name}`,
    priority,
    dnd: false,
    draining: false,
    pending: held,
  };
}

/** A context whose `random` must not be called unless one is given. */
function ctx(over: Partial<ChoiceContext> = {}): ChoiceContext {
  return {
    rendezvousKey: "alice@example.org",
    turn: 0,
    random: () => {
      throw new Error("random was not expected to be used");
    },
    maxPerResource: Infinity,
    ...over,
  };
}

/** The name of the chosen resource; fails when nothing was chosen. */
function pick(
  policy: Parameters<typeof choose>[0],
  resources: readonly Resource[],
  over: Partial<ChoiceContext> = {},
): string {
  const choice = choose(policy, resources, ctx(over));
  assert.equal(choice.kind, "chosen", `${policy}: ${JSON.stringify(choice)}`);
  return (choice as { resource: Resource }).resource.name;
}

/** Random numbers from a list, in turn; fails if more are asked for. */
function sequence(values: readonly number[]): () => number {
  let next = 0;
  return () => {
    assert.ok(next < values.length, "more random numbers used than expected");
    return values[next++];
  };
}

const ABCD = ["a", "b", "c", "d"].map((name) => res(name));
const REQUESTERS = Array.from({ length: 1000 }, (_, i) => `user${i}@example.org`);

/** Each requester's sticky resource among `resources`. */
function placement(resources: readonly Resource[]): Map<string, string> {
  return new Map(REQUESTERS.map((r) => [r, pick("sticky", resources, { rendezvousKey: r })]));
}

Deno.test("random: the injected random number picks the resource", () => {
  const picked = [0, 0.25, 0.49, 0.5, 0.74, 0.75, 0.999].map((r) =>
    pick("random", ABCD, { random: () => r })
  );
  assert.deepEqual(picked, ["a", "b", "b", "c", "c", "d", "d"]);
});

Deno.test("round-robin: cycles through the resources by turn, without randomness", () => {
  const picked = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((turn) =>
    pick("round-robin", ABCD.slice(0, 3), { turn })
  );
  assert.deepEqual(picked, ["a", "b", "c", "a", "b", "c", "a", "b", "c"]);
});

Deno.test("least-pending: the least loaded resource wins, wherever it is in the list", () => {
  // No tie for the least: randomness is not needed (ctx's random throws).
  assert.equal(pick("least-pending", [res("a", { pending: 3 }), res("b", { pending: 1 })]), "b");
  assert.equal(
    pick("least-pending", [res("a", { pending: 1 }), res("b", { pending: 2 })]),
    "a",
  );
  // A tie between busier resources does not matter once a lighter one comes.
  assert.equal(
    pick("least-pending", [
      res("a", { pending: 2 }),
      res("b", { pending: 2 }),
      res("c", { pending: 1 }),
      res("d", { pending: 4 }),
    ], { random: () => 0 }),
    "c",
  );
});

Deno.test("least-pending: each tied resource can win, depending on the random number", () => {
  const tied = [
    res("a", { pending: 1 }),
    res("x", { pending: 5 }),
    res("b", { pending: 1 }),
    res("c", { pending: 1 }),
  ];
  // The busier x is never a candidate; a, b, c win with 0.99, 0.4 and 0.
  const winners = [0.99, 0.4, 0].map((r) => pick("least-pending", tied, { random: () => r }));
  assert.deepEqual(winners, ["a", "b", "c"]);
});

Deno.test("least-pending: ties are broken uniformly", () => {
  // Three tied resources use two random numbers; over a 6×6 grid of them,
  // each resource must win exactly a third of the time.
  const tied = ["a", "b", "c"].map((name) => res(name, { pending: 2 }));
  const wins = new Map<string, number>();
  for (let i = 0; i < 6; i++) {
    for (let j = 0; j < 6; j++) {
      const name = pick("least-pending", tied, { random: sequence([i / 6, j / 6]) });
      wins.set(name, (wins.get(name) ?? 0) + 1);
    }
  }
  assert.deepEqual(Object.fromEntries(wins), { a: 12, b: 12, c: 12 });
});

Deno.test("least-pending: a tie among busier resources does not bias the final tie", () => {
  // a and b tie first (one random number), then c and d, less loaded, tie
  // afresh: over six values of the second number, each wins three times.
  const resources = [
    res("a", { pending: 2 }),
    res("b", { pending: 2 }),
    res("c", { pending: 1 }),
    res("d", { pending: 1 }),
  ];
  for (const first of [0, 0.7]) {
    const wins = new Map<string, number>();
    for (let j = 0; j < 6; j++) {
      const name = pick("least-pending", resources, { random: sequence([first, j / 6]) });
      wins.set(name, (wins.get(name) ?? 0) + 1);
    }
    assert.deepEqual(Object.fromEntries(wins), { c: 3, d: 3 }, `first random ${first}`);
  }
});

Deno.test("sticky: a requester always gets the same resource, whatever the turn or order", () => {
  const first = placement(ABCD);
  // The turn and the list order do not matter (random is never used).
  for (const [requester, name] of first) {
    for (const turn of [1, 7]) {
      assert.equal(pick("sticky", ABCD, { rendezvousKey: requester, turn }), name);
    }
  }
  assert.deepEqual(placement([...ABCD].reverse()), first);
  assert.deepEqual(placement([ABCD[2], ABCD[0], ABCD[3], ABCD[1]]), first);
});

Deno.test("sticky: requesters spread over all resources", () => {
  const counts = new Map<string, number>();
  for (const name of placement(ABCD).values()) counts.set(name, (counts.get(name) ?? 0) + 1);
  assert.deepEqual([...counts.keys()].sort(), ["a", "b", "c", "d"]);
  // 250 each on average; a poor hash would leave some nearly empty.
  for (const [name, count] of counts) assert.ok(count > 150, `${name} got only ${count}`);
});

Deno.test("sticky: a resource leaving moves only the requesters it had", () => {
  const before = placement(ABCD);
  const after = placement(ABCD.filter((r) => r.name !== "b"));
  let moved = 0;
  for (const [requester, name] of before) {
    if (name === "b") {
      assert.notEqual(after.get(requester), "b");
      moved++;
    } else assert.equal(after.get(requester), name, `${requester} moved off ${name}`);
  }
  assert.ok(moved > 0, "b had requesters to move");
});

Deno.test("sticky: a resource joining takes requesters only for itself", () => {
  const before = placement(ABCD);
  const after = placement([...ABCD, res("e")]);
  let taken = 0;
  for (const [requester, name] of before) {
    const now = after.get(requester);
    if (now === "e") taken++;
    else assert.equal(now, name, `${requester} moved from ${name} to ${now}`);
  }
  // About a fifth of them should move to the newcomer.
  assert.ok(taken > 100 && taken < 300, `e took ${taken}`);
});

Deno.test("negative priority: never chosen while a non-negative resource is eligible", () => {
  const low = res("low", { priority: -1 });
  const zero = res("zero", { priority: 0 });
  const high = res("high", { priority: 5 });
  for (const policy of BALANCES) {
    for (let turn = 0; turn < 4; turn++) {
      for (const random of [0, 0.5, 0.99]) {
        const over = { turn, random: () => random, rendezvousKey: `u${turn}@example.org` };
        assert.notEqual(pick(policy, [low, zero, high], over), "low", policy);
        // Priority 0 is not negative.
        assert.equal(pick(policy, [low, zero], over), "zero", policy);
      }
    }
  }
});

Deno.test("negative priority: used when no non-negative resource is eligible", () => {
  const lows = [res("low1", { priority: -1 }), res("low2", { priority: -5 })];
  for (const policy of BALANCES) {
    assert.ok(pick(policy, lows, { random: () => 0.5 }).startsWith("low"), policy);
  }
  assert.deepEqual(
    [0, 1, 2].map((turn) => pick("round-robin", lows, { turn })),
    ["low1", "low2", "low1"],
  );
  // The non-negative one is full, or excluded: the negative one steps in.
  const busy = res("busy", { pending: 2 });
  assert.equal(pick("round-robin", [busy, lows[0]], { maxPerResource: 2 }), "low1");
  assert.equal(pick("round-robin", [busy, lows[0]], { exclude: busy }), "low1");
});

Deno.test("maxPerResource: a resource holding that many is skipped", () => {
  const resources = [res("a", { pending: 3 }), res("b", { pending: 2 }), res("c", { pending: 0 })];
  // Round-robin would start with a; a is at the limit, b just below it.
  assert.deepEqual(
    [0, 1, 2].map((turn) => pick("round-robin", resources, { turn, maxPerResource: 3 })),
    ["b", "c", "b"],
  );
  for (const policy of BALANCES) {
    const over = { maxPerResource: 1, random: () => 0 };
    assert.equal(pick(policy, resources, over), "c", policy);
  }
});

Deno.test("maxPerResource: all full gives 'full', no resources gives 'none'", () => {
  const full = [res("a", { pending: 2 }), res("b", { pending: 3, priority: -1 })];
  for (const policy of BALANCES) {
    assert.deepEqual(choose(policy, full, ctx({ maxPerResource: 2 })), { kind: "full" }, policy);
    assert.deepEqual(choose(policy, [], ctx({ maxPerResource: 2 })), { kind: "none" }, policy);
    // A limit of 0 makes even idle resources full.
    assert.deepEqual(choose(policy, [res("idle")], ctx({ maxPerResource: 0 })), {
      kind: "full",
    });
  }
});

Deno.test("exclude: the excluded resource is never chosen", () => {
  const [a, b, c] = ABCD;
  for (const policy of BALANCES) {
    for (let turn = 0; turn < 6; turn++) {
      for (const random of [0, 0.4, 0.99]) {
        const over = { turn, random: () => random, rendezvousKey: `u${turn}@example.org` };
        assert.notEqual(pick(policy, [a, b, c], { ...over, exclude: b }), "b", policy);
        assert.equal(pick(policy, [a, b], { ...over, exclude: a }), "b", policy);
      }
    }
  }
  // Sticky requesters of the excluded resource go elsewhere.
  const onA = REQUESTERS.filter((r) => pick("sticky", [a, b, c], { rendezvousKey: r }) === "a");
  assert.ok(onA.length > 0);
  for (const r of onA) {
    assert.notEqual(pick("sticky", [a, b, c], { rendezvousKey: r, exclude: a }), "a");
  }
});

Deno.test("exclude: excluding the only resource gives 'none', not 'full'", () => {
  const only = res("only");
  for (const policy of BALANCES) {
    assert.deepEqual(choose(policy, [only], ctx({ exclude: only })), { kind: "none" }, policy);
  }
  // The others being full still says 'full'.
  const busy = res("busy", { pending: 1 });
  assert.deepEqual(
    choose("round-robin", [only, busy], ctx({ exclude: only, maxPerResource: 1 })),
    { kind: "full" },
  );
});

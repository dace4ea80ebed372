/** The implementing account's resources: upserts, removal and the cached list. */
import assert from "node:assert/strict";
import type { Pending } from "../../src/core/pending.ts";
import { ResourceSet } from "../../src/core/resources.ts";

const TARGET = "svc@example.org";

/** The names in list(), in order. */
function names(set: ResourceSet): string[] {
  return set.list().map((r) => r.name);
}

Deno.test("upsert adds a resource with its JID, priority and no pending requests", () => {
  const set = new ResourceSet();
  const a = set.upsert("a", `${TARGET}/a`, 5);
  assert.deepEqual({ ...a, pending: [...a.pending] }, {
    name: "a",
    jid: `${TARGET}/a`,
    priority: 5,
    dnd: false,
    draining: false,
    pending: [],
  });
  assert.equal(set.size, 1);
  assert.equal(set.get("a"), a);
  assert.equal(set.get("b"), undefined);
});

Deno.test("upsert of a known name updates its priority and keeps the same resource", () => {
  const set = new ResourceSet();
  const a = set.upsert("a", `${TARGET}/a`, 0);
  // Requests it holds must survive a presence update.
  a.pending.add({ key: "k" } as Pending);
  const again = set.upsert("a", `${TARGET}/a`, -3);
  assert.equal(again, a);
  assert.equal(a.priority, -3);
  assert.equal(a.pending.size, 1);
  assert.equal(set.size, 1);
  assert.equal(set.list()[0].priority, -3);
});

Deno.test("list() is in order of arrival; an update does not move a resource", () => {
  const set = new ResourceSet();
  for (const name of ["c", "a", "b"]) set.upsert(name, `${TARGET}/${name}`, 0);
  set.upsert("c", `${TARGET}/c`, 10);
  assert.deepEqual(names(set), ["c", "a", "b"]);
  // Going away and coming back puts it last.
  set.remove("c");
  set.upsert("c", `${TARGET}/c`, 0);
  assert.deepEqual(names(set), ["a", "b", "c"]);
});

Deno.test("list() is cached while nothing is added or removed", () => {
  const set = new ResourceSet();
  set.upsert("a", `${TARGET}/a`, 0);
  const list = set.list();
  assert.equal(set.list(), list);
  // A priority update changes the shared resource, not the list.
  set.upsert("a", `${TARGET}/a`, 1);
  assert.equal(set.list(), list);
  assert.equal(set.remove("nobody"), undefined);
  assert.equal(set.list(), list);
});

Deno.test("list() follows every add, remove and clear", () => {
  const set = new ResourceSet();
  assert.deepEqual(names(set), []);
  set.upsert("a", `${TARGET}/a`, 0);
  assert.deepEqual(names(set), ["a"]);
  set.upsert("b", `${TARGET}/b`, 0);
  assert.deepEqual(names(set), ["a", "b"]);
  set.remove("a");
  assert.deepEqual(names(set), ["b"]);
  set.clear();
  assert.deepEqual(names(set), []);
  set.upsert("c", `${TARGET}/c`, 0);
  assert.deepEqual(names(set), ["c"]);
});

Deno.test("remove returns the resource it removed, and undefined for an unknown one", () => {
  const set = new ResourceSet();
  const a = set.upsert("a", `${TARGET}/a`, 0);
  set.upsert("b", `${TARGET}/b`, 0);
  assert.equal(set.remove("x"), undefined);
  assert.equal(set.size, 2);
  assert.equal(set.remove("a"), a);
  assert.equal(set.size, 1);
  assert.equal(set.get("a"), undefined);
  // Twice is the same as unknown.
  assert.equal(set.remove("a"), undefined);
  assert.equal(set.size, 1);
});

Deno.test("clear returns every resource in arrival order and leaves the set empty", () => {
  const set = new ResourceSet();
  const made = ["a", "b", "c"].map((name) => set.upsert(name, `${TARGET}/${name}`, 0));
  const cleared = set.clear();
  assert.deepEqual(cleared, made);
  assert.equal(set.size, 0);
  assert.equal(set.get("a"), undefined);
  assert.deepEqual(set.clear(), []);
  // What clear returned is not changed by later arrivals (the caller iterates it).
  set.upsert("d", `${TARGET}/d`, 0);
  assert.deepEqual(cleared.map((r) => r.name), ["a", "b", "c"]);
  assert.deepEqual(names(set), ["d"]);
});

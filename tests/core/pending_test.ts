/** Tables of requests awaiting a reply, with deadlines, driven by plain numbers. */
import assert from "node:assert/strict";
import { DeadlineTable, type Pending, PendingTable, type Timed } from "../../src/core/pending.ts";
import { type Resource, ResourceSet } from "../../src/core/resources.ts";

/** An entry added at `now` with this timeout, as the router makes them. */
function timed(key: string, now: number, timeoutMs: number): Timed {
  return { key, deadline: now + timeoutMs, timeoutMs };
}

/** A table holding these entries, added in order. */
function tableOf(...entries: Timed[]): DeadlineTable<Timed> {
  const table = new DeadlineTable<Timed>();
  for (const entry of entries) table.add(entry);
  return table;
}

function keys(entries: Iterable<Timed>): string[] {
  return [...entries].map((e) => e.key);
}

Deno.test("an empty table: no entries, no deadline, nothing to take", () => {
  const table = new DeadlineTable<Timed>();
  assert.equal(table.size, 0);
  assert.equal(table.get("x"), undefined);
  assert.equal(table.nextDeadline(), undefined);
  assert.deepEqual(table.takeExpired(Number.MAX_SAFE_INTEGER), []);
  assert.deepEqual(table.takeAll(), []);
  assert.deepEqual([...table.values()], []);
});

Deno.test("add, get and remove by key", () => {
  const a = timed("a", 0, 1000);
  const b = timed("b", 10, 1000);
  const table = tableOf(a, b);
  assert.equal(table.size, 2);
  assert.equal(table.get("a"), a);
  assert.equal(table.get("b"), b);
  table.remove(a);
  assert.equal(table.size, 1);
  assert.equal(table.get("a"), undefined);
  assert.deepEqual(keys(table.values()), ["b"]);
  // Removing it again changes nothing.
  table.remove(a);
  assert.equal(table.size, 1);
  assert.equal(table.get("b"), b);
  assert.equal(table.nextDeadline(), 1010);
});

Deno.test("values() lists entries oldest first", () => {
  const table = tableOf(timed("a", 0, 500), timed("b", 1, 9000), timed("c", 2, 500));
  assert.deepEqual(keys(table.values()), ["a", "b", "c"]);
});

Deno.test("nextDeadline is the earliest across timeouts, not the oldest entry's", () => {
  const table = tableOf(
    timed("long", 0, 10_000), // 10000
    timed("short", 100, 500), // 600
    timed("longer", 200, 30_000), // 30200
    timed("short2", 300, 500), // 800
  );
  assert.equal(table.nextDeadline(), 600);
  table.remove(table.get("short")!);
  assert.equal(table.nextDeadline(), 800);
  table.remove(table.get("short2")!);
  assert.equal(table.nextDeadline(), 10_000);
  table.remove(table.get("long")!);
  assert.equal(table.nextDeadline(), 30_200);
  table.remove(table.get("longer")!);
  assert.equal(table.nextDeadline(), undefined);
});

Deno.test("a deadline of 0 is a deadline", () => {
  assert.equal(tableOf(timed("a", -1000, 1000)).nextDeadline(), 0);
});

Deno.test("removing from the middle of a queue leaves its head and order alone", () => {
  const [a, b, c] = [timed("a", 0, 100), timed("b", 100, 100), timed("c", 200, 100)];
  const table = tableOf(a, b, c);
  table.remove(b);
  assert.equal(table.nextDeadline(), 100);
  assert.deepEqual(keys(table.takeExpired(250)), ["a"]);
  assert.equal(table.nextDeadline(), 300);
  assert.deepEqual(keys(table.takeExpired(300)), ["c"]);
  assert.equal(table.size, 0);
});

Deno.test("removing a queue's head makes the next one the deadline", () => {
  const [a, b] = [timed("a", 0, 100), timed("b", 50, 100)];
  const table = tableOf(a, b);
  table.remove(a);
  assert.equal(table.nextDeadline(), 150);
});

Deno.test("takeExpired takes entries whose deadline is at or before now, and only those", () => {
  const table = tableOf(timed("a", 0, 100), timed("b", 1, 100));
  assert.deepEqual(table.takeExpired(99), []);
  assert.equal(table.size, 2);
  assert.deepEqual(keys(table.takeExpired(100)), ["a"]);
  assert.equal(table.get("a"), undefined);
  assert.equal(table.size, 1);
  assert.equal(table.nextDeadline(), 101);
});

Deno.test("takeExpired over several timeouts: the expired ones, oldest first per timeout", () => {
  const table = tableOf(
    timed("s1", 0, 1000), // 1000
    timed("l1", 50, 5000), // 5050
    timed("s2", 100, 1000), // 1100
    timed("s3", 200, 1000), // 1200
    timed("q1", 900, 100), // 1000
    timed("q2", 1050, 100), // 1150
    timed("l2", 1100, 5000), // 6100
  );
  const expired = table.takeExpired(1150);
  assert.deepEqual(keys(expired).sort(), ["q1", "q2", "s1", "s2"]);
  // Within one timeout, in the order they were added.
  const order = keys(expired);
  assert.ok(order.indexOf("s1") < order.indexOf("s2"), order.join());
  assert.ok(order.indexOf("q1") < order.indexOf("q2"), order.join());
  // The rest stay, and the next deadline is theirs.
  assert.equal(table.size, 3);
  assert.deepEqual(keys(table.values()), ["l1", "s3", "l2"]);
  assert.equal(table.nextDeadline(), 1200);
  assert.deepEqual(keys(table.takeExpired(6100)).sort(), ["l1", "l2", "s3"]);
});

Deno.test("a timeout whose entries are all gone can come back", () => {
  const table = tableOf(timed("a", 0, 100), timed("b", 0, 5000));
  assert.deepEqual(keys(table.takeExpired(100)), ["a"]);
  table.add(timed("c", 200, 100));
  assert.equal(table.nextDeadline(), 300);
  assert.deepEqual(keys(table.takeExpired(300)), ["c"]);
  assert.equal(table.nextDeadline(), 5000);
});

Deno.test("takeAll returns every entry and leaves the table empty", () => {
  const table = tableOf(timed("a", 0, 100), timed("b", 0, 5000), timed("c", 10, 100));
  assert.deepEqual(keys(table.takeAll()).sort(), ["a", "b", "c"]);
  assert.equal(table.size, 0);
  assert.equal(table.get("a"), undefined);
  assert.equal(table.nextDeadline(), undefined);
  assert.deepEqual(table.takeExpired(Number.MAX_SAFE_INTEGER), []);
});

// PendingTable: the same, plus the counts on resources and per requester.

let serial = 0;

/** A forwarded get from `requesterBare`, held by `resource` (or unattached). */
function pending(
  requesterBare: string,
  resource: Resource | undefined,
  now = 0,
  timeoutMs = 1000,
): Pending {
  const id = `id${serial++}`;
  return {
    key: `${requesterBare}/r\0${id}`,
    requester: `${requesterBare}/r`,
    requesterBare,
    requesterDomain: requesterBare.slice(requesterBare.indexOf("@") + 1),
    id,
    replyFrom: undefined,
    type: "get",
    affinityKey: undefined,
    via: `${requesterBare}/r`,
    request: "<iq/>",
    started: now,
    deadline: now + timeoutMs,
    timeoutMs,
    resource,
    resourceJid: resource?.jid ?? "",
    retried: false,
  };
}

function twoResources(): [Resource, Resource] {
  const set = new ResourceSet();
  return [set.upsert("a", "svc@example.org/a", 0), set.upsert("b", "svc@example.org/b", 0)];
}

Deno.test("PendingTable: add puts the request on its resource and counts its requester", () => {
  const [a, b] = twoResources();
  const table = new PendingTable();
  const p1 = pending("alice@example.org", a);
  const p2 = pending("alice@example.org", b);
  const p3 = pending("bob@example.org", a);
  for (const p of [p1, p2, p3]) table.add(p);
  assert.deepEqual([...a.pending], [p1, p3]);
  assert.deepEqual([...b.pending], [p2]);
  assert.equal(table.countFor("alice@example.org"), 2);
  assert.equal(table.countFor("bob@example.org"), 1);
  assert.equal(table.countFor("carol@example.org"), 0);
});

Deno.test("PendingTable: remove frees the resource's slot and the requester's count, once", () => {
  const [a] = twoResources();
  const table = new PendingTable();
  const p1 = pending("alice@example.org", a);
  const p2 = pending("alice@example.org", a);
  table.add(p1);
  table.add(p2);
  assert.equal(table.remove(p1), true);
  assert.deepEqual([...a.pending], [p2]);
  assert.equal(p1.resource, undefined);
  assert.equal(p2.resource, a);
  assert.equal(table.countFor("alice@example.org"), 1);
  // A second remove of the same request changes nothing.
  assert.equal(table.remove(p1), false);
  assert.equal(table.countFor("alice@example.org"), 1);
  assert.deepEqual([...a.pending], [p2]);
  table.remove(p2);
  assert.equal(a.pending.size, 0);
  assert.equal(table.countFor("alice@example.org"), 0);
  assert.equal(table.size, 0);
});

Deno.test("PendingTable: an unattached request counts for its requester only", () => {
  const table = new PendingTable();
  const p = pending("alice@example.org", undefined);
  table.add(p);
  assert.equal(table.countFor("alice@example.org"), 1);
  assert.equal(table.get(p.key), p);
  table.remove(p);
  assert.equal(table.countFor("alice@example.org"), 0);
  assert.equal(table.size, 0);
});

Deno.test("PendingTable: takeExpired and takeAll release resources and counts too", () => {
  const [a, b] = twoResources();
  const table = new PendingTable();
  const early = pending("alice@example.org", a, 0, 100);
  const late = pending("alice@example.org", b, 0, 5000);
  const other = pending("bob@example.org", a, 50, 100);
  for (const p of [early, late, other]) table.add(p);

  assert.deepEqual(table.takeExpired(100), [early]);
  assert.deepEqual([...a.pending], [other]);
  assert.equal(early.resource, undefined);
  assert.equal(table.countFor("alice@example.org"), 1);

  assert.deepEqual(new Set(table.takeAll()), new Set([late, other]));
  assert.equal(a.pending.size + b.pending.size, 0);
  assert.equal(table.countFor("alice@example.org"), 0);
  assert.equal(table.countFor("bob@example.org"), 0);
  assert.equal(table.nextDeadline(), undefined);
});

Deno.test("remove of an entry no longer in the table changes nothing, even under a reused key", () => {
  const old = timed("k", 0, 100);
  const table = tableOf(old);
  assert.equal(table.remove(old), true);
  const fresh = timed("k", 0, 200);
  table.add(fresh);
  assert.equal(table.remove(old), false);
  assert.equal(table.get("k"), fresh);
  assert.equal(table.size, 1);
  assert.equal(table.nextDeadline(), 200);
  assert.deepEqual(keys(table.takeExpired(300)), ["k"]);
});

Deno.test("a request added with an earlier deadline than those queued is still the next due", () => {
  const table = new DeadlineTable<Timed>();
  const entry = (key: string, deadline: number) => ({ key, deadline, timeoutMs: 10 });
  table.add(entry("late", 30));
  table.add(entry("later", 40));
  // One that waited for its resource: it arrived first, so it is due first.
  const early = entry("early", 20);
  table.add(early);
  table.add(entry("last", 50));
  assert.equal(table.nextDeadline(), 20);
  assert.deepEqual(table.takeExpired(30).map((e) => e.key), ["early", "late"]);
  assert.equal(table.nextDeadline(), 40);
  table.add(entry("again", 45));
  assert.deepEqual(table.takeExpired(100).map((e) => e.key), ["later", "again", "last"]);
  assert.equal(table.nextDeadline(), undefined);
});

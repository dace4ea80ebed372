import assert from "node:assert/strict";
import { type Waiting, WaitingList } from "../../src/core/waiting.ts";

const item = (until: number, requesterBare: string, key?: string): Waiting => ({
  until,
  requesterBare,
  requesterDomain: requesterBare.slice(requesterBare.indexOf("@") + 1),
  ...(key === undefined ? {} : { key }),
});

Deno.test("a waiting list knows its keys, its count per sender and its earliest until", () => {
  const list = new WaitingList<Waiting>();
  assert.equal(list.nextUntil, undefined);
  list.push(item(900, "alice@example.org", "alice@example.org/r\0a"));
  list.push(item(500, "alice@example.org", "alice@example.org/r\0b"));
  list.push(item(700, "bob@example.org"));
  assert.equal(list.length, 3);
  assert.equal(list.nextUntil, 500);
  assert.ok(list.has("alice@example.org/r\0b"));
  assert.ok(!list.has("alice@example.org/r\0c"));
  assert.equal(list.countFor("alice@example.org"), 2);
  assert.equal(list.countFor("bob@example.org"), 1);
  assert.equal(list.countFor("carol@example.org"), 0);
});

Deno.test("takeExpired takes those due, in arrival order, and re-indexes the rest", () => {
  const list = new WaitingList<Waiting>();
  const a = item(900, "alice@example.org", "ka");
  const b = item(500, "alice@example.org", "kb");
  const c = item(700, "bob@example.org");
  for (const x of [a, b, c]) list.push(x);
  assert.deepEqual(list.takeExpired(499), []);
  assert.deepEqual(list.takeExpired(700), [b, c]);
  assert.equal(list.length, 1);
  assert.equal(list.nextUntil, 900);
  assert.ok(!list.has("kb"));
  assert.ok(list.has("ka"));
  assert.equal(list.countFor("alice@example.org"), 1);
  assert.equal(list.countFor("bob@example.org"), 0);
});

Deno.test("takeAll empties the list and its indexes", () => {
  const list = new WaitingList<Waiting>();
  const a = item(900, "alice@example.org", "ka");
  const b = item(500, "bob@example.org");
  list.push(a);
  list.push(b);
  assert.deepEqual(list.takeAll(), [a, b]);
  assert.equal(list.length, 0);
  assert.equal(list.nextUntil, undefined);
  assert.ok(!list.has("ka"));
  assert.equal(list.countFor("alice@example.org"), 0);
});

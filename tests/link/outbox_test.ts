/** The stream's outbox: bounded, oldest dropped first, drained in order. */
import assert from "node:assert/strict";
import { Outbox } from "../../src/link/outbox.ts";

Deno.test("outbox: holds in order, drains in order, and is empty after", () => {
  const box = new Outbox(3);
  assert.equal(box.push("a"), false);
  assert.equal(box.push("b"), false);
  assert.equal(box.size, 2);
  assert.deepEqual(box.drain(), ["a", "b"]);
  assert.equal(box.size, 0);
  assert.deepEqual(box.drain(), []);
});

Deno.test("outbox: when full, the oldest goes, and the drops are counted until the drain", () => {
  const box = new Outbox(3);
  const pushed = ["1", "2", "3", "4", "5", "6", "7", "8"].map((text) => box.push(text));
  assert.deepEqual(pushed, [false, false, false, true, true, true, true, true]);
  assert.equal(box.size, 3);
  assert.equal(box.dropped, 5);
  assert.deepEqual(box.drain(), ["6", "7", "8"]);
  assert.equal(box.dropped, 0);
  box.push("9");
  assert.deepEqual(box.drain(), ["9"]);
});

Deno.test("outbox: 100,000 pushes past a limit of 10,000 keep the newest 10,000", () => {
  const box = new Outbox(10_000);
  for (let i = 0; i < 100_000; i++) box.push(String(i));
  const held = box.drain();
  assert.equal(held.length, 10_000);
  assert.equal(held[0], "90000");
  assert.equal(held.at(-1), "99999");
});

Deno.test("outbox: bounded by size too: big entries push the oldest out, however few", () => {
  const box = new Outbox(10_000, 1_000);
  assert.equal(box.push("a".repeat(400)), false);
  assert.equal(box.push("b".repeat(400)), false);
  assert.equal(box.chars, 800);
  // A third would make 1,200: the oldest goes.
  assert.equal(box.push("c".repeat(400)), true);
  assert.equal(box.size, 2);
  assert.equal(box.chars, 800);
  // One that needs room for itself pushes out as many as it takes.
  assert.equal(box.push("d".repeat(900)), true);
  assert.equal(box.dropped, 3);
  assert.deepEqual(box.drain().map((text) => text[0]), ["d"]);
  assert.equal(box.chars, 0);
});

Deno.test("outbox: an entry larger than the whole outbox is dropped, and what is held stays", () => {
  const box = new Outbox(10, 100);
  box.push("small");
  assert.equal(box.push("x".repeat(101)), true);
  assert.equal(box.dropped, 1);
  assert.deepEqual(box.drain(), ["small"]);
});

Deno.test("outbox: 10,000 pushes of 10 KB past a 1 MB bound hold at most 1 MB", () => {
  const box = new Outbox(10_000, 1024 * 1024);
  const entry = "e".repeat(10_000);
  for (let i = 0; i < 10_000; i++) {
    box.push(entry);
    assert.ok(box.chars <= 1024 * 1024);
  }
  assert.equal(box.size, 104);
});

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

/** src/app/drain_notes.ts: what a reload's `drain` tells the operator. */
import assert from "node:assert/strict";
import { drainNotes } from "../../src/app/drain_notes.ts";

const state = (name: string, draining: boolean) => ({ name, draining, pending: 0, keys: 0 });

Deno.test("drain notes: names no resource online has, case and all", () => {
  const notes = drainNotes(["jicofo-1", "Jicofo-2", "gone"], [
    state("jicofo-1", true),
    state("jicofo-2", false),
  ]);
  assert.deepEqual(notes.map((n) => [n.level, n.event, n.fields.names]), [
    ["info", "config.drain_unknown", "Jicofo-2,gone"],
  ]);
});

Deno.test("drain notes: every resource online draining is a warning; none online, or none named, no note", () => {
  const all = drainNotes(["a"], [state("a", true), state("b", true)]);
  assert.deepEqual(all.map((n) => [n.level, n.event, n.fields.resources]), [
    ["warning", "target.all_draining", 2],
  ]);
  assert.deepEqual(drainNotes(["a"], [state("a", true), state("b", false)]), []);
  assert.deepEqual(drainNotes(undefined, []), []);
  assert.deepEqual(drainNotes(undefined, [state("a", false)]), []);
});

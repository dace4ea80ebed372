import assert from "node:assert/strict";
import { Stickiness } from "../../src/core/stickiness.ts";

Deno.test("stickiness remembers each user's resource, and forgets the least recent beyond its limit", () => {
  const stickiness = new Stickiness(2);
  stickiness.set("alice@example.org", "a");
  stickiness.set("bob@example.org", "b");
  assert.equal(stickiness.get("alice@example.org"), "a"); // alice is now the most recent
  stickiness.set("carol@example.org", "c");
  assert.equal(stickiness.size, 2);
  assert.equal(stickiness.get("bob@example.org"), undefined, "bob was the least recent");
  assert.equal(stickiness.get("alice@example.org"), "a");
  assert.equal(stickiness.get("carol@example.org"), "c");
  stickiness.set("alice@example.org", "b");
  assert.equal(stickiness.get("alice@example.org"), "b");
});

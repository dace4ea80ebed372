import assert from "node:assert/strict";
import { Affinity } from "../../src/core/affinity.ts";

Deno.test("affinity remembers each user's resource, and forgets the least recent beyond its limit", () => {
  const affinity = new Affinity(2);
  affinity.set("alice@example.org", "a");
  affinity.set("bob@example.org", "b");
  assert.equal(affinity.get("alice@example.org"), "a"); // alice is now the most recent
  affinity.set("carol@example.org", "c");
  assert.equal(affinity.size, 2);
  assert.equal(affinity.get("bob@example.org"), undefined, "bob was the least recent");
  assert.equal(affinity.get("alice@example.org"), "a");
  assert.equal(affinity.get("carol@example.org"), "c");
  affinity.set("alice@example.org", "b");
  assert.equal(affinity.get("alice@example.org"), "b");
});

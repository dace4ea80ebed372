/** The affinity pins' store: kept across a reopen, per domain, in the order pinned. */
import assert from "node:assert/strict";
import { openPinStore } from "../../src/ops/pins.ts";
import { DATABASE_FILE, openSubscriberStore } from "../../src/ops/subscribers.ts";

function withDir(run: (dir: string) => void): void {
  const dir = Deno.makeTempDirSync({ prefix: "client-proxy-pins-" });
  try {
    run(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("pins survive closing and reopening the database, per domain, oldest first", () => {
  withDir((dir) => {
    const store = openPinStore(dir);
    store.apply("focus.example.org", [["r1@c.example", "a"], ["r2@c.example", "b"]]);
    store.apply("focus.example.org", [
      ["r1@c.example", undefined],
      ["r3@c.example", "a"],
      ["r1@c.example", "c"], // pinned again: now the newest
    ]);
    store.apply("other.example.org", [["r1@c.example", "z"]]);
    store.close();
    const again = openPinStore(dir);
    try {
      assert.deepEqual(again.list("focus.example.org"), [
        ["r2@c.example", "b"],
        ["r3@c.example", "a"],
        ["r1@c.example", "c"],
      ]);
      assert.deepEqual(again.list("other.example.org"), [["r1@c.example", "z"]]);
      assert.deepEqual(again.list("none.example.org"), []);
    } finally {
      again.close();
    }
  });
});

Deno.test("pins share the state database with the subscribers", () => {
  withDir((dir) => {
    const subscribers = openSubscriberStore(dir);
    const pins = openPinStore(dir);
    subscribers.add("focus.example.org", "bob@example.org");
    pins.apply("focus.example.org", [["r1@c.example", "a"]]);
    subscribers.close();
    pins.close();
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [DATABASE_FILE]);
    const again = openSubscriberStore(dir);
    assert.deepEqual(again.list("focus.example.org"), ["bob@example.org"]);
    again.close();
  });
});

Deno.test("a step's changes are written all or none", () => {
  withDir((dir) => {
    const store = openPinStore(dir);
    store.apply("focus.example.org", [["r1@c.example", "a"]]);
    assert.throws(() =>
      store.apply("focus.example.org", [
        ["r2@c.example", "b"],
        // A value SQLite refuses: the whole step is rolled back.
        ["r3@c.example", Symbol("bad") as unknown as string],
      ])
    );
    assert.deepEqual(store.list("focus.example.org"), [["r1@c.example", "a"]]);
    store.close();
  });
});

Deno.test("a state_dir that does not exist is an error naming the database path", () => {
  withDir((dir) => {
    assert.throws(
      () => openPinStore(`${dir}/nope`),
      (error: Error) =>
        error.message.startsWith(`state_dir: cannot use ${dir}/nope/${DATABASE_FILE}: `),
    );
  });
});

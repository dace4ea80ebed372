/**
 * The affinity pins' store: kept across a reopen, per domain, in the order
 * pinned; shared by two processes (a standby pair on one host).
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openPinStore } from "../../src/ops/pins.ts";
import { DATABASE_FILE, openSubscriberStore } from "../../src/ops/subscribers.ts";
import { within } from "../support/bounded.ts";
import { PIN_DOMAIN } from "../support/pin_writer.ts";

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

Deno.test("a reader in the middle of a read does not hold up a write, and sees it once done", () => {
  withDir((dir) => {
    const store = openPinStore(dir);
    store.apply("focus.example.org", [["r1@c.example", "a"]]);
    // Another connection on the file (a standby's, say) halfway through a read.
    const reader = new DatabaseSync(`${dir}/${DATABASE_FILE}`);
    try {
      reader.exec("BEGIN");
      const count = reader.prepare("SELECT count(*) AS n FROM affinity_pins");
      assert.equal(count.get()?.n, 1);
      const started = performance.now();
      store.apply("focus.example.org", [["r2@c.example", "b"]]);
      assert.ok(performance.now() - started < 500, "the write waited for the reader");
      assert.equal(count.get()?.n, 1, "a read sees one state from start to end");
      reader.exec("COMMIT");
      assert.equal(count.get()?.n, 2);
    } finally {
      reader.close();
      store.close();
    }
  });
});

Deno.test("two processes writing and reading the same state_dir: no error, no change lost", async () => {
  const dir = await Deno.makeTempDir({ prefix: "client-proxy-pins-" });
  const writer = new URL("../support/pin_writer.ts", import.meta.url).pathname;
  const steps = 200;
  const children = ["one", "two"].map((name) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", `--allow-read=${dir}`, `--allow-write=${dir}`, writer, dir, name, `${steps}`],
      stdout: "piped",
      stderr: "piped",
    }).spawn()
  );
  try {
    const outputs = await within(Promise.all(children.map((c) => c.output())), 30_000, "writers");
    for (const output of outputs) {
      const said = new TextDecoder().decode(output.stdout) +
        new TextDecoder().decode(output.stderr);
      assert.equal(output.code, 0, said);
    }
    const store = openPinStore(dir);
    const kept = store.list(PIN_DOMAIN).map(([key]) => key).sort();
    store.close();
    const last = [steps - 3, steps - 2, steps - 1];
    assert.deepEqual(kept, [...last.map((i) => `one-${i}`), ...last.map((i) => `two-${i}`)]);
    const db = new DatabaseSync(`${dir}/${DATABASE_FILE}`);
    assert.equal(db.prepare("PRAGMA integrity_check").get()?.integrity_check, "ok");
    db.close();
  } finally {
    for (const child of children) {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
    }
    await Promise.allSettled(children.map((c) => c.status));
    await Deno.remove(dir, { recursive: true });
  }
});

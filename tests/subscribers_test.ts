import assert from "node:assert/strict";
import { checkStateDir, DATABASE_FILE, openSubscriberStore } from "../src/subscribers.ts";

function withDir(run: (dir: string) => void): void {
  const dir = Deno.makeTempDirSync({ prefix: "client-proxy-subscribers-" });
  try {
    run(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("subscribers survive closing and reopening the database, per domain", () => {
  withDir((dir) => {
    const store = openSubscriberStore(dir);
    store.add("a.example.org", "zoe@example.org");
    store.add("a.example.org", "bob@example.org");
    store.add("a.example.org", "bob@example.org");
    store.add("b.example.org", "carol@example.org");
    store.remove("a.example.org", "zoe@example.org");
    store.close();

    const again = openSubscriberStore(dir);
    try {
      assert.deepEqual(again.list("a.example.org"), ["bob@example.org"]);
      assert.deepEqual(again.list("b.example.org"), ["carol@example.org"]);
      assert.deepEqual(again.list("c.example.org"), []);
    } finally {
      again.close();
    }
    assert.ok(Deno.statSync(`${dir}/${DATABASE_FILE}`).isFile);
  });
});

Deno.test("a state_dir that does not exist is an error naming the database path", () => {
  withDir((dir) => {
    const missing = `${dir}/nope/`;
    assert.throws(
      () => openSubscriberStore(missing),
      (error: Error) =>
        error.message.startsWith(`state_dir: cannot use ${dir}/nope/${DATABASE_FILE}: `),
    );
    assert.throws(
      () => checkStateDir(missing),
      (error: Error) =>
        error.message.startsWith(`state_dir: cannot use ${dir}/nope/${DATABASE_FILE}: `),
    );
  });
});

Deno.test("checkStateDir proves the directory writable and leaves nothing behind", () => {
  withDir((dir) => {
    checkStateDir(dir);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    // An existing database is opened, not replaced.
    const store = openSubscriberStore(dir);
    store.add("a.example.org", "bob@example.org");
    store.close();
    checkStateDir(dir);
    const again = openSubscriberStore(dir);
    assert.deepEqual(again.list("a.example.org"), ["bob@example.org"]);
    again.close();
  });
});

import assert from "node:assert/strict";
import {
  assertDirectory,
  checkStateDir,
  DATABASE_FILE,
  openSubscriberStore,
} from "../../src/ops/subscribers.ts";

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
    // Checked (--check, and before a start), it is said in the operator's words.
    for (const check of [checkStateDir, assertDirectory]) {
      assert.throws(() => check(missing), {
        message: `state_dir: expected an existing directory, got ${missing}, which does not ` +
          "exist (create it, writable by the user the proxy runs as)",
      });
    }
    Deno.writeTextFileSync(`${dir}/file`, "");
    assert.throws(() => checkStateDir(`${dir}/file`), {
      message: `state_dir: expected a directory, got ${dir}/file, which is a file`,
    });
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

/** Runs `code` (a module importing from src/) as the unprivileged user `nobody`; its stderr. */
async function asNobody(code: string, dir: string): Promise<{ code: number; stderr: string }> {
  Deno.mkdirSync(dir);
  const script = `${dir}/probe.ts`;
  Deno.writeTextFileSync(script, code);
  Deno.mkdirSync(`${dir}/deno`);
  for (const path of [dir, script, `${dir}/deno`]) Deno.chownSync(path, 65534, 65534);
  const output = await new Deno.Command("setpriv", {
    args: [
      "--reuid=nobody",
      "--regid=nogroup",
      "--clear-groups",
      "env",
      `HOME=${dir}`,
      `DENO_DIR=${dir}/deno`,
      Deno.execPath(),
      "run",
      "--no-lock",
      "--allow-read",
      "--allow-write",
      script,
    ],
    stdout: "null",
    signal: AbortSignal.timeout(30_000),
  }).output();
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
}

const SUBSCRIBERS = new URL("../../src/ops/subscribers.ts", import.meta.url).pathname;
const AS_ROOT = Deno.build.os === "linux" && Deno.uid() === 0;

Deno.test({
  name:
    "a database it may write in a directory it may not: refused at start, not at the first subscribe",
  // Only root can hand the files to another user (root itself ignores file modes).
  ignore: !AS_ROOT,
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "client-proxy-subscribers-" });
    try {
      Deno.chmodSync(dir, 0o755);
      const state = `${dir}/state`;
      Deno.mkdirSync(state);
      Deno.chownSync(state, 65534, 65534);
      const open = `import { checkStateDir, openSubscriberStore } from "${SUBSCRIBERS}";\n`;
      // The service's database, made while the directory was its own.
      const made = await asNobody(`${open}openSubscriberStore("${state}").close();`, `${dir}/a`);
      assert.equal(made.code, 0, made.stderr);
      // Then the directory is no longer writable by it: no journal can be made.
      Deno.chownSync(state, 0, 0);
      const start = await asNobody(`${open}openSubscriberStore("${state}");`, `${dir}/b`);
      assert.notEqual(start.code, 0);
      assert.match(start.stderr, new RegExp(`state_dir: cannot use ${state}/${DATABASE_FILE}: `));
      const check = await asNobody(`${open}checkStateDir("${state}");`, `${dir}/c`);
      assert.match(check.stderr, new RegExp(`state_dir: cannot use ${state}/${DATABASE_FILE}: `));
      // With no database yet, --check tries to make a file there: said without Deno's call.
      const empty = `${dir}/empty`;
      Deno.mkdirSync(empty);
      const none = await asNobody(`${open}checkStateDir("${empty}");`, `${dir}/d`);
      assert.match(
        none.stderr,
        new RegExp(
          `state_dir: cannot create files in ${empty}: Permission denied \\(os error 13\\)\n`,
        ),
      );
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test("a write waits for another process's moment of lock instead of failing", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "client-proxy-subscribers-" });
  const store = openSubscriberStore(dir);
  // Another process takes the write lock for 300 ms, and says when it has it.
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { DatabaseSync } from "node:sqlite";
       const db = new DatabaseSync(${JSON.stringify(`${dir}/${DATABASE_FILE}`)});
       db.exec("BEGIN IMMEDIATE");
       console.log("locked");
       setTimeout(() => { db.exec("COMMIT"); db.close(); }, 300);`,
    ],
    stdout: "piped",
    stderr: "inherit",
    signal: AbortSignal.timeout(20_000),
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let said = "";
    while (!said.includes("locked")) {
      const { value, done } = await reader.read();
      if (done) break;
      said += value;
    }
    assert.match(said, /locked/);
    store.add("a.example.org", "carol@example.org");
    assert.deepEqual(store.list("a.example.org"), ["carol@example.org"]);
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
  } finally {
    await child.status;
    store.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

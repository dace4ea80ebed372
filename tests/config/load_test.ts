/**
 * src/config/load.ts: the file and its secrets from disk. Uses a temp dir:
 * needs `--allow-read --allow-write` and env access.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../src/config/load.ts";
import { yamlOf } from "../support/config.ts";

Deno.test("loadConfig reads the file and its secret_file", () => {
  const dir = Deno.makeTempDirSync({ prefix: "client-proxy-config-" });
  try {
    const file = `${dir}/client-proxy.yaml`;
    Deno.writeTextFileSync(`${dir}/secret`, "on-disk\n");
    Deno.writeTextFileSync(
      file,
      yamlOf({}, { secret: null, secret_file: "secret" }),
    );
    const result = loadConfig(file);
    assert.ok(result.ok, result.ok ? "" : result.errors.join("\n"));
    assert.equal(result.config.file, file);
    assert.equal(result.config.proxies[0].secret, "on-disk");
    assert.deepEqual(result.config.readPaths, [file, `${dir}/secret`]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("loadConfig reports a missing or unreadable file, never throws", () => {
  const dir = Deno.makeTempDirSync({ prefix: "client-proxy-config-" });
  try {
    assert.deepEqual(loadConfig(`${dir}/client-proxy.yaml`), {
      ok: false,
      errors: [`${dir}/client-proxy.yaml: cannot read: No such file`],
    });
    const result = loadConfig(dir);
    assert.ok(!result.ok);
    assert.equal(result.errors.length, 1);
    assert.match(result.errors[0], new RegExp(`^${dir}: cannot read: `));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("loadConfig reads a secret_credential from $CREDENTIALS_DIRECTORY", () => {
  const dir = Deno.makeTempDirSync({ prefix: "client-proxy-config-" });
  const before = Deno.env.get("CREDENTIALS_DIRECTORY");
  try {
    const file = `${dir}/client-proxy.yaml`;
    Deno.mkdirSync(`${dir}/credentials`);
    Deno.writeTextFileSync(`${dir}/credentials/xmpp`, "credential\n");
    Deno.writeTextFileSync(file, yamlOf({}, { secret: null, secret_credential: "xmpp" }));
    Deno.env.set("CREDENTIALS_DIRECTORY", `${dir}/credentials`);
    const result = loadConfig(file);
    assert.ok(result.ok, result.ok ? "" : result.errors.join("\n"));
    assert.equal(result.config.proxies[0].secret, "credential");
    assert.deepEqual(result.config.readPaths, [file, `${dir}/credentials/xmpp`]);
  } finally {
    if (before === undefined) Deno.env.delete("CREDENTIALS_DIRECTORY");
    else Deno.env.set("CREDENTIALS_DIRECTORY", before);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("loadConfig takes credentialsDir for $CREDENTIALS_DIRECTORY (a check outside the unit)", () => {
  const dir = Deno.makeTempDirSync({ prefix: "client-proxy-config-" });
  const before = Deno.env.get("CREDENTIALS_DIRECTORY");
  try {
    const file = `${dir}/client-proxy.yaml`;
    Deno.mkdirSync(`${dir}/mine`);
    Deno.writeTextFileSync(`${dir}/mine/xmpp`, "from-my-dir\n");
    Deno.writeTextFileSync(file, yamlOf({}, { secret: null, secret_credential: "xmpp" }));
    Deno.env.set("CREDENTIALS_DIRECTORY", `${dir}/elsewhere`);
    const result = loadConfig(file, { credentialsDir: `${dir}/mine` });
    assert.ok(result.ok, result.ok ? "" : result.errors.join("\n"));
    assert.equal(result.config.proxies[0].secret, "from-my-dir");
  } finally {
    if (before === undefined) Deno.env.delete("CREDENTIALS_DIRECTORY");
    else Deno.env.set("CREDENTIALS_DIRECTORY", before);
    Deno.removeSync(dir, { recursive: true });
  }
});

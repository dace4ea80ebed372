/** The files made from the config's code (dev/config_files.ts) are current. */
import assert from "node:assert/strict";
import { SAMPLE_FILE, SCHEMA_FILE } from "../../dev/config_files.ts";
import { configJsonSchema } from "../../src/config/json_schema.ts";
import { EXAMPLE_CONFIG } from "../../src/app/example_config.ts";

const ROOT = new URL("../../", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, ROOT));
const STALE = "stale: run deno task config:files";

Deno.test("deploy/client-proxy.schema.json is the zod schema's", async () => {
  assert.deepEqual(JSON.parse(await read(SCHEMA_FILE)), JSON.parse(configJsonSchema()), STALE);
});

Deno.test("the schema knows every key of the sample config, and the sample names it", async () => {
  const schema = JSON.parse(await read(SCHEMA_FILE));
  const sample = await read(SAMPLE_FILE);
  assert.match(sample, /^# yaml-language-server: \$schema=\.\/client-proxy\.schema\.json\n/);
  const proxyKeys = Object.keys(schema.properties.proxies.items.properties);
  for (const key of ["domain", "secret_credential", "request_timeout", "max_pending_per_domain"]) {
    assert.ok(proxyKeys.includes(key), key);
  }
  assert.equal(schema.properties.proxies.items.additionalProperties, false);
  assert.deepEqual(schema.properties.proxies.items.properties.request_timeout.type, [
    "string",
    "number",
  ]);
});

Deno.test("--example-config prints the sample config, word for word", async () => {
  assert.equal(EXAMPLE_CONFIG, await read(SAMPLE_FILE), STALE);
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", "main.ts", "--example-config"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.equal(code, 0);
  assert.equal(new TextDecoder().decode(stdout), EXAMPLE_CONFIG);
});

Deno.test("--config-schema prints the schema deploy/ has, for those with only the binary", async () => {
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", "main.ts", "--config-schema"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.equal(code, 0);
  assert.deepEqual(
    JSON.parse(new TextDecoder().decode(stdout)),
    JSON.parse(await read(SCHEMA_FILE)),
  );
});

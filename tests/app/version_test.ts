/** The version is written once, in deno.json: --version and the changelog follow it. */
import assert from "node:assert/strict";
import { VERSION } from "../../src/app/version.ts";

const ROOT = new URL("../../", import.meta.url);

Deno.test("VERSION is deno.json's version, and the changelog's latest release", async () => {
  const manifest = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  assert.match(manifest.version, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
  assert.equal(VERSION, manifest.version);
  assert.equal(manifest.license, "MIT");
  const changelog = await Deno.readTextFile(new URL("CHANGELOG.md", ROOT));
  const released = changelog.match(/^## \[(\d[^\]]*)\]/m);
  assert.equal(released?.[1], VERSION, "the changelog's latest release is the version");
});

Deno.test("--version prints deno.json's version", async () => {
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", "main.ts", "--version"],
    cwd: new URL(ROOT).pathname,
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.equal(code, 0);
  assert.equal(new TextDecoder().decode(stdout).trim(), `client-proxy ${VERSION}`);
});

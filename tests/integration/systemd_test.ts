/**
 * The systemd unit's ExecReload=, run as systemd runs it (each line in turn,
 * stopping at the first that fails) against a real proxy and Prosody: a
 * broken config fails the reload, and the config in force stays.
 */
import assert from "node:assert/strict";
import { DOMAIN, request, SECRET, TARGET, withWorld } from "../support/world.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const BINARY = "/usr/local/bin/client-proxy";
const CONFIG = "/etc/client-proxy/client-proxy.yaml";

/** The unit's ExecReload= command lines, in order. */
async function execReload(): Promise<string[][]> {
  const unit = await Deno.readTextFile(`${ROOT}deploy/client-proxy.service`);
  return unit.split("\n")
    .filter((line) => line.startsWith("ExecReload="))
    .map((line) => line.slice("ExecReload=".length).trim().split(/\s+/));
}

/** Runs the lines as systemd does: in turn, until one fails; the failing exit code, or 0. */
async function reload(lines: string[][], configFile: string, pid: number): Promise<number> {
  for (const words of lines) {
    const args = words.map((word) =>
      word === CONFIG ? configFile : word === "$MAINPID" ? String(pid) : word
    );
    // The binary is this checkout, run with the start task's flags.
    const [program, ...rest] = args[0] === BINARY
      ? [Deno.execPath(), "task", "--quiet", "start", ...args.slice(1)]
      : args;
    const { code } = await new Deno.Command(program, {
      args: rest,
      cwd: ROOT,
      stdout: "null",
      stderr: "null",
    }).output();
    if (code !== 0) return code;
  }
  return 0;
}

withWorld(
  "systemctl reload with a broken config fails, and the running config stays",
  async (world) => {
    const lines = await execReload();
    assert.ok(lines.length >= 2, "a check, then the signal");
    assert.deepEqual(lines[0].slice(0, 2), [BINARY, "--check"]);
    await world.resource("a");
    const alice = await world.client("alice", "r");
    const pid = world.proxy.pid();

    const seen = world.proxy.lineCount();
    await Deno.writeTextFile(world.proxy.configFile, "proxies: [ {domain: broken\n");
    assert.notEqual(await reload(lines, world.proxy.configFile, pid), 0);
    // The proxy was never signalled: no reload was tried, and it serves as before.
    const reply = await alice.request(request("after"));
    assert.equal(reply.attrs.type, "result", String(reply));
    assert.doesNotMatch(world.proxy.log().split("\n").slice(seen).join("\n"), /config\.reload/);

    // A good config reloads through the same lines.
    await world.proxy.writeConfig({
      server: world.server.componentUrl,
      log_level: "debug",
      proxies: [{ domain: DOMAIN, secret: SECRET, target_address: TARGET, request_timeout: "2s" }],
    });
    assert.equal(await reload(lines, world.proxy.configFile, pid), 0);
    await world.proxy.waitForLog(/config\.reloaded/, { after: seen });
  },
);

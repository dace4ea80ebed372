/**
 * The README's first quick-start command, exactly as written: `deno task
 * dev` comes up, `deno task dev:request` gets its answer through the proxy,
 * and Ctrl-C leaves nothing behind.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { SANDBOX_FILE } from "../../dev/sandbox.ts";
import { killTree } from "../support/process_tree.ts";
import { within } from "../support/bounded.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const decoder = new TextDecoder();

async function task(name: string, ...args: string[]): Promise<{ code: number; output: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", name, ...args],
    cwd: ROOT,
    stdin: "null",
    signal: AbortSignal.timeout(30_000),
  }).output();
  return { code, output: decoder.decode(stdout) + decoder.decode(stderr) };
}

Deno.test({
  name: "deno task dev: ready, dev:request answered through the proxy, Ctrl-C leaves nothing",
  // A developer's own sandbox is running in this checkout: leave it alone.
  ignore: existsSync(SANDBOX_FILE),
  fn: async () => {
    const sandbox = new Deno.Command(Deno.execPath(), {
      args: ["task", "dev"],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let output = "";
    const read = (stream: ReadableStream<Uint8Array>) =>
      (async () => {
        for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
      })();
    const reading = Promise.all([read(sandbox.stdout), read(sandbox.stderr)]);
    let stopped = false;
    try {
      const bound = Date.now() + 90_000;
      while (!/sandbox is ready|NOT ready/.test(output) && Date.now() < bound) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.match(output, /client-proxy sandbox is ready/, output);
      const dirs = [...output.matchAll(/(\/tmp\/client-proxy-[a-z]+-[0-9a-f]+)\//g)].map((m) =>
        m[1]
      );
      assert.ok(dirs.length >= 2, `the banner names its temp dirs:\n${output}`);
      assert.ok(existsSync(SANDBOX_FILE));

      const disco = await task("dev:request");
      assert.equal(disco.code, 0, disco.output);
      assert.match(disco.output, /received result/);
      assert.match(disco.output, /<iq [^>]*from="proxy\.localhost"/);
      assert.match(disco.output, /<iq [^>]*type="result"/);
      assert.match(disco.output, /<identity [^>]*name="client-proxy example service"/);
      const ping = await task("dev:request", "--ping");
      assert.equal(ping.code, 0, ping.output);
      assert.match(ping.output, /received result/);

      sandbox.kill("SIGINT");
      const status = await within(sandbox.status, 20_000, "the sandbox did not stop on Ctrl-C");
      stopped = true;
      await within(reading, 5_000, "the sandbox's output did not end");
      assert.equal(status.code, 0, output);
      assert.match(output, /\[sandbox\] stopped; nothing left behind/);
      assert.equal(existsSync(SANDBOX_FILE), false, ".sandbox.json removed");
      for (const dir of new Set(dirs)) assert.equal(existsSync(dir), false, `${dir} removed`);
    } finally {
      if (!stopped) {
        // `deno task` waits for the sandbox: the whole tree goes.
        killTree(sandbox.pid);
        await sandbox.status;
        await within(reading, 5_000, "output after the kill").catch(() => {});
      }
    }
  },
});

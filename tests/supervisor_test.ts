/** The main thread and its worker: messages sent before the worker listens. */
import assert from "node:assert/strict";
import { parseConfig } from "../src/config.ts";
import { superviseWorker } from "../src/supervisor.ts";

const CONFIG = `
server: xmpp://127.0.0.1:5347
log_level: fatal
proxies:
  - domain: proxy.example.org
    secret: s3cret
    target_address: service@example.org
`;

Deno.test("a worker that is slow to listen still gets its start message", async () => {
  const parsed = parseConfig(CONFIG, { file: "test.yaml" });
  assert.ok(parsed.ok);
  const config = parsed.config;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve("no answer within 10 s"), 10_000);
  });
  const code = await Promise.race([
    superviseWorker(new URL("./support/slow_worker.ts", import.meta.url), config, {
      logging: () => ({ level: "fatal", format: "text", fields: {} }),
      reload: () => parsed,
      narrowMain: false,
    }),
    timeout,
  ]);
  clearTimeout(timer);
  // 1: the worker got "start", and its start failed as it was written to.
  assert.equal(code, 1);
});

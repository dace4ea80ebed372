/** The main thread and its worker: messages sent before the worker listens. */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/parse.ts";
import { serveWorker, superviseWorker } from "../../src/app/supervisor.ts";
import { captureLogs } from "../support/logs.ts";
import { fakeWorkerPort } from "../support/worker_port.ts";

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
    superviseWorker(new URL("../support/slow_worker.ts", import.meta.url), config, {
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

Deno.test("a reload that fails is logged, and the stop after it still answers", async () => {
  const logs = captureLogs();
  const { port, posted, send } = fakeWorkerPort();
  serveWorker({
    start: () => Promise.resolve(),
    reload: () => Promise.reject(new Error("the new proxy could not start")),
    reloadRefused: () => {},
    stop: () => Promise.resolve(0),
    hurry: () => {},
  }, port);
  const parsed = parseConfig(CONFIG, { file: "test.yaml" });
  assert.ok(parsed.ok);
  const logging = { level: "fatal" as const, format: "text" as const, fields: {} };
  send({ type: "start", config: parsed.config, logging, startedAt: 0 });
  send({ type: "reload", serial: 1, config: parsed.config, logging });
  send({ type: "stop", signal: "SIGTERM" });
  const bound = Date.now() + 5_000;
  while (posted.length < 3 && Date.now() < bound) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  logs.restore();
  assert.deepEqual(posted, [
    { type: "ready" },
    // The main thread keeps the old config as the one in force.
    { type: "reloaded", serial: 1, applied: false },
    { type: "stopped", code: 0 },
  ]);
  const failed = logs.lines.filter((line) => / config\.reload_failed /.test(line));
  assert.equal(failed.length, 1, logs.lines.join(""));
  // Not a ReloadFailed (the runtime's own): a proxy that could not take the config.
  assert.match(
    failed[0],
    /^\S+ ERROR +main config\.reload_failed reason=apply_failed error="the new proxy could not start"\n/,
  );
});

Deno.test("a hurry reaches the worker while its stop is still waiting out the grace", async () => {
  const { port, posted, send } = fakeWorkerPort();
  const hurried: string[] = [];
  let endGrace = () => {};
  serveWorker({
    start: () => Promise.resolve(),
    reload: () => Promise.resolve(),
    reloadRefused: () => {},
    // A stop that lasts until its grace ends: only a hurry ends it here.
    stop: () => new Promise<number>((resolve) => endGrace = () => resolve(0)),
    hurry: (signal) => {
      hurried.push(signal);
      endGrace();
    },
  }, port);
  const parsed = parseConfig(CONFIG, { file: "test.yaml" });
  assert.ok(parsed.ok);
  send({
    type: "start",
    config: parsed.config,
    logging: { level: "fatal", format: "text", fields: {} },
    startedAt: 0,
  });
  send({ type: "stop", signal: "SIGINT" });
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(posted, [{ type: "ready" }], "the stop is waiting");
  send({ type: "hurry", signal: "SIGINT" });
  assert.deepEqual(hurried, ["SIGINT"]);
  const bound = Date.now() + 5_000;
  while (posted.length < 2 && Date.now() < bound) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.deepEqual(posted, [{ type: "ready" }, { type: "stopped", code: 0 }]);
});

Deno.test("the worker answers each reload with whether it applied it; a refused one is counted", async () => {
  const { port, posted, send } = fakeWorkerPort();
  let refused = 0;
  let reloads = 0;
  serveWorker({
    start: () => Promise.resolve(),
    // The first reload fails, the second is applied.
    reload: () => ++reloads === 1 ? Promise.reject(new Error("taken")) : Promise.resolve(),
    reloadRefused: () => refused++,
    stop: () => Promise.resolve(0),
    hurry: () => {},
  }, port);
  const parsed = parseConfig(CONFIG, { file: "test.yaml" });
  assert.ok(parsed.ok);
  const logging = { level: "fatal" as const, format: "text" as const, fields: {} };
  send({ type: "start", config: parsed.config, logging, startedAt: 0 });
  send({ type: "reload", serial: 1, config: parsed.config, logging });
  send({ type: "reload_refused" });
  send({ type: "reload", serial: 2, config: parsed.config, logging });
  const bound = Date.now() + 5_000;
  while (posted.length < 3 && Date.now() < bound) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.deepEqual(posted, [
    { type: "ready" },
    { type: "reloaded", serial: 1, applied: false },
    { type: "reloaded", serial: 2, applied: true },
  ]);
  assert.equal(refused, 1);
});

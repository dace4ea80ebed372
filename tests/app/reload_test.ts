/**
 * A SIGHUP in the main thread (src/app/reload.ts): refused here, or sent to
 * the worker, and in force only once the worker says it applied it.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/parse.ts";
import type { Config, ConfigResult } from "../../src/config/types.ts";
import { logger, logs } from "../../src/ops/log.ts";
import { ConfigInForce } from "../../src/app/reload.ts";
import type { Logging, ToWorker } from "../../src/app/worker_protocol.ts";
import { captureLogs } from "../support/logs.ts";
import { leaking, parseSecretCases, SECRET_CASES } from "../support/secret_cases.ts";

const LOGGING: Logging = { level: "fatal", format: "text", fields: {} };

function parsed(secret: string, extra = ""): ConfigResult {
  return parseConfig(
    `server: xmpp://127.0.0.1:5347
${extra}
proxies:
  - domain: proxy.example.org
    secret: ${secret}
    target_address: service@example.org
`,
    { file: "test.yaml" },
  );
}

function config(secret: string): Config {
  const result = parsed(secret);
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config;
}

/** A tracker whose reads return `next` in turn; what it sends and asks is recorded. */
function tracker(start: Config, next: ConfigResult[]) {
  const sent: ToWorker[] = [];
  const comparedWith: string[] = [];
  const inForce = new ConfigInForce(start, {
    read: () => next.shift()!,
    restartNeeded: (config, current) => {
      comparedWith.push(current.proxies[0].secret);
      return config.stateDir === undefined ? undefined : "a new state_dir needs a restart";
    },
    // The log level says which config the main thread logs with.
    logging: (config) => ({
      ...LOGGING,
      level: config.proxies[0].secret === "new" ? "debug" : "info",
    }),
    send: (message) => sent.push(message),
    log: logger("main"),
  });
  return { inForce, sent, comparedWith };
}

Deno.test("a reload the worker did not apply leaves the old config in force; the next is compared with it", () => {
  const start = config("old");
  const { inForce, sent, comparedWith } = tracker(start, [parsed("new"), parsed("new2")]);
  const quiet = captureLogs();
  inForce.reload();
  assert.deepEqual(sent.map((m) => m.type === "reload" && [m.serial, m.config.proxies[0].secret]), [
    [1, "new"],
  ]);
  inForce.settled(1, false);
  assert.equal(inForce.current, start);
  assert.equal(logs("debug"), false, "still the old config's log level");

  inForce.reload();
  assert.deepEqual(comparedWith, ["old", "old"]);
  inForce.settled(2, true);
  assert.equal(inForce.current.proxies[0].secret, "new2");
  // An answer to nothing sent (or answered twice) changes nothing.
  inForce.settled(2, false);
  inForce.settled(7, true);
  assert.equal(inForce.current.proxies[0].secret, "new2");
  quiet.restore();
});

Deno.test("the main thread logs with the config the worker applied", () => {
  const { inForce } = tracker(config("old"), [parsed("new")]);
  const quiet = captureLogs();
  inForce.reload();
  assert.equal(logs("debug"), false, "not before the worker applied it");
  inForce.settled(1, true);
  assert.equal(logs("debug"), true);
  quiet.restore();
});

Deno.test("a config with problems, or one that needs a restart, is refused here and counted there", () => {
  const logs = captureLogs();
  const { inForce, sent } = tracker(config("old"), [
    { ok: false, errors: ["test.yaml: proxies[0].secret: expected a string"] },
    parsed("new", "state_dir: /var/lib/client-proxy"),
  ]);
  inForce.reload();
  inForce.reload();
  logs.restore();
  assert.deepEqual(sent, [{ type: "reload_refused" }, { type: "reload_refused" }]);
  assert.equal(inForce.current.proxies[0].secret, "old");
  const said = logs.lines.join("");
  assert.match(said, / ERROR +main config\.reload_failed reason=invalid_config problems=1\n/);
  assert.match(
    said,
    / config\.problem problem="test\.yaml: proxies\[0\]\.secret: expected a string"/,
  );
  assert.match(
    said,
    / ERROR +main config\.reload_failed reason=restart_needed error="a new state_dir needs a restart"/,
  );
  assert.equal(said.match(/config\.reload_failed/g)?.length, 2, "once each");
});

Deno.test("a reload refused for a bad secret logs no secret: every case of the table", () => {
  for (const c of SECRET_CASES) {
    const logs = captureLogs();
    const { inForce, sent } = tracker(config("old"), [parseSecretCases([c])]);
    inForce.reload();
    logs.restore();
    assert.deepEqual(sent, [{ type: "reload_refused" }], c.name);
    const problems = logs.lines.filter((line) => / ERROR .*config\.problem /.test(line));
    assert.ok(problems.length > 0, c.name);
    assert.deepEqual(leaking(logs.lines), [], c.name);
    if (!c.yaml) {
      assert.ok(
        problems.some((line) => line.includes(`proxies[0].${c.key}: `)),
        logs.lines.join(""),
      );
    }
  }
});

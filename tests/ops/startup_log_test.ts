/** src/ops/startup_log.ts: startup errors as text, under journald, and as JSON. */
import assert from "node:assert/strict";
import { startupLines, underJournald } from "../../src/ops/startup_log.ts";

const AT = new Date("2025-01-02T03:04:05.678Z");
const PROBLEM = "bad.yaml:4:5: proxies[0].secret: must be printable ASCII";

Deno.test("startup line: text as it is, without journald", () => {
  assert.equal(startupLines("error", "config.problem", PROBLEM, {}, AT), `${PROBLEM}\n`);
  assert.equal(startupLines("info", "cli.usage", "one\ntwo", { format: "text" }, AT), "one\ntwo\n");
});

Deno.test("startup line: under journald every line carries its priority", () => {
  const journal = { journal: true };
  assert.equal(startupLines("error", "config.problem", PROBLEM, journal, AT), `<3>${PROBLEM}\n`);
  assert.equal(startupLines("fatal", "proxy.crashed", "a\nb", journal, AT), "<2>a\n<2>b\n");
  assert.equal(startupLines("info", "config.hint", "(hint)", journal, AT), "<6>(hint)\n");
  assert.equal(startupLines("warning", "e", "w", journal, AT), "<4>w\n");
});

Deno.test("startup line: JSON is one object per message, shaped like a record", () => {
  for (const journal of [false, true]) {
    const line = startupLines("error", "config.problem", `${PROBLEM}\nmore`, {
      format: "json",
      journal,
    }, AT);
    const prefix = journal ? "<3>" : "";
    assert.ok(line.startsWith(prefix) && line.endsWith("\n"));
    assert.equal(line.indexOf("\n"), line.length - 1, "one line");
    assert.deepEqual(JSON.parse(line.slice(prefix.length)), {
      time: "2025-01-02T03:04:05.678Z",
      level: "error",
      logger: "main",
      event: "config.problem",
      message: `${PROBLEM}\nmore`,
    });
  }
});

Deno.test("under journald: JOURNAL_STREAM set and not empty; unreadable is not", () => {
  const env = (value?: string) => (name: string) => name === "JOURNAL_STREAM" ? value : undefined;
  assert.equal(underJournald(env("8:1")), true);
  assert.equal(underJournald(env("")), false);
  assert.equal(underJournald(env(undefined)), false);
  assert.equal(
    underJournald(() => {
      throw new Deno.errors.NotCapable("env");
    }),
    false,
  );
});

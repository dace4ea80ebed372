/**
 * `--check --live` over a whole config (src/app/live_check.ts and
 * live_facts.ts), with scripted servers: the lines, the JSON document, and
 * the exit status that names the first thing that failed.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/parse.ts";
import type { Config } from "../../src/config/types.ts";
import { EXIT } from "../../src/app/cli.ts";
import { runLiveCheck } from "../../src/app/live_check.ts";
import { exitCode, type ProxyReport } from "../../src/app/live_facts.ts";
import type { Guest, GuestOptions } from "../../src/link/guest.ts";
import { GuestError } from "../../src/link/guest.ts";
import { within } from "../support/bounded.ts";
import { type Account, accountScript, FakeGuest } from "../support/fake_guest.ts";

const TARGET = "service@example.org";

function config(domains: readonly string[], top = ""): Config {
  const entries = domains.map((domain) =>
    `  - domain: ${domain}\n    secret: s3cret\n    target_address: ${TARGET}\n`
  );
  const result = parseConfig(`server: xmpp://127.0.0.1:5347\n${top}proxies:\n${entries.join("")}`, {
    file: "test.yaml",
  });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config;
}

/** Opens a guest per domain: a scripted account, or a failure. */
function servers(by: Record<string, Account | Error>): (options: GuestOptions) => Promise<Guest> {
  return (options) => {
    const what = by[options.domain];
    if (what instanceof Error) return Promise.reject(what);
    return new FakeGuest(accountScript(what)).open(options);
  };
}

async function live(
  cfg: Config,
  by: Record<string, Account | Error>,
  options: { json?: boolean; fetch?: typeof fetch } = {},
): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await within(
    runLiveCheck(cfg, { timeoutMs: 300, json: options.json ?? false }, {
      print: (line) => lines.push(line),
      open: servers(by),
      fetch: options.fetch,
    }),
    10_000,
    "the live check",
  );
  return { code, lines };
}

Deno.test("live check: one line per fact, prefixed by the proxy, then a summary; exit 0", async () => {
  const { code, lines } = await live(config(["a.example.org"]), { "a.example.org": {} });
  assert.equal(code, EXIT.ok);
  assert.deepEqual(lines, [
    "a.example.org: handshake accepted",
    "a.example.org: subscription approved",
    "a.example.org: resources online: a",
    'a.example.org: disco#info from a: identity (client/bot "Echo"), 2 features',
    "a.example.org: disconnected",
    "live check: all good",
  ]);
});

Deno.test("live check: the exit status names the first thing that failed, proxies in order", async () => {
  const domains = ["a.example.org", "b.example.org"];
  const cases: Array<[Record<string, Account | Error>, number]> = [
    [{ "a.example.org": new GuestError("ECONNREFUSED"), "b.example.org": {} }, EXIT.unreachable],
    [{ "a.example.org": new GuestError("host-unknown", "host-unknown") }, EXIT.refused],
    [{ "a.example.org": {}, "b.example.org": { approves: false } }, EXIT.unapproved],
    [{ "a.example.org": { resources: [] }, "b.example.org": { approves: false } }, EXIT.noResource],
    [{ "a.example.org": { disco: "silent" }, "b.example.org": {} }, EXIT.unanswered],
  ];
  for (const [by, expected] of cases) {
    const filled = { "b.example.org": new GuestError("ECONNREFUSED"), ...by };
    const { code, lines } = await live(config(domains), filled);
    assert.equal(code, expected, lines.join("\n"));
    assert.match(
      lines.at(-1) ?? "",
      new RegExp(`^live check: failed at \\w+ \\(exit ${expected}\\)$`),
    );
  }
  // Distinct, and none of them the codes that mean something else.
  const codes = [EXIT.unreachable, EXIT.refused, EXIT.unapproved, EXIT.noResource, EXIT.unanswered];
  assert.equal(new Set(codes).size, codes.length);
  for (const code of codes) assert.ok(![0, 1, 2, 78].includes(code) && code < 64);
});

Deno.test("live check: --json prints one document with every fact", async () => {
  const { code, lines } = await live(
    config(["a.example.org", "b.example.org"]),
    { "a.example.org": {}, "b.example.org": { approves: false } },
    { json: true },
  );
  assert.equal(code, EXIT.unapproved);
  assert.equal(lines.length, 1);
  const doc = JSON.parse(lines[0]);
  assert.equal(doc.config, "test.yaml");
  assert.equal(doc.ok, false);
  assert.equal(doc.exit, EXIT.unapproved);
  assert.equal(doc.failed, "subscription");
  assert.deepEqual(doc.proxies.map((p: { proxy: string; ok: boolean }) => [p.proxy, p.ok]), [
    ["a.example.org", true],
    ["b.example.org", false],
  ]);
  const [a] = doc.proxies;
  assert.equal(a.server, "xmpp://127.0.0.1:5347");
  assert.deepEqual(a.facts.map((f: { step: string }) => f.step), [
    "handshake",
    "subscription",
    "resources",
    "disco",
    "close",
  ]);
  assert.deepEqual(a.facts[2], {
    step: "resources",
    ok: true,
    text: "resources online: a",
    resources: ["a"],
    draining: [],
  });
});

Deno.test("live check: an instance serving (conflict) is asked over its HTTP listener", async () => {
  const fetch: typeof globalThis.fetch = (input) =>
    Promise.resolve(
      String(input).endsWith("/readyz")
        ? new Response(JSON.stringify({
          ready: true,
          proxies: [{
            proxy: "a.example.org",
            ready: true,
            online: true,
            resources: 1,
            reason: null,
          }],
        }))
        : new Response("", { status: 404 }),
    );
  const { code, lines } = await live(
    config(["a.example.org"], "http: 127.0.0.1:9347\n"),
    { "a.example.org": new GuestError("conflict", "conflict") },
    { fetch },
  );
  assert.equal(code, EXIT.ok, lines.join("\n"));
  assert.match(lines[1], /^a\.example\.org: an instance is serving \(conflict\)/);
  assert.equal(
    lines[2],
    "a.example.org: the serving instance is ready: stream online, 1 resource online",
  );
});

Deno.test("live check: exit codes from reports, 1 for a fact outside the steps", () => {
  const report = (step: ProxyReport["facts"][number]["step"]): ProxyReport => ({
    proxy: "a",
    server: "xmpp://x",
    facts: [{ step: "handshake", ok: true, text: "" }, { step, ok: false, text: "" }],
  });
  assert.equal(exitCode([]), EXIT.ok);
  assert.equal(exitCode([report("readiness")]), EXIT.failure);
  assert.equal(exitCode([report("disco"), report("connect")]), EXIT.unanswered);
});

Deno.test("live check: once the config is read, it gives up files and the environment, not the network", async () => {
  const code = `
    import { narrowForLiveCheck } from ${
    JSON.stringify(import.meta.resolve("../../src/app/live_check.ts"))
  };
    narrowForLiveCheck();
    const held = ["read", "write", "env", "net"]
      .filter((name) => Deno.permissions.querySync({ name }).state === "granted");
    console.log(held.join(" "));
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdin: "null",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  assert.equal(text, "net", new TextDecoder().decode(output.stderr));
});

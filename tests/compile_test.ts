/**
 * `deno task compile` (deploy/compile.ts) and the start task's flags it
 * bakes in (deploy/start_flags.ts): the flags and commands, as `deno
 * compile` receives them.
 */
import assert from "node:assert/strict";
import { compileCommands, scopedFlags, TARGETS } from "../deploy/compile.ts";
import { startFlags } from "../deploy/start_flags.ts";

const PROGRAM_ENV =
  "CLIENT_PROXY_CONFIG,CLIENT_PROXY_LOG_LEVEL,CLIENT_PROXY_LOG_FORMAT,JOURNAL_STREAM," +
  "LOG_TOKENS,LOG_STREAM";
const PROXY = "domain: a.example.org\n    target_address: svc@example.org";

Deno.test("the start task's flags are read from deno.json", async () => {
  const denoJson = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  const flags = startFlags(denoJson);
  assert.deepEqual(flags.filter((flag) => flag.startsWith("--allow-")), [
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-net",
  ]);
  assert.deepEqual(
    startFlags({ tasks: { start: { command: "deno run -P --v8-flags=--x main.ts" } } }),
    ["-P", "--v8-flags=--x"],
  );
  assert.deepEqual(startFlags({ tasks: { start: "deno run -A main.ts" } }), ["-A"]);
  assert.throws(() => startFlags({ tasks: { start: "node main.js" } }), /tasks\.start/);
  assert.throws(() => startFlags({}), /tasks\.start/);
});

Deno.test("a scoped build replaces the permission flags and keeps the others", () => {
  const result = scopedFlags(
    ["-P=default", "--v8-flags=--max-semi-space-size=1"],
    "/etc/cp/c.yaml",
    {
      text: `server: 127.0.0.1:5347
proxies:
  - ${PROXY}
    secret_credential: secret
`,
      alsoRead: ["/opt/client-proxy.js"],
    },
  );
  assert.deepEqual(result, {
    ok: true,
    flags: [
      "--allow-net=127.0.0.1:5347",
      "--allow-read=/etc/cp,/run/credentials,/opt/client-proxy.js",
      `--allow-env=${PROGRAM_ENV},CREDENTIALS_DIRECTORY`,
      "--v8-flags=--max-semi-space-size=1",
    ],
  });
});

Deno.test("a scoped build for a TLS server reads its tls_ca, which need not exist yet", () => {
  const result = scopedFlags([], "/etc/cp/c.yaml", {
    text: `server: xmpps://xmpp.example.org:5348
tls_ca: /etc/ssl/private-ca/ca.pem
proxies:
  - ${PROXY}
    secret_file: secret
`,
  });
  assert.deepEqual(result, {
    ok: true,
    flags: [
      "--allow-net=xmpp.example.org:5348",
      "--allow-read=/etc/cp,/etc/ssl/private-ca/ca.pem",
      // The trust store's variable last (src/app/trust_store.ts).
      "--allow-env=CLIENT_PROXY_CONFIG,CLIENT_PROXY_LOG_LEVEL,CLIENT_PROXY_LOG_FORMAT," +
      "JOURNAL_STREAM,LOG_TOKENS,LOG_STREAM,DENO_TLS_CA_STORE",
    ],
  });
});

Deno.test("a scoped build of a bad config reports every problem and needs no secret", () => {
  const result = scopedFlags([], "/etc/cp/c.yaml", {
    text: `proxies:
  - domain: a.example.org
    target_address: svc@example.org/res
    secret_env: UNSET_ANYWHERE
`,
  });
  assert.deepEqual(result, {
    ok: false,
    errors: [
      "/etc/cp/c.yaml: server: expected a server address like xmpp://127.0.0.1:5347, " +
      "127.0.0.1:5347 or 127.0.0.1 (required because proxies[0] has no server of its own), " +
      "got nothing (the key is missing)",
      "/etc/cp/c.yaml:3:5: proxies[0].target_address: expected a bare JID like " +
      'service@example.org, got "svc@example.org/res"',
    ],
  });
});

Deno.test("a scoped build refuses paths with a comma, which Deno's flag lists cannot carry", () => {
  const result = scopedFlags([], "/etc/a,b/c.yaml", {
    text: `server: 127.0.0.1:5347
state_dir: /var/lib/x,y
proxies:
  - ${PROXY}
    secret: s3cret
`,
  });
  assert.deepEqual(result, {
    ok: false,
    errors: ["/etc/a,b", "/var/lib/x,y"].map((path) =>
      `/etc/a,b/c.yaml: ${path}: a path with a comma cannot be given to --allow-read or ` +
      "--allow-write (Deno splits their lists at commas); rename it, or build without --config"
    ),
  });
});

Deno.test("deno compile commands: this machine, one target, every target", () => {
  const flags = ["-P", "--v8-flags=--x"];
  assert.deepEqual(compileCommands("/src/main.ts", { runFlags: flags }), [
    [
      "compile",
      "-P",
      "--v8-flags=--x",
      "--unstable-worker-options",
      "-o",
      "dist/client-proxy",
      "/src/main.ts",
    ],
  ]);
  assert.deepEqual(
    compileCommands("/src/main.ts", {
      runFlags: flags,
      targets: ["aarch64-apple-darwin"],
      output: "/usr/local/bin/client-proxy",
    }),
    [[
      "compile",
      "-P",
      "--v8-flags=--x",
      "--unstable-worker-options",
      "--target",
      "aarch64-apple-darwin",
      "-o",
      "/usr/local/bin/client-proxy",
      "/src/main.ts",
    ]],
  );
  const all = compileCommands("/src/main.ts", { runFlags: flags, targets: Object.keys(TARGETS) });
  assert.deepEqual(all.map((command) => command.at(-2)), [
    "dist/client-proxy-linux-x86_64",
    "dist/client-proxy-linux-aarch64",
    "dist/client-proxy-macos-x86_64",
    "dist/client-proxy-macos-aarch64",
  ]);
});

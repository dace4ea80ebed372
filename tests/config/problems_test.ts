/** src/config/problems.ts: how problems are worded and ordered. */
import assert from "node:assert/strict";
import {
  COUNT,
  DURATION,
  FILE,
  JID,
  ONE_SECRET,
  P0,
  reject,
  SERVER,
  testRejected,
  yamlOf,
} from "../support/config.ts";
import { fileLabel } from "../../src/config/problems.ts";
import { loadConfig } from "../../src/config/load.ts";

testRejected([
  ["unknown odd key is quoted", yamlOf({ '"a b"': "1" }), [
    `${FILE}: ["a b"]: unknown key`,
  ]],
]);

Deno.test("several problems in one file are all reported, proxy by proxy, in the file's order", () => {
  const text = yamlOf(
    { server: null, log_level: "loud", extra: "1" },
    {
      domain: "proxy.example.org",
      secret_env: "NOPE",
      target_address: "svc@example.org/res",
      request_timeout: "abc",
    },
    {
      domain: "proxy.example.org",
      secret: "123",
      target_address: "example.org",
      max_pending: "0",
      server: "http://x",
      sekret: "y",
    },
  );
  // (A problem with a proxy as a whole is placed at its first key.)
  assert.deepEqual(reject(text), [
    `${FILE}: log_level: expected one of trace, debug, info, warning, error, fatal, got "loud"`,
    `${FILE}: extra: unknown key`,
    `${FILE}: server: ${SERVER} (required because proxies[0] has no server of its own), got nothing (the key is missing)`,
    `${P0}: ${ONE_SECRET}, got secret and secret_env`,
    `${P0}.target_address: ${JID}, got "svc@example.org/res"`,
    `${P0}.secret_env: expected the environment variable it names to be set, got it unset`,
    `${P0}.request_timeout: ${DURATION}, got "abc"`,
    `${FILE}: proxies[1].domain: expected a domain no other proxy uses, got "proxy.example.org" (also proxies[0].domain)`,
    `${FILE}: proxies[1].secret: expected a string (quote secrets that YAML would read as numbers), got a number (value not shown)`,
    `${FILE}: proxies[1].target_address: ${JID}, got "example.org"`,
    `${FILE}: proxies[1].max_pending: ${COUNT}, got 0`,
    `${FILE}: proxies[1].server: ${SERVER}, got "http://x"`,
    `${FILE}: proxies[1].sekret: unknown key: did you mean \`secret\`?`,
  ]);
});

Deno.test("a config path with control characters is named quoted and escaped, never raw", () => {
  assert.equal(
    fileLabel("/etc/client-proxy/client-proxy.yaml"),
    "/etc/client-proxy/client-proxy.yaml",
  );
  assert.equal(fileLabel("my config.yaml"), "my config.yaml");
  assert.equal(fileLabel("/tmp/a\nb\x1b[31m.yaml"), '"/tmp/a\\nb\\u001b[31m.yaml"');
  assert.equal(fileLabel("/tmp/\u202egnp.yaml"), '"/tmp/\\u202egnp.yaml"');
  // An OS error that repeats the path (not a directory) is escaped too: no forged line.
  const forged = loadConfig("/etc/hostname/x\nclient-proxy.yaml: ok (1 proxy)\n.yaml");
  assert.equal(forged.ok, false);
  for (const line of forged.ok ? [] : forged.errors) assert.doesNotMatch(line, /\n/);
  const result = loadConfig("/nonexistent/a\nb.yaml");
  assert.deepEqual(result.ok ? [] : result.errors, [
    '"/nonexistent/a\\nb.yaml": cannot read: No such file',
  ]);
});

/**
 * `--expand-env` (src/config/expand.ts, through parseConfig): `${NAME}` and
 * `${NAME:-default}` in values, from the environment given; keys, numbers
 * and values without `$` as written; every problem said with its place.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/parse.ts";
import type { ConfigResult } from "../../src/config/types.ts";
import { FILE } from "../support/config.ts";

const TEXT = `server: xmpp://\${XMPP_SERVER:-xmpp.meet.jitsi}:5347
proxies:
  - domain: focus.\${XMPP_DOMAIN:-meet.jitsi}
    secret: "pa$$word\${SUFFIX:-}"
    target_address: focus@\${XMPP_AUTH_DOMAIN}
    request_timeout: \${TIMEOUT:-30s}
    max_stanza_size: 65536
`;

function parse(env: Record<string, string>, text = TEXT, expand = true): ConfigResult {
  return parseConfig(text, {
    file: FILE,
    ...(expand ? { expandEnv: (name: string) => env[name] } : {}),
  });
}

Deno.test("expand-env: values take the variables, or their defaults when unset or empty", () => {
  const result = parse({ XMPP_AUTH_DOMAIN: "auth.meet.example.org", XMPP_DOMAIN: "" });
  assert.ok(result.ok, result.ok ? "" : result.errors.join("\n"));
  const [proxy] = result.config.proxies;
  assert.equal(result.config.proxies[0].server.url, "xmpp://xmpp.meet.jitsi:5347");
  assert.equal(proxy.domain, "focus.meet.jitsi");
  assert.equal(proxy.targetAddress, "focus@auth.meet.example.org");
  assert.equal(proxy.requestTimeoutMs, 30_000);
  assert.equal(proxy.secret, "pa$word", "$$ is a $, and an empty default is allowed");
  assert.equal(proxy.maxStanzaSize, 65_536);
  // The variables read are the config's, for the scoped permissions.
  assert.deepEqual(
    [...result.config.envNames].sort(),
    ["SUFFIX", "TIMEOUT", "XMPP_AUTH_DOMAIN", "XMPP_DOMAIN", "XMPP_SERVER"],
  );
  const set = parse({
    XMPP_SERVER: "prosody.internal",
    XMPP_DOMAIN: "meet.example.org",
    XMPP_AUTH_DOMAIN: "auth.meet.example.org",
    TIMEOUT: "5s",
  });
  assert.ok(set.ok, set.ok ? "" : set.errors.join("\n"));
  assert.equal(set.config.proxies[0].server.url, "xmpp://prosody.internal:5347");
  assert.equal(set.config.proxies[0].domain, "focus.meet.example.org");
  assert.equal(set.config.proxies[0].requestTimeoutMs, 5_000);
});

Deno.test("expand-env: an unset variable without default, or a malformed reference, is said where it is", () => {
  const text = TEXT.replace("pa$$word", "pa${not a name}word");
  const result = parse({}, text);
  assert.deepEqual(result.ok ? [] : result.errors, [
    `${FILE}:4:5: proxies[0].secret: expected \${NAME} or \${NAME:-default} after "$" ` +
    '(--expand-env; "$$" is a "$"; a default holds no reference)',
    `${FILE}:5:5: proxies[0].target_address: \${XMPP_AUTH_DOMAIN}: XMPP_AUTH_DOMAIN is not set, ` +
    "and no default is given (--expand-env)",
  ]);
  // What was in the secret's braces is not echoed.
  assert.doesNotMatch(result.ok ? "" : result.errors.join("\n"), /not a name/);
});

Deno.test("expand-env: without the flag, values are taken as written", () => {
  const result = parse({ XMPP_AUTH_DOMAIN: "auth.example.org" }, TEXT, false);
  assert.ok(!result.ok);
  assert.match(result.errors.join("\n"), /proxies\[0\]\.domain: expected a domain name/);
  assert.equal(
    result.errors.at(-1),
    `${FILE}: values hold \${NAME}: they are taken as written unless the config is read with ` +
      "--expand-env",
  );
  const plain = parse(
    {},
    TEXT.replaceAll(/\$\{[^}]*\}/g, (ref) => ref.includes("TIMEOUT") ? "9s" : "x"),
    false,
  );
  assert.ok(plain.ok, plain.ok ? "" : plain.errors.join("\n"));
  assert.equal(plain.config.proxies[0].secret, "pa$$wordx");
});

Deno.test("expand-env: keys are left as written", () => {
  const text = TEXT.replace("    max_stanza_size: 65536", "    ${KEY}: 65536");
  const result = parse({ XMPP_AUTH_DOMAIN: "a.example.org", KEY: "max_stanza_size" }, text);
  assert.ok(!result.ok);
  assert.match(result.errors.join("\n"), /proxies\[0\]: unknown key/);
});

Deno.test("expand-env: under a secret key, or a key that may be a secret, no name written is said", () => {
  const text = TEXT.replace('"pa$$word${SUFFIX:-}"', '"Tr0ub4dor${xK9_q2Zp}horse"')
    .replace("    max_stanza_size: 65536", '    "Pa55:w0rd!": "${UNSET_TOO}"');
  const result = parse({ XMPP_AUTH_DOMAIN: "a.example.org" }, text);
  const errors = result.ok ? "" : result.errors.join("\n");
  assert.match(
    errors,
    /proxies\[0\]\.secret: a variable it names is not set, and no default is given/,
  );
  assert.match(errors, /proxies\[0\]: a key not shown: /);
  assert.doesNotMatch(errors, /xK9_q2Zp|Tr0ub4dor|Pa55|UNSET_TOO/);
});

Deno.test("expand-env: every problem at once; an unexpanded value said once", () => {
  const text = TEXT.replace("focus@${XMPP_AUTH_DOMAIN}", "not a jid").replace(
    "    max_stanza_size: 65536",
    '    max_stanza_size: 65536\n    drain: ["${UNSET}"]',
  );
  const result = parse({}, text);
  assert.deepEqual(
    (result.ok ? [] : result.errors).map((line) => line.replace(/^[^ ]+ /, "")),
    [
      'proxies[0].target_address: expected a bare JID like service@example.org, got "not a jid"',
      "proxies[0].drain[0]: ${UNSET}: UNSET is not set, and no default is given (--expand-env)",
    ],
  );
});

Deno.test("expand-env: a value that is one reference may be a number or a flag; set but empty is empty", () => {
  const text = TEXT.replace(
    "    max_stanza_size: 65536",
    "    max_pending: ${N:-100}\n    hide_from_denied: ${P}",
  )
    .replace("pa$$word${SUFFIX:-}", "${SECRET}");
  const result = parse(
    { XMPP_AUTH_DOMAIN: "a.example.org", P: "true", SECRET: "12345", E: "" },
    text,
  );
  assert.ok(result.ok, result.ok ? "" : result.errors.join("\n"));
  assert.equal(result.config.proxies[0].maxPending, 100);
  assert.equal(result.config.proxies[0].hideFromDenied, true);
  assert.equal(result.config.proxies[0].secret, "12345", "a secret stays text");
  const empty = parse(
    { XMPP_AUTH_DOMAIN: "a.example.org", E: "" },
    TEXT.replace("pa$$word", "pa${E}x"),
  );
  assert.ok(empty.ok, empty.ok ? "" : empty.errors.join("\n"));
  assert.equal(empty.config.proxies[0].secret, "pax");
  // A default holds no reference: nesting is said, not half done.
  const nested = parse({}, TEXT.replace("focus@${XMPP_AUTH_DOMAIN}", "focus@${A:-${B}}"));
  assert.match(nested.ok ? "" : nested.errors.join("\n"), /a default holds no reference/);
});

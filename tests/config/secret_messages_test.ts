/**
 * No message about `secret`, `secret_env`, `secret_file` or
 * `secret_credential` shows what was written there, nor what it led to,
 * whatever its type or shape: each bad configuration of
 * tests/support/secret_cases.ts names its key and never its marker.
 */
import assert from "node:assert/strict";
import { unplaced } from "../support/config.ts";
import { parseConfig } from "../../src/config/parse.ts";
import { readYaml } from "../../src/config/yaml.ts";
import {
  leaking,
  MARKER,
  parseSecretCases as parse,
  SECRET_CASES,
  SECRET_CASES_FILE,
  secretConfig,
} from "../support/secret_cases.ts";

const FILE = SECRET_CASES_FILE;
const DIR = FILE.slice(0, FILE.lastIndexOf("/"));

for (const c of SECRET_CASES) {
  Deno.test(`no leak: ${c.name}`, () => {
    const result = parse([c]);
    assert.ok(!result.ok, "refused");
    assert.ok(result.errors.length > 0);
    assert.deepEqual(leaking(result.errors), []);
    if (c.yaml) {
      for (const error of result.errors) {
        assert.match(error, /^\/etc\/client-proxy\/client-proxy\.yaml:\d+:\d+: /);
      }
    } else {
      assert.ok(
        result.errors.map(unplaced).some((error) =>
          error.startsWith(`${FILE}: proxies[0].${c.key}: `)
        ),
        result.errors.join("\n"),
      );
      for (const error of result.errors) assert.match(error, /: proxies\[0\]/);
    }
  });
}

Deno.test("no leak: every case at once, one proxy each", () => {
  const cases = SECRET_CASES.filter((c) => !c.yaml);
  const result = parse(cases);
  assert.ok(!result.ok);
  assert.deepEqual(leaking(result.errors), []);
  cases.forEach((c, i) =>
    assert.ok(
      result.errors.map(unplaced).some((error) =>
        error.startsWith(`${FILE}: proxies[${i}].${c.key}: `)
      ),
      `${c.name}:\n${result.errors.join("\n")}`,
    )
  );
});

Deno.test("no leak: a read that fails with the name or path in its message", () => {
  const thrown = [
    new Error(`cannot read ${MARKER}`),
    new TypeError(`bad ${MARKER}`),
    new Deno.errors.NotCapable(`Requires env access to "${MARKER}", run again with --allow-env`),
    `a string ${MARKER}`,
  ];
  for (const error of thrown) {
    for (const key of ["secret_env", "secret_file", "secret_credential"] as const) {
      const result = parseConfig(secretConfig([{ name: key, key, value: MARKER }]).text, {
        file: FILE,
        readFile: () => {
          throw error;
        },
        getEnv: (name) => {
          if (name === "CREDENTIALS_DIRECTORY") return `${DIR}/credentials`;
          throw error;
        },
      });
      assert.ok(!result.ok);
      assert.deepEqual(leaking(result.errors), [], String(error));
      assert.match(result.errors[0], new RegExp(`: proxies\\[0\\]\\.${key}: expected a readable `));
    }
  }
});

Deno.test("an unknown key is named, unless it has digits or symbols: a secret pasted as a key", () => {
  const text = `server: xmpp://127.0.0.1:5347
${MARKER}: 1
sekret: 1
proxies:
  - domain: proxy.example.org
    secret: s3cret
    target_address: service@example.org
    "${MARKER}+/=": 1
    secret file: x
`;
  const result = parseConfig(text, { file: FILE });
  // Each at its own line: the line is no secret, and it is where to look.
  assert.deepEqual(result.ok ? [] : result.errors, [
    `${FILE}:2:1: unknown key, not shown: with digits, symbols or over 40 characters it may be a secret pasted as a key`,
    `${FILE}:3:1: sekret: unknown key`,
    `${FILE}:8:5: proxies[0]: unknown key, not shown: with digits, symbols or over 40 characters it may be a secret pasted as a key`,
    `${FILE}:9:5: proxies[0]["secret file"]: unknown key: did you mean \`secret_file\`?`,
  ]);
});

Deno.test("no leak: YAML directives quoting the marker", () => {
  for (const text of [`%${MARKER} x\n---\na: 1\n`, `%YAML ${MARKER}\n---\na: 1\n`]) {
    const result = readYaml(text, FILE);
    assert.ok(!result.ok);
    assert.deepEqual(leaking(result.errors), []);
  }
});

Deno.test("no leak: a password in the server's or the standby peer's address", () => {
  const text = `server: xmpp://user:${MARKER}@127.0.0.1:5347
proxies:
  - domain: proxy.example.org
    secret: s3cret
    target_address: service@example.org
    standby_peer: http://admin:${MARKER}@10.0.0.2:9347
`;
  const result = parseConfig(text, { file: FILE });
  assert.deepEqual(leaking(result.ok ? [] : result.errors), []);
  assert.deepEqual(result.ok ? [] : result.errors.map(unplaced), [
    `${FILE}: server: expected a server address like xmpp://127.0.0.1:5347, 127.0.0.1:5347 or ` +
    '127.0.0.1, got "xmpp://…@127.0.0.1:5347" (a user and password, not shown, do not belong in it)',
    `${FILE}: proxies[0].standby_peer: expected the other instance's HTTP listener, like ` +
    'http://10.0.0.2:9347 (http or https, no path), got "http://…@10.0.0.2:9347" (a user and ' +
    "password, not shown, do not belong in it)",
  ]);
});

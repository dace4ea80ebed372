/**
 * Config texts for the tests of src/config/: a base config with keys merged
 * in ({@link yamlOf}), fake secret files and variables, and the messages a
 * user reads. parseConfig through these needs only
 * `--allow-env=LOG_TOKENS,LOG_STREAM` (npm:yaml reads those).
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/parse.ts";
import type { Config, ConfigResult } from "../../src/config/types.ts";

export const FILE = "client-proxy.yaml";

export type Fields = Record<string, string | null>;

const BASE_TOP: Fields = { server: "127.0.0.1:5347" };
const BASE_PROXY: Fields = {
  domain: "proxy.example.org",
  secret: "s3cret",
  target_address: "service@example.org",
};

/**
 * YAML for one config: the base with `top` / per-proxy fields merged in.
 * Values are raw YAML text; `null` drops the key.
 */
export function yamlOf(top: Fields = {}, ...proxies: Fields[]): string {
  const lines: string[] = [];
  for (const [key, value] of Object.entries({ ...BASE_TOP, ...top })) {
    if (value !== null) lines.push(`${key}: ${value}`);
  }
  lines.push("proxies:");
  for (const proxy of proxies.length === 0 ? [{}] : proxies) {
    const entries = Object.entries({ ...BASE_PROXY, ...proxy })
      .filter(([, value]) => value !== null);
    entries.forEach(([key, value], i) => {
      lines.push(`${i === 0 ? "  - " : "    "}${key}: ${value}`);
    });
  }
  return lines.join("\n") + "\n";
}

/** $CREDENTIALS_DIRECTORY in these tests, as systemd would set it. */
export const CREDENTIALS = "/run/credentials/client-proxy.service";

const FILES: Record<string, string> = {
  "secret.txt": "from-file\n",
  "/etc/client-proxy/abs.txt": "absolute\r\n",
  "two-newlines.txt": "x\n\n",
  "bom.txt": "\ufeffs3cret\n",
  "empty.txt": "",
  "newline-only.txt": "\n",
  "latin.txt": "s\u00e9cret\n",
  [`${CREDENTIALS}/xmpp-secret`]: "from-credential\n",
  [`${CREDENTIALS}/empty`]: "",
};
const ENV: Record<string, string> = {
  PROXY_SECRET: "from-env",
  EMPTY_SECRET: "",
  LATIN_SECRET: "s\u00e9cret",
  CREDENTIALS_DIRECTORY: CREDENTIALS,
};

/** The fake secret files; any other path is not found. */
export function readFile(path: string): string {
  if (Object.hasOwn(FILES, path)) return FILES[path];
  throw new Deno.errors.NotFound(`No such file or directory: ${path}`);
}

/** The fake environment. */
function getEnv(name: string): string | undefined {
  return Object.hasOwn(ENV, name) ? ENV[name] : undefined;
}

function parse(text: string, file = FILE): ConfigResult {
  return parseConfig(text, { file, readFile, getEnv });
}

/** The config `text` gives; fails the test with its errors when there are any. */
export function accept(text: string, file = FILE): Config {
  const result = parse(text, file);
  assert.ok(
    result.ok,
    `expected success, got:\n${result.ok ? "" : result.errors.join("\n")}`,
  );
  return result.config;
}

/** The errors `text` gives; fails the test when it is accepted. */
export function reject(text: string): string[] {
  const result = parse(text);
  assert.ok(!result.ok, "expected errors, got a config");
  return result.errors.map(unplaced);
}

/** A key path at the start of a schema problem's message (`proxies[0].secret: `). */
const KEY_PATH =
  /^(?:[A-Za-z_][\w-]*|\["(?:[^"\\]|\\.)*"\])(?:\[\d+\]|\.[A-Za-z_][\w-]*|\["(?:[^"\\]|\\.)*"\])*: /;

/**
 * A schema problem without its key's line:column, `file:3:5: proxies[0].x: …`
 * → `file: proxies[0].x: …`, so that tables of messages say what is wrong and
 * the positions are tested on their own (tests/config/problems_test.ts). A
 * YAML syntax error keeps its position: it has no key path.
 */
export function unplaced(message: string): string {
  const match = /^(.*?):\d+:\d+: /.exec(message);
  if (match === null) return message;
  const rest = message.slice(match[0].length);
  return KEY_PATH.test(rest) ? `${match[1]}: ${rest}` : message;
}

// What a user reads, written out here rather than imported from src/.
export const P0 = `${FILE}: proxies[0]`;
export const SERVER = "expected a server address like xmpp://127.0.0.1:5347, " +
  "127.0.0.1:5347 or 127.0.0.1";
export const JID = "expected a bare JID like service@example.org";
export const DOMAIN = "expected a domain name like proxy.example.org";
export const DURATION = "expected a duration like 500ms, 2s or 1m";
export const ASCII = "must be printable ASCII (XEP-0114 handshake hashes it as latin1)";
export const COUNT = "expected an integer >= 1";
export const HTTP = 'expected a listen address like 127.0.0.1:9347 or "[::1]:9347"';
export const PEER =
  "expected the other instance's HTTP listener, like http://10.0.0.2:9347 (http or https, no path)";
export const PATTERN = "expected a pattern like user@example.org, @example.org or *.example.org";
export const ALLOW_LIST =
  'expected a non-empty list of patterns like ["@example.org"] (leave allow out to allow everyone)';
export const RATE = "expected a rate above zero like 20/s, 100/m or 1000/h";
export const SIZE = "expected a size from 1KB to 1GB like 64KB, 1MB or 1048576 (bytes)";
export const SHAPE =
  'expected a request shape like "{http://jitsi.org/protocol/focus}conference@room"';
export const SHAPES =
  'expected a list of request shapes like ["{http://jitsi.org/protocol/focus}conference@room"]';
export const ONE_SECRET =
  "expected exactly one of secret, secret_env, secret_file or secret_credential";

/** A config that must be refused: its name, its YAML and the complete list of errors. */
export type Rejected = [string, string, string[]];

/** One test per case: `rejected: <name>`. */
export function testRejected(cases: readonly Rejected[]): void {
  for (const [name, text, expected] of cases) {
    Deno.test(`rejected: ${name}`, () => {
      assert.deepEqual(reject(text), expected);
    });
  }
}

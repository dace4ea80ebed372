/**
 * Bad secret configurations whose written values, variables and files hold
 * a recognisable marker: whatever reports them (parseConfig, `--check`, a
 * reload's log) must name the key and never show the marker. Each case is
 * one proxy; {@link secretConfig} puts any of them in one file.
 */
import { parseConfig } from "../../src/config/parse.ts";
import type { ConfigResult } from "../../src/config/types.ts";

/** The marker, and numbers for values YAML reads as numbers. */
export const MARKER = "Qz7VwXk3Pd";
const NUMBER = "9182736450";
/** What no message may contain: the marker's and the number's halves too. */
export const LEAKS = [MARKER, "Qz7Vw", "Xk3Pd", NUMBER, "91827", "36450"];

/** The keys a secret comes from. */
export type SecretKey = "secret" | "secret_env" | "secret_file" | "secret_credential";

/** One proxy's bad secret. */
export interface SecretCase {
  readonly name: string;
  readonly key: SecretKey;
  /** The key's value as YAML text (may span lines, indented by {@link secretConfig}). */
  readonly value: string;
  /** Variables it needs, each name used by this case only. */
  readonly env?: Readonly<Record<string, string>>;
  /** Files it needs, by path from the config's directory (credentials in `credentials/`). */
  readonly files?: Readonly<Record<string, string>>;
  /** The value breaks the YAML: the problem is named by line and column, not by key. */
  readonly yaml?: boolean;
}

const m = (suffix: string) => `${MARKER}_${suffix}`;
const NON_ASCII = `${MARKER}-s\u00e9cret`;

/** Values none of the four keys takes, whatever it is: each other type and shape. */
const WRONG_SHAPES: readonly [string, string][] = [
  ["a number", NUMBER],
  ["a negative number", `-${NUMBER}`],
  ["a float", `${NUMBER}.5`],
  ["true", "true"],
  ["a list", `[${MARKER}]`],
  ["a list of lists", `[[${MARKER}, ${NUMBER}]]`],
  ["a mapping", `{ ${MARKER}: ${NUMBER} }`],
  ["a mapping with the marker as value", `{ value: ${MARKER} }`],
  ["binary", `!!binary ${btoa(MARKER)}`],
  ["an empty string", '""'],
  ["null", "null"],
];

const KEYS: readonly SecretKey[] = ["secret", "secret_env", "secret_file", "secret_credential"];

export const SECRET_CASES: readonly SecretCase[] = [
  ...KEYS.flatMap((key) =>
    WRONG_SHAPES.map(([shape, value]): SecretCase => ({ name: `${key} is ${shape}`, key, value }))
  ),
  // Strings that are no name or path: the secret itself, pasted.
  ...(["secret_env", "secret_credential"] as const).flatMap((key) =>
    [`"${MARKER}!"`, `"${MARKER} ${MARKER}"`, `"../${MARKER}"`, `"-${MARKER}"`].map((
      value,
    ): SecretCase => ({ name: `${key} is ${value}`, key, value }))
  ),
  { name: "secret is not ASCII", key: "secret", value: `"${NON_ASCII}"` },
  { name: "secret has a tab", key: "secret", value: `"${MARKER}\\t"` },
  { name: "secret spans two lines", key: "secret", value: `"${MARKER}\\n${MARKER}"` },
  { name: "secret is a block scalar", key: "secret", value: `|\n  ${MARKER}\n  ${MARKER}` },
  // Names and paths that lead nowhere, or to something that is no secret.
  { name: "secret_env names an unset variable", key: "secret_env", value: m("UNSET") },
  {
    name: "secret_env names an empty variable",
    key: "secret_env",
    value: m("EMPTY"),
    env: { [m("EMPTY")]: "" },
  },
  {
    name: "secret_env names a non-ASCII variable",
    key: "secret_env",
    value: m("LATIN"),
    env: { [m("LATIN")]: NON_ASCII },
  },
  {
    name: "secret_env names a two-line variable",
    key: "secret_env",
    value: m("LINES"),
    env: { [m("LINES")]: `${MARKER}\n${MARKER}` },
  },
  { name: "secret_file is missing", key: "secret_file", value: m("missing.txt") },
  {
    name: "secret_file is absolute and missing",
    key: "secret_file",
    value: `/nonexistent/${m("abs")}`,
  },
  {
    name: "secret_file is under a file",
    key: "secret_file",
    value: `${m("plain.txt")}/x`,
    files: { [m("plain.txt")]: "x\n" },
  },
  { name: "secret_file is too long a name", key: "secret_file", value: MARKER.repeat(30) },
  {
    name: "secret_file is empty",
    key: "secret_file",
    value: m("empty.txt"),
    files: { [m("empty.txt")]: "" },
  },
  {
    name: "secret_file holds two lines",
    key: "secret_file",
    value: m("lines.txt"),
    files: { [m("lines.txt")]: `${MARKER}\n${MARKER}\n` },
  },
  {
    name: "secret_file starts with a BOM",
    key: "secret_file",
    value: m("bom.txt"),
    files: { [m("bom.txt")]: `\ufeff${MARKER}\n` },
  },
  {
    name: "secret_file is not ASCII",
    key: "secret_file",
    value: m("latin.txt"),
    files: { [m("latin.txt")]: `${NON_ASCII}\n` },
  },
  { name: "secret_credential is missing", key: "secret_credential", value: m("missing") },
  {
    name: "secret_credential is empty",
    key: "secret_credential",
    value: m("empty"),
    files: { [`credentials/${m("empty")}`]: "" },
  },
  {
    name: "secret_credential holds two lines",
    key: "secret_credential",
    value: m("lines"),
    files: { [`credentials/${m("lines")}`]: `${MARKER}\r\n${MARKER}` },
  },
  {
    name: "secret_credential is not ASCII",
    key: "secret_credential",
    value: m("latin"),
    files: { [`credentials/${m("latin")}`]: NON_ASCII },
  },
  // Values that break the YAML around them.
  ...KEYS.flatMap((key) =>
    [
      `"${MARKER}\\q"`,
      `"${MARKER}`,
      `${MARKER}: ${MARKER}`,
      `!${MARKER}! x`,
      `!${MARKER} x`,
      `*${MARKER}`,
      `|${MARKER}`,
      `[${MARKER}`,
      `@${MARKER}`,
    ].map((value): SecretCase => ({
      name: `${key} breaks the YAML: ${value}`,
      key,
      value,
      yaml: true,
    }))
  ),
];

/**
 * A config with one proxy per case (domains p0.example.org, p1…): its
 * text, and the line each case's key is on.
 */
export function secretConfig(cases: readonly SecretCase[]): { text: string; lines: number[] } {
  const out = ["server: xmpp://127.0.0.1:5347", "proxies:"];
  const lines: number[] = [];
  cases.forEach((c, i) => {
    out.push(`  - domain: p${i}.example.org`, "    target_address: service@example.org");
    lines.push(out.length + 1);
    const [first, ...rest] = c.value.split("\n");
    out.push(`    ${c.key}: ${first}`, ...rest.map((line) => `    ${line}`));
  });
  return { text: out.join("\n") + "\n", lines };
}

/** Every variable the cases need. */
export function secretEnv(cases: readonly SecretCase[]): Record<string, string> {
  return Object.assign({}, ...cases.map((c) => c.env ?? {}));
}

/** Every file the cases need, by path from the config's directory. */
export function secretFiles(cases: readonly SecretCase[]): Record<string, string> {
  return Object.assign({}, ...cases.map((c) => c.files ?? {}));
}

/** The messages that leak: those holding any of {@link LEAKS}. */
export function leaking(messages: readonly string[]): string[] {
  return messages.filter((message) => LEAKS.some((leak) => message.includes(leak)));
}

/** Where {@link parseSecretCases} says the config is. */
export const SECRET_CASES_FILE = "/etc/client-proxy/client-proxy.yaml";
const DIR = "/etc/client-proxy";

/**
 * parseConfig on {@link secretConfig}, with the cases' variables and files
 * (CREDENTIALS_DIRECTORY is `credentials/` beside the config), failing to
 * read as Deno does: with the path in the message.
 */
export function parseSecretCases(cases: readonly SecretCase[]): ConfigResult {
  const env: Record<string, string> = {
    ...secretEnv(cases),
    CREDENTIALS_DIRECTORY: `${DIR}/credentials`,
  };
  const files = secretFiles(cases);
  return parseConfig(secretConfig(cases).text, {
    file: SECRET_CASES_FILE,
    getEnv: (name) => Object.hasOwn(env, name) ? env[name] : undefined,
    readFile: (path) => {
      const relative = path.startsWith(`${DIR}/`) ? path.slice(DIR.length + 1) : undefined;
      if (relative !== undefined && Object.hasOwn(files, relative)) return files[relative];
      if (path.split("/").some((part) => part.length > 255)) {
        throw new Error(`File name too long (os error 36): readfile '${path}'`);
      }
      if (Object.keys(files).some((file) => relative?.startsWith(`${file}/`))) {
        throw new Deno.errors.NotADirectory(`Not a directory (os error 20): readfile '${path}'`);
      }
      throw new Deno.errors.NotFound(`No such file or directory (os error 2): readfile '${path}'`);
    },
  });
}

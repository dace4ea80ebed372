/**
 * `--expand-env`: `${NAME}` and `${NAME:-default}` in the config's string
 * values, from the environment, as Compose and envsubst write them, so that
 * one config serves every deployment whose names come from the environment
 * (docker-jitsi-meet's `.env`). Only values are expanded, after the YAML is
 * read: a value cannot change the file's structure. `$$` is a `$`. A value
 * that is one reference and comes out a whole number or true/false is taken
 * as one, as YAML would read it written there. Pure: the environment is
 * read through the function given.
 */
import { KEY_LIKE, type Problem, reason } from "./problems.ts";
import { SECRET_KEYS } from "./secrets.ts";

/** The expanded value, the variables it read, and what could not be expanded. */
export interface Expanded {
  /** Every value expanded; one that could not be is left as written. */
  readonly value: unknown;
  readonly names: readonly string[];
  readonly problems: readonly Problem[];
}

const REFERENCE = /\$\$|\$\{([^}]*)\}/g;
const NAMED = /^([A-Za-z_][A-Za-z0-9_]*)(?::-([^]*))?$/;
const ONE_REFERENCE = /^\$\{[^}]*\}$/;
const SECRET_KEY_SET: ReadonlySet<PropertyKey> = new Set(SECRET_KEYS);

/** Whether `text` holds what `--expand-env` would read as a reference: `${` and a name. */
export function mentionsVariable(text: string): boolean {
  return /\$\{[A-Za-z_]/.test(text);
}

/** Expands every string value of `value` (the YAML as read), keys left as written. */
export function expandEnv(
  value: unknown,
  getEnv: (name: string) => string | undefined,
): Expanded {
  const names = new Set<string>();
  const problems: Problem[] = [];
  const walk = (node: unknown, path: PropertyKey[]): unknown => {
    if (typeof node === "string") return expandValue(node, path, getEnv, names, problems);
    if (Array.isArray(node)) return node.map((item, i) => walk(item, [...path, i]));
    // Plain mappings only: a YAML !!binary (bytes) is left for the schema to refuse.
    if (
      node !== null && typeof node === "object" && Object.getPrototypeOf(node) === Object.prototype
    ) {
      return Object.fromEntries(
        Object.entries(node).map(([key, item]) => [key, walk(item, [...path, key])]),
      );
    }
    return node;
  };
  return { value: walk(value, []), names: [...names], problems };
}

function expandValue(
  text: string,
  path: PropertyKey[],
  getEnv: (name: string) => string | undefined,
  names: Set<string>,
  problems: Problem[],
): unknown {
  if (!text.includes("$")) return text;
  // Under a secret key nothing written is said (a name there may be part of the secret);
  // under a key that looks like a pasted secret, the mapping it is in is named instead.
  const secret = path.some((part) => SECRET_KEY_SET.has(part));
  const hidden = path.findIndex((part) => typeof part === "string" && !KEY_LIKE.test(part));
  const say = (message: string, named: string) =>
    problems.push(
      hidden < 0
        ? { path, message: secret ? message : named }
        : { path: path.slice(0, hidden), message: `a key not shown: ${message}` },
    );
  const expanded = text.replace(REFERENCE, (whole, inner?: string) => {
    if (whole === "$$") return "$";
    const named = NAMED.exec(inner ?? "");
    if (named === null || named[2]?.includes("${")) {
      const expected = 'expected ${NAME} or ${NAME:-default} after "$" (--expand-env; "$$" is a ' +
        '"$"; a default holds no reference)';
      say(expected, expected);
      return whole;
    }
    const [, name, fallback] = named;
    names.add(name);
    let found: string | undefined;
    try {
      found = getEnv(name);
    } catch (error) {
      say(
        `a variable it names cannot be read: ${reason(error)}`,
        `\${${name}}: cannot be read: ${reason(error)}`,
      );
      return whole;
    }
    if (fallback !== undefined) return found === undefined || found === "" ? fallback : found;
    if (found !== undefined) return found;
    say(
      "a variable it names is not set, and no default is given (--expand-env)",
      `\${${name}}: ${name} is not set, and no default is given (--expand-env)`,
    );
    return whole;
  });
  if (secret || !ONE_REFERENCE.test(text)) return expanded;
  // As YAML reads a plain scalar: `max_pending: ${N:-100}` is a number, `presence: ${P}` a flag.
  if (/^(?:0|[1-9][0-9]*)$/.test(expanded)) return Number(expanded);
  if (expanded === "true" || expanded === "false") return expanded === "true";
  return expanded;
}

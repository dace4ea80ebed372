/**
 * `--expand-env`: `${NAME}` and `${NAME:-default}` in the config's string
 * values, from the environment, as Compose and envsubst write them, so that
 * one config serves every deployment whose names come from the environment
 * (docker-jitsi-meet's `.env`). Only values are expanded, after the YAML is
 * read: a value cannot change the file's structure. `$$` is a `$`. Pure:
 * the environment is read through the function given.
 */
import type { Problem } from "./problems.ts";

/** The expanded value, and the variables it read. */
export type Expanded =
  | { readonly ok: true; readonly value: unknown; readonly names: readonly string[] }
  | { readonly ok: false; readonly problems: readonly Problem[] };

const REFERENCE = /\$\$|\$\{([^}]*)\}/g;
const NAMED = /^([A-Za-z_][A-Za-z0-9_]*)(?::-([^]*))?$/;

/** Expands every string value of `value` (the YAML as read), keys left as written. */
export function expandEnv(
  value: unknown,
  getEnv: (name: string) => string | undefined,
): Expanded {
  const names = new Set<string>();
  const problems: Problem[] = [];
  const walk = (node: unknown, path: PropertyKey[]): unknown => {
    if (typeof node === "string") return expandText(node, path, getEnv, names, problems);
    if (Array.isArray(node)) return node.map((item, i) => walk(item, [...path, i]));
    if (node !== null && typeof node === "object") {
      return Object.fromEntries(
        Object.entries(node).map(([key, item]) => [key, walk(item, [...path, key])]),
      );
    }
    return node;
  };
  const expanded = walk(value, []);
  return problems.length > 0
    ? { ok: false, problems }
    : { ok: true, value: expanded, names: [...names] };
}

function expandText(
  text: string,
  path: PropertyKey[],
  getEnv: (name: string) => string | undefined,
  names: Set<string>,
  problems: Problem[],
): string {
  if (!text.includes("$")) return text;
  return text.replace(REFERENCE, (whole, inner?: string) => {
    if (whole === "$$") return "$";
    const named = NAMED.exec(inner ?? "");
    if (named === null) {
      // Not echoed: the value may be a secret.
      problems.push({
        path,
        message: 'expected ${NAME} or ${NAME:-default} after "$" (--expand-env; "$$" is a "$")',
      });
      return whole;
    }
    const [, name, fallback] = named;
    names.add(name);
    let found: string | undefined;
    try {
      found = getEnv(name);
    } catch (error) {
      problems.push({ path, message: `\${${name}}: cannot read ${name}: ${String(error)}` });
      return whole;
    }
    if (found !== undefined && found !== "") return found;
    if (fallback !== undefined) return fallback;
    problems.push({ path, message: `\${${name}}: ${name} is not set, and no default is given` });
    return whole;
  });
}

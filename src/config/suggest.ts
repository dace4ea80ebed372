/**
 * What an unknown key probably meant: a known key a typo away, the name
 * Prosody gives the same setting, or a proxy's key written at the top.
 * Read from the schema itself, so it knows every key there is.
 */
import { z } from "zod";

/** Prosody's (and mod_client_proxy's) names for what is written otherwise here. */
const PROSODY_NAMES: Readonly<Record<string, string>> = {
  component_secret: "secret",
  component_ports: "server",
  component_interfaces: "server",
  component_interface: "server",
  component_port: "server",
};

/** The keys a mapping at `path` may have, walking the schema; none where it has no mapping. */
export function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let node: z.ZodType | undefined = schema;
  for (const part of path) {
    node = unwrap(node);
    if (node instanceof z.ZodArray && typeof part === "number") {
      node = node.element as z.ZodType;
    } else if (node instanceof z.ZodObject && typeof part === "string") {
      node = node.shape[part] as z.ZodType | undefined;
    } else return [];
    if (node === undefined) return [];
  }
  node = unwrap(node);
  return node instanceof z.ZodObject ? Object.keys(node.shape) : [];
}

function unwrap(node: z.ZodType): z.ZodType {
  let inner = node;
  for (;;) {
    if (inner instanceof z.ZodOptional || inner instanceof z.ZodDefault) {
      inner = inner.unwrap() as z.ZodType;
    } else if (inner instanceof z.ZodPipe) inner = inner.in as z.ZodType;
    else return inner;
  }
}

/**
 * A hint for the unknown `key` at `path`, or undefined. `proxyKeys` are an
 * entry of `proxies`' keys, for one written at the top by mistake.
 */
export function suggestion(
  key: string,
  known: readonly string[],
  proxyKeys: readonly string[],
): string | undefined {
  const prosody = PROSODY_NAMES[key.toLowerCase()];
  if (prosody !== undefined && known.includes(prosody)) {
    return `Prosody's ${key} is \`${prosody}\` here`;
  }
  if (prosody !== undefined && proxyKeys.includes(prosody)) {
    return `Prosody's ${key} is \`${prosody}\`, in each entry of \`proxies\``;
  }
  const near = nearest(key, known);
  if (near !== undefined) return `did you mean \`${near}\`?`;
  if (!known.includes("domain") && proxyKeys.includes(key)) {
    return "it belongs to each entry of `proxies`";
  }
  return undefined;
}

/** The known key closest to `key`, if a small edit away (a third of its length at most). */
function nearest(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.min(3, Math.floor(lower.length / 3)));
  for (const candidate of known) {
    const distance = editDistance(lower, candidate);
    if (distance <= bestDistance && (best === undefined || distance < bestDistance)) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance, with a swap of two neighbours counting as one edit. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      rows[i][j] = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        rows[i][j] = Math.min(rows[i][j], rows[i - 2][j - 2] + 1);
      }
    }
  }
  return rows[a.length][b.length];
}

/**
 * The YAML stage: config text to plain data, or every syntax problem at
 * its `file:line:col`. Messages are trimmed of the source text npm:yaml
 * quotes, which may be a secret.
 */
import {
  type Document,
  isAlias,
  isMap,
  isNode,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
} from "yaml";
import { fileLabel, reason } from "./problems.ts";

/** What npm:yaml reads from the environment while it parses. */
export const YAML_ENV_NAMES = Object.freeze(["LOG_TOKENS", "LOG_STREAM"] as const);

/** Where a key path is written in the text, 1-based. */
export interface Position {
  readonly line: number;
  readonly col: number;
}

/** Finds where a key path is written: the key itself, or the nearest parent that is there. */
export type Locate = (path: readonly PropertyKey[]) => Position | undefined;

/** Plain data and a way to find its keys in the text, or the YAML problems as finished lines. */
export type YamlResult =
  | { ok: true; value: unknown; locate: Locate }
  | { ok: false; errors: string[] };

/** A problem at a character offset of the text. */
interface YamlProblem {
  offset: number;
  message: string;
}

/** YAML text to plain data, or syntax problems as `file:line:col: message`. */
export function readYaml(text: string, file: string): YamlResult {
  const lineCounter = new LineCounter();
  // prettyErrors would append the offending source line to each message,
  // and that line may be a secret.
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    logLevel: "error",
  });
  const found: YamlProblem[] = [
    ...doc.errors,
    ...doc.warnings, // e.g. an unknown `!tag`: not silently ignored either
  ].map((e) => {
    const opened = e.code === "MISSING_CHAR" ? unclosedQuoteAt(doc, e.pos[0]) : undefined;
    return opened === undefined
      ? { offset: e.pos[0], message: redactYamlMessage(e.message) }
      : { offset: opened, message: `${redactYamlMessage(e.message)}: this quote is never closed` };
  });
  found.push(...structuralYamlProblems(doc));
  if (found.length > 0) {
    found.sort((a, b) => a.offset - b.offset);
    return {
      ok: false,
      errors: found.map(({ offset, message }) => {
        const { line, col } = lineCounter.linePos(offset);
        return `${fileLabel(file)}:${line}:${col}: ${message}`;
      }),
    };
  }
  try {
    return { ok: true, value: doc.toJS(), locate: (path) => locate(doc, lineCounter, path) };
  } catch (error) {
    // e.g. "Excessive alias count": no position to give.
    return { ok: false, errors: [`${fileLabel(file)}: ${reason(error)}`] };
  }
}

function locate(doc: Document, lines: LineCounter, path: readonly PropertyKey[]) {
  for (let depth = path.length; depth > 0; depth--) {
    const parent = depth === 1 ? doc.contents : doc.getIn(path.slice(0, depth - 1), true);
    const last = path[depth - 1];
    let node: unknown;
    if (isMap(parent)) {
      node = parent.items.find((pair) => isScalar(pair.key) && pair.key.value === last)?.key;
    } else if (isSeq(parent) && typeof last === "number") node = parent.items[last];
    if (isNode(node) && node.range) return lines.linePos(node.range[0]);
  }
  return undefined;
}

/**
 * Problems npm:yaml only notices (by throwing, or by a console warning)
 * while converting to JS: keys that are not scalars and unresolved aliases.
 */
function structuralYamlProblems(doc: Document): YamlProblem[] {
  const found: YamlProblem[] = [];
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key)) return;
      const node = isNode(pair.key) ? pair.key : pair.value;
      const offset = isNode(node) ? node.range?.[0] ?? 0 : 0;
      found.push({
        offset,
        message: "keys must be plain scalars (no lists, mappings or aliases)",
      });
    },
    Alias(_, node) {
      if (isAlias(node) && node.resolve(doc) === undefined) {
        found.push({
          offset: node.range?.[0] ?? 0,
          // Not its name: `secret: *x9…` may be a secret that starts with `*`.
          message:
            "unresolved alias: a value starting with * names an &anchor; quote it if it is text",
        });
      }
    },
  });
  return found;
}

/**
 * Drops the bits of npm:yaml messages that quote the source (maybe a
 * secret: `secret: !x…`, `|x…`): what follows their colon, as in
 * "Unresolved tag: !x…", "Block scalar header includes extra characters:
 * |x…", and the few quoted without one. The position (line:column) still
 * says where.
 */
/**
 * Where the quoted value that runs on to `end` (where the parser gave up:
 * the end of the file) opens: the line to fix, not the last one.
 */
function unclosedQuoteAt(doc: Document, end: number): number | undefined {
  let opened: number | undefined;
  visit(doc, {
    Scalar(_, node) {
      const quoted = node.type === "QUOTE_DOUBLE" || node.type === "QUOTE_SINGLE";
      if (quoted && node.range && node.range[1] >= end) opened = node.range[0];
    },
  });
  return opened;
}

function redactYamlMessage(message: string): string {
  return message
    .replace(/^(Invalid escape sequence).*$/s, "$1")
    .replace(/^(Unresolved plain scalar).*$/s, "$1")
    // These quote it without a colon: "The !x! tag has no suffix", …
    .replace(/^The .* (tag has no suffix)$/s, "A $1")
    .replace(/^(Unknown directive|Unsupported YAML version) .*$/s, "$1")
    .replace(/^(Verbatim tags aren't resolved), .*$/s, "$1")
    .replace(/^([^:]*?): .*$/s, "$1")
    // `allow: [@example.org]` is a pattern the README shows: say how to write it.
    .replace(/^(Plain value cannot start with reserved character .)$/, "$1 (quote the value)");
}

/**
 * How a config's problems are said: one line each,
 * `"<file>: <key path>: <what was expected>, got <what was found>"`, top-level
 * keys first, then proxy by proxy, each in the file's order, so that an
 * operator fixes the whole file in one go. What was found is described,
 * never echoed when it may be a secret.
 */
import type { z } from "zod";

/** A problem at a key path (`["proxies", 0, "secret"]`); rendered by {@link report}. */
export interface Problem {
  readonly path: readonly PropertyKey[];
  readonly message: string;
  /** Where in the file it is, when not at `path` (a key whose name is not said). */
  readonly at?: readonly PropertyKey[];
}

/**
 * How a key of this file is spelt, or misspelt: letters, `_`, `-`, spaces.
 * An unknown key with a digit or a symbol may be a secret pasted as one.
 */
export const KEY_LIKE = /^[A-Za-z_][A-Za-z_ -]{0,39}$/;

/**
 * zod's issues as problems (their messages only: zod's data may hold the
 * input); an unknown key is one problem per key, named if it looks like one.
 */
export function fromZod(
  error: z.ZodError,
  hint: (path: readonly PropertyKey[], key: string) => string | undefined = () => undefined,
): Problem[] {
  const problems: Problem[] = [];
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        const said = KEY_LIKE.test(key) ? hint(issue.path, key) : undefined;
        problems.push(
          KEY_LIKE.test(key)
            ? {
              path: [...issue.path, key],
              message: said === undefined ? "unknown key" : `unknown key: ${said}`,
            }
            : {
              path: issue.path,
              at: [...issue.path, key],
              message: "unknown key, not shown: with digits, symbols or over 40 characters " +
                "it may be a secret pasted as a key",
            },
        );
      }
    } else {
      problems.push({ path: issue.path, message: issue.message });
    }
  }
  return problems;
}

/** Control and bidirectional-override characters, which a path shown on a terminal must not carry raw. */
// deno-lint-ignore no-control-regex -- control characters are what it finds
const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/** `text` with its control characters as `\uXXXX` escapes (a path in an OS error, say). */
export function printable(text: string): string {
  return text.replace(
    new RegExp(UNPRINTABLE.source, "g"),
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * The config file's path as problems name it: as given, or quoted with its
 * control characters escaped (a newline or an escape sequence in a file
 * name must not forge a line or colour the terminal).
 */
export function fileLabel(file: string): string {
  return UNPRINTABLE.test(file) ? printable(JSON.stringify(file)) : file;
}

/**
 * `file:line:col: path: message` lines (the position of the key, as YAML
 * syntax errors give theirs; just `file:` when it has none), top-level keys
 * first, then proxy by proxy, each part in the file's order.
 */
export function report(
  file: string,
  problems: readonly Problem[],
  locate: (path: readonly PropertyKey[]) => { line: number; col: number } | undefined = () =>
    undefined,
): string[] {
  const rank = ({ path }: Problem) =>
    path[0] === "proxies" && typeof path[1] === "number" ? path[1] : -1;
  const placed = problems.map((problem) => ({ problem, at: locate(problem.at ?? problem.path) }));
  // Unplaced last in their part; Array.prototype.sort is stable, so zod's order breaks ties.
  const order = (at: { line: number; col: number } | undefined) =>
    at === undefined ? Infinity : at.line * 1e6 + at.col;
  return placed
    .sort((a, b) => rank(a.problem) - rank(b.problem) || order(a.at) - order(b.at))
    .map(({ problem: { path, message }, at }) => {
      const where = at === undefined ? fileLabel(file) : `${fileLabel(file)}:${at.line}:${at.col}`;
      return path.length === 0
        ? `${where}: ${message}`
        : `${where}: ${formatPath(path)}: ${message}`;
    });
}

/** `["proxies", 0, "secret"]` → `proxies[0].secret`. */
function formatPath(path: readonly PropertyKey[]): string {
  let text = "";
  for (const part of path) {
    if (typeof part === "number") {
      text += `[${part}]`;
    } else {
      const key = String(part);
      // Odd keys (spaces, dots, newlines) are quoted so the line stays one line.
      if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) {
        text += text === "" ? key : `.${key}`;
      } else {
        text += `[${JSON.stringify(key)}]`;
      }
    }
  }
  return text;
}

/** Error callback giving `expected …, got <input>`; zod passes the input. */
export function expecting(
  expected: string,
  sensitive = false,
): (issue: { input?: unknown }) => string {
  return (issue) => `${expected}, got ${describe(issue.input, sensitive)}`;
}

/**
 * {@link expecting} for an address, whose user and password
 * (`xmpp://user:pw@host`, refused) are not echoed; a user alone is.
 */
export function expectingAddress(expected: string): (issue: { input?: unknown }) => string {
  const plain = expecting(expected);
  return (issue) => {
    const input = issue.input;
    const userinfo = typeof input === "string"
      ? /^([a-z][\w+.-]*:\/\/)?[^/@\s:]*:[^/@\s]*@/i.exec(input)
      : null;
    if (userinfo === null) return plain(issue);
    const shown = `${userinfo[1] ?? ""}…@${(input as string).slice(userinfo[0].length)}`;
    return `${expected}, got ${
      quoted(shown)
    } (a user and password, not shown, do not belong in it)`;
  };
}

/**
 * What was found, for `got …`. Strings are {@link quoted}; with
 * `sensitive` only the type is named.
 */
export function describe(value: unknown, sensitive = false): string {
  if (value === undefined) return "nothing (the key is missing)";
  if (value === null) return "an empty value";
  if (Array.isArray(value)) {
    return value.length === 0 ? "an empty list" : "a list";
  }
  if (value instanceof Uint8Array) return "binary data";
  if (typeof value === "object") {
    return Object.keys(value).length === 0 ? "an empty mapping" : "a mapping";
  }
  if (value === "") return "an empty string";
  if (sensitive) {
    const article = typeof value === "string" ? "a string" : `a ${typeof value}`;
    return `${article} (value not shown)`;
  }
  return typeof value === "string" ? quoted(value) : String(value);
}

/** JSON-quoted (so control characters cannot break a log line) and cut short. */
export function quoted(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);
}

/**
 * A short reason for a failed read, without Deno's `(os error 2)` noise.
 * With `sensitive`, nothing the error quotes is kept, only the system's
 * words or the error's kind: Deno's messages quote the path or variable
 * name, which may be a secret written in the wrong place.
 */
export function reason(error: unknown, sensitive = false): string {
  if (error instanceof Deno.errors.NotFound) return "No such file";
  if (error instanceof Deno.errors.PermissionDenied) return "Permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "Is a directory";
  if (error instanceof Deno.errors.NotCapable) {
    // Only a process started with lists (a scoped binary) gets here.
    return "not allowed by Deno's permissions (--allow-read / --allow-env; a binary built " +
      "with `deno task compile --config FILE` may read only the files and variables that FILE uses)";
  }
  const message = error instanceof Error ? error.message : String(error);
  // The OS's message may repeat a path as it was given.
  if (!sensitive) return printable(message);
  // "File name too long (os error 36): readfile '<path>'": the part before the path.
  const system = /^(.+?) \(os error \d+\)/s.exec(message);
  return system ? system[1] : error instanceof Error ? error.name : typeof error;
}

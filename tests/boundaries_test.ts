/**
 * The house rules, read from the source: which part may import which
 * (docs/development.md, "Layout"), what the pure core may not call, no
 * import cycles, and no source file over 500 lines.
 */
import assert from "node:assert/strict";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const MAX_LINES = 500;

/** The parts of src/, by folder. */
type Part = "core" | "link" | "ops" | "config" | "app";

/**
 * What each part may import besides its own folder: other parts' files
 * (by path under src/, a folder ends with "/"), and packages.
 */
const MAY_IMPORT: Record<Part, readonly string[]> = {
  // Pure: no I/O, no clock, no randomness of its own.
  core: [],
  // Carries stanzas; decides nothing (no routing rule).
  link: [
    "core/xml.ts",
    "core/xml_scan.ts",
    // Sizes in bytes of UTF-8, as the scanner counts them (a relay's size).
    "core/byte_length.ts",
    "ops/log.ts",
    // How often a warning is said: part of logging, pure, decides nothing.
    "ops/warn_limiter.ts",
    "@xmpp/component-core",
    "node:events",
    "node:crypto",
  ],
  // Reads the core's event types and nothing else of the core.
  ops: [
    "core/router_events.ts",
    "config/log_options.ts",
    "prom-client",
    "@logtape/logtape",
    "node:sqlite",
  ],
  // No link, no logging: config errors are values.
  config: ["core/", "yaml", "zod", "node:path"],
  // The manifest holds the version (src/app/version.ts).
  app: ["core/", "link/", "ops/", "config/", "node:util", "node:path", "../deno.json"],
};

/** Calls the core must have injected instead. */
const CORE_FORBIDDEN_CALLS = [
  "Math.random",
  "crypto.",
  "Date.now",
  "new Date(",
  "performance.now",
  "setTimeout",
  "setInterval",
  "queueMicrotask",
  "Deno.",
];

interface Source {
  /** Path under src/, e.g. "core/router.ts". */
  readonly path: string;
  readonly part: Part;
  readonly text: string;
  /** Import specifiers: relative ones resolved to paths under src/, others as written. */
  readonly imports: readonly string[];
}

function sources(): Source[] {
  const out: Source[] = [];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(join(ROOT, "src", dir))) {
      const path = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory) walk(path);
      else if (entry.name.endsWith(".ts")) {
        const text = Deno.readTextFileSync(join(ROOT, "src", path));
        out.push({ path, part: path.split("/")[0] as Part, text, imports: importsOf(path, text) });
      }
    }
  };
  walk("");
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

function importsOf(path: string, text: string): string[] {
  const code = withoutComments(text);
  const found = [
    ...code.matchAll(/\b(?:import|export)\b[^;"']*?\bfrom\s*["']([^"']+)["']/g),
    ...code.matchAll(/\bimport\s*\(\s*["']([^"']+)["']\s*\)/g),
    ...code.matchAll(/^\s*import\s*["']([^"']+)["']/gm),
  ].map((m) => m[1]);
  return found.map((spec) =>
    spec.startsWith(".") ? normalize(join(dirname(path), spec)).replaceAll("\\", "/") : spec
  );
}

/** The code without comments (string contents kept, so "xmpp://" stays). */
export function withoutComments(text: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 2;
    } else if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function allowed(source: Source, target: string): boolean {
  const own = `${source.part}/`;
  if (target.startsWith(own)) return true;
  return MAY_IMPORT[source.part].some((rule) =>
    rule.endsWith("/") ? target.startsWith(rule) : target === rule
  );
}

Deno.test("boundaries: each part imports only what its rule allows", () => {
  const broken: string[] = [];
  for (const source of sources()) {
    if (!(source.part in MAY_IMPORT)) {
      broken.push(`src/${source.path}: not in a part (${Object.keys(MAY_IMPORT).join(", ")})`);
      continue;
    }
    for (const target of source.imports) {
      if (!allowed(source, target)) broken.push(`src/${source.path} imports ${target}`);
    }
  }
  assert.deepEqual(broken, []);
});

Deno.test("boundaries: the core calls no clock, randomness or Deno API of its own", () => {
  const broken: string[] = [];
  for (const source of sources().filter((s) => s.part === "core")) {
    const code = withoutComments(source.text);
    for (const call of CORE_FORBIDDEN_CALLS) {
      const pattern = new RegExp(`\\b${call.replaceAll(".", "\\.").replaceAll("(", "\\(")}`);
      if (pattern.test(code)) broken.push(`src/${source.path}: ${call}`);
    }
  }
  assert.deepEqual(broken, []);
});

Deno.test("boundaries: no import cycles", () => {
  const graph = new Map(sources().map((s) => [s.path, s.imports.filter((i) => i.endsWith(".ts"))]));
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === "open") {
        cycles.push([...stack.slice(stack.indexOf(next)), next].join(" → "));
      } else if (!state.has(next) && graph.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  assert.deepEqual(cycles, []);
});

Deno.test(`boundaries: no source file outside tests/ is over ${MAX_LINES} lines`, () => {
  const long: string[] = [];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(join(ROOT, dir))) {
      const path = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory) {
        if (
          !["tests", "node_modules", "dist", ".git"].includes(path) && !entry.name.startsWith(".")
        ) {
          walk(path);
        }
      } else if (entry.name.endsWith(".ts")) {
        const lines = Deno.readTextFileSync(join(ROOT, path)).split("\n").length - 1;
        if (lines > MAX_LINES) long.push(`${path}: ${lines} lines`);
      }
    }
  };
  walk("");
  assert.deepEqual(long, []);
});

Deno.test("boundaries: the checks see the imports a file really has", () => {
  const text = [
    '// import { x } from "../link/commented.ts";',
    'import type { A } from "./a.ts";',
    'import {\n  b,\n  c,\n} from "../ops/b.ts";',
    'export { d } from "./d.ts";',
    'const e = await import("../app/e.ts");',
    'const url = "xmpp://host/*"; // a "quote',
    'import "./side.ts";',
  ].join("\n");
  assert.deepEqual(importsOf("core/x.ts", text), [
    "core/a.ts",
    "ops/b.ts",
    "core/d.ts",
    "app/e.ts",
    "core/side.ts",
  ]);
});

Deno.test("each part's README.md lists every file of the part, one line each, and no other", () => {
  const problems: string[] = [];
  for (const part of Object.keys(MAY_IMPORT)) {
    const files = [...Deno.readDirSync(join(ROOT, "src", part))]
      .filter((e) => e.isFile && e.name.endsWith(".ts"))
      .map((e) => e.name)
      .sort();
    let readme: string;
    try {
      readme = Deno.readTextFileSync(join(ROOT, "src", part, "README.md"));
    } catch {
      problems.push(`src/${part}/README.md: missing`);
      continue;
    }
    const listed = [...readme.matchAll(/^- `([a-z_]+\.ts)`: \S/gm)].map((m) => m[1]);
    for (const file of files) {
      if (!listed.includes(file)) problems.push(`src/${part}/README.md: ${file} not listed`);
    }
    for (const file of listed) {
      if (!files.includes(file)) problems.push(`src/${part}/README.md: lists ${file}, not there`);
    }
  }
  assert.deepEqual(problems, []);
});

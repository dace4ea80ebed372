/**
 * The reference tables of docs/ say what the code does, so that they cannot
 * drift apart: the config keys of docs/configuration.md are the schema's,
 * and each documented default is what a config that leaves the key out
 * gets; the metrics of docs/operating.md are those /metrics shows, with
 * their types and labels; its log events are those the code says; its
 * exit codes are the program's, each with the number it exits with.
 */
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { resolveSettings } from "../src/config/env.ts";
import { parseConfig } from "../src/config/parse.ts";
import { configSchema } from "../src/config/schema.ts";
import { keysAt } from "../src/config/suggest.ts";
import { EXIT } from "../src/app/cli.ts";
import { Metrics } from "../src/ops/metrics.ts";

const ROOT = new URL("../", import.meta.url);

async function read(path: string): Promise<string> {
  return await Deno.readTextFile(new URL(path, ROOT));
}

/** The rows (cells, trimmed) of the Markdown table whose header's first cell is `header`. */
export function tableRows(markdown: string, header: string): string[][] {
  const [rows] = tablesRows(markdown, header);
  if (rows === undefined) throw new Error(`no table headed "${header}"`);
  return rows;
}

/** The rows of each Markdown table whose header's first cell is `header`, in order. */
export function tablesRows(markdown: string, header: string): string[][][] {
  const lines = markdown.split("\n");
  const tables: string[][][] = [];
  for (const [start, line] of lines.entries()) {
    if (cells(line)?.[0] !== header) continue;
    const rows: string[][] = [];
    for (const next of lines.slice(start + 2)) {
      const row = cells(next);
      if (row === undefined) break;
      rows.push(row);
    }
    tables.push(rows);
  }
  return tables;
}

function cells(line: string): string[] | undefined {
  if (!line.startsWith("|")) return undefined;
  return line.slice(1, line.endsWith("|") ? -1 : undefined).split("|").map((c) => c.trim());
}

/** The code spans of a cell, in order. */
export function codeSpans(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
}

/**
 * The names a cell lists: its code spans, where `…_b` after `a.x_y` stands
 * for `a.x_b` (the table's shorthand for a second event of one family).
 */
export function namesIn(cell: string): string[] {
  const names: string[] = [];
  for (const span of codeSpans(cell)) {
    const last = names.at(-1);
    if (span.startsWith("…") && last !== undefined) {
      names.push(last.slice(0, last.lastIndexOf(span[1])) + span.slice(1));
    } else names.push(span);
  }
  return names;
}

const MINIMAL = {
  server: "xmpp://127.0.0.1:5347",
  proxies: [{ domain: "proxy.localhost", secret: "s3cret", target_address: "bot@localhost" }],
};

/**
 * What the program runs with from `raw` (without flags or environment), as
 * JSON: the config, with the log level and format the settings resolve.
 */
function configOf(raw: unknown): unknown {
  const result = parseConfig(JSON.stringify(raw), { file: "/etc/client-proxy.yaml" });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  const { logLevel, logFormat, ...config } = result.config;
  const { settings } = resolveSettings({
    flags: {},
    env: () => undefined,
    fileLogLevel: logLevel,
    fileLogFormat: logFormat,
  });
  return JSON.parse(JSON.stringify({
    ...config,
    logLevel: settings.logLevel.value,
    logFormat: settings.logFormat.value,
  }));
}

/** The documented config keys, each with its default cell. */
async function documentedKeys(): Promise<Map<string, string>> {
  const rows = tableRows(await read("docs/configuration.md"), "key");
  return new Map(rows.map(([key, byDefault]) => [codeSpans(key)[0], byDefault]));
}

Deno.test("docs/configuration.md lists every config key there is, and no other", async () => {
  const schema = configSchema({ configDir: "/", readFile: () => "", getEnv: () => undefined });
  const known = [
    ...keysAt(schema, []),
    ...keysAt(schema, ["proxies", 0]).map((key) => `proxies[].${key}`),
  ].sort();
  assert.deepEqual([...(await documentedKeys()).keys()].sort(), known);
});

Deno.test("each default that docs/configuration.md gives as a value is the default", async () => {
  const plain = configOf(MINIMAL);
  let checked = 0;
  for (const [key, byDefault] of await documentedKeys()) {
    // A value, alone in its cell ("the top-level one", "a quarter of …" are said in words).
    const value = byDefault.match(/^`([^`]+)`$/)?.[1];
    if (value === undefined) continue;
    const raw = structuredClone(MINIMAL) as Record<string, unknown> & typeof MINIMAL;
    const proxyKey = key.startsWith("proxies[].") ? key.slice("proxies[].".length) : undefined;
    const target: Record<string, unknown> = proxyKey === undefined ? raw : raw.proxies[0];
    target[proxyKey ?? key] = parseYaml(value);
    assert.deepEqual(configOf(raw), plain, `${key}: ${value} is not what its absence gives`);
    checked++;
  }
  assert.ok(checked >= 15, `only ${checked} defaults checked: has the table changed shape?`);
});

Deno.test("docs/operating.md lists every metric, with its type and labels, and no other", async () => {
  const metrics = new Metrics();
  metrics.process({ version: "0.0.0", startedAt: 0 });
  metrics.setUp("proxy.localhost", true);
  metrics.reloaded("ok");
  // Series that appear only once something happened, so that their labels show.
  metrics.streamError("proxy.localhost", "conflict");
  metrics.observe("proxy.localhost", {
    type: "outcome",
    outcome: "result",
    requester: "user@example.org",
    id: "1",
    durationMs: 5,
    placement: "affinity",
  });
  const text = await metrics.text();
  const shown = new Map<string, { type: string; labels: Set<string> }>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    shown.set(name, { type, labels: new Set() });
  }
  for (const [, series, labels] of text.matchAll(/^([a-z_]+)\{([^}]*)\}/gm)) {
    const family = [...shown.keys()].find((name) =>
      [name, `${name}_bucket`, `${name}_sum`, `${name}_count`].includes(series)
    );
    for (const [, label] of labels.matchAll(/([a-z_]+)="/g)) {
      if (label !== "le") shown.get(family!)!.labels.add(label);
    }
  }
  const documented = new Map<string, { type: string; labels: Set<string> }>();
  for (const [names, type, labels] of tableRows(await read("docs/operating.md"), "metric")) {
    for (const name of codeSpans(names)) {
      documented.set(name, { type, labels: new Set(codeSpans(labels)) });
    }
  }
  assert.deepEqual([...documented.keys()].sort(), [...shown.keys()].sort());
  for (const [name, { type, labels }] of shown) {
    assert.equal(documented.get(name)!.type, type, `${name}'s type`);
    if (labels.size === 0 && !text.includes(`\n${name} `)) continue; // no series to read them from
    assert.deepEqual(
      [...documented.get(name)!.labels].sort(),
      [...labels].sort(),
      `${name}'s labels`,
    );
  }
});

/** Every event name the code logs: literal ones, and templates as patterns. */
async function loggedEvents(): Promise<{ literal: Set<string>; patterns: RegExp[] }> {
  const literal = new Set<string>();
  const patterns: RegExp[] = [];
  const call =
    /(?:[.#](?:trace|debug|info|warn|warning|error|fatal)\(\s*|event: )(["`])([^"`]+)\1/g;
  for await (const file of walk(new URL("src/", ROOT))) {
    for (const [, quote, name] of (await Deno.readTextFile(file)).matchAll(call)) {
      if (!/^[a-z_${}.]+\.[a-z_${}.]+$/.test(name)) continue;
      if (quote === '"') literal.add(name);
      else patterns.push(new RegExp(`^${name.replace(/\$\{[^}]*\}/g, "[a-z_]+")}$`));
    }
  }
  return { literal, patterns };
}

async function allSource(): Promise<string> {
  const texts: string[] = [];
  for await (const file of walk(new URL("src/", ROOT))) texts.push(await Deno.readTextFile(file));
  return texts.join("\n");
}

async function* walk(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* walk(url);
    else if (entry.name.endsWith(".ts")) yield url;
  }
}

Deno.test("docs/operating.md lists every log event the code says, and no other", async () => {
  const documented = new Set(
    tableRows(await read("docs/operating.md"), "event").flatMap(([names]) => namesIn(names)),
  );
  const { literal, patterns } = await loggedEvents();
  assert.deepEqual([...literal].filter((name) => !documented.has(name)).sort(), []);
  for (const pattern of patterns) {
    assert.ok([...documented].some((name) => pattern.test(name)), `${pattern}: not documented`);
  }
  // Some are chosen before the call (`const name = … ? "a.b" : "c.d"`): quoted anywhere will do.
  const source = await allSource();
  const unknown = [...documented].filter((name) =>
    !source.includes(`"${name}"`) && !patterns.some((pattern) => pattern.test(name))
  );
  assert.deepEqual(unknown, [], "documented, but the code never says them");
});

/**
 * What each exit code's row says, in the words a reader looks it up by: in
 * the table of the program (serving, or `--check`) and in the live check's;
 * none for a table that does not list it (`--check` reports a bad config
 * with 1, never 78).
 */
const EXIT_MEANINGS: Record<keyof typeof EXIT, { program?: RegExp; live?: RegExp }> = {
  ok: { program: /clean shutdown; `--check` ok/, live: /all good/ },
  failure: { program: /runtime failure/, live: /the config has problems/ },
  usage: { program: /usage error/, live: /usage error/ },
  config: { program: /config error at start/ },
  unreachable: { live: /cannot connect to a server/ },
  refused: { live: /the handshake was refused/ },
  unapproved: { live: /subscription was not approved/ },
  noResource: { live: /no target resource online/ },
  unanswered: { live: /`disco#info` got no result/ },
};

Deno.test("docs/operating.md's exit-code tables give every exit code there is its number, and no other", async () => {
  const tables = tablesRows(await read("docs/operating.md"), "exit code");
  assert.equal(tables.length, 2, "the program's table, then the live check's");
  for (const [which, rows] of [["program", tables[0]], ["live", tables[1]]] as const) {
    const documented = new Map(rows.map(([code, meaning]) => [code, meaning]));
    assert.equal(documented.size, rows.length, `${which}: a code listed twice`);
    const codes = Object.entries(EXIT)
      .filter(([name]) => EXIT_MEANINGS[name as keyof typeof EXIT][which] !== undefined)
      .map(([, code]) => String(code));
    const numerically = (a: string, b: string) => Number(a) - Number(b);
    assert.deepEqual([...documented.keys()].sort(numerically), codes.sort(numerically), which);
    for (const [name, code] of Object.entries(EXIT)) {
      const meaning = EXIT_MEANINGS[name as keyof typeof EXIT][which];
      if (meaning === undefined) continue;
      assert.match(
        documented.get(String(code)) ?? "",
        meaning,
        `${which}: EXIT.${name} is ${code}`,
      );
    }
  }
});

Deno.test("namesIn expands the table's `…_b` shorthand", () => {
  assert.deepEqual(namesIn("`a.x_y`, `…_b`"), ["a.x_y", "a.x_b"]);
  assert.deepEqual(codeSpans("`x`, `y` and z"), ["x", "y"]);
});

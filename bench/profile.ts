/**
 * --profile: the proxy and the minimal component under the comparison's
 * load with V8's sampling profiler (`--cpu-prof --cpu-prof-dir=DIR`). Deno
 * writes one .cpuprofile per thread, a Worker's too, but main.ts can cut
 * the worker's short at exit, so the proxy is profiled in process
 * (bench/inprocess_proxy.ts: src/app/runtime.ts in the main thread, same hot
 * path). Only the samples taken during the measured window are counted.
 * Reported: self and inclusive time per function, and per category
 * (parsing, serialising, routing, logging, metrics, ...), per round trip.
 */
import { fmt, progress, runWindow, table, type WindowResult } from "./compare.ts";
import type { LoadShape } from "./compare.ts";
import type { World } from "./world.ts";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Time of one function (or category), in ms and % of busy time. */
export interface Entry {
  name: string;
  selfMs: number;
  selfPct: number;
  totalMs: number;
  totalPct: number;
}

export interface Analysis {
  file: string;
  /** Sampled ms in the window, idle included. */
  sampledMs: number;
  idleMs: number;
  busyMs: number;
  functions: Entry[];
  categories: Entry[];
}

const CATEGORIES: Array<[string, (frame: CallFrame) => boolean]> = [
  ["(garbage collector)", (f) => f.functionName === "(garbage collector)"],
  ["(program): native, unattributed", (f) => f.functionName === "(program)"],
  ["xml parse: ltx tokenizer", (f) => /ltx\/.*parsers\//.test(f.url)],
  ["xml parse: unescape", (f) => /ltx\/.*escape/.test(f.url) && /^unescape/.test(f.functionName)],
  ["xml serialise: escape", (f) => /ltx\/.*escape/.test(f.url)],
  [
    "xml serialise: Element write/toString",
    (f) => /ltx\/.*Element/.test(f.url) && /^(write|toString|_addChildren)$/.test(f.functionName),
  ],
  ["xml tree: ltx Element", (f) => /ltx\//.test(f.url)],
  ["xml parse: @xmpp/xml Parser", (f) => /@xmpp\/xml/.test(f.url)],
  ["xmpp.js connection/events", (f) => /@xmpp\//.test(f.url)],
  [
    "xml parse: src/core/xml_scan, _tags, _content, _tree",
    (f) => /\/src\/(core\/xml_(scan|tags|content|tree)|link\/stream_parser)\.ts/.test(f.url),
  ],
  [
    "xml serialise: src/core/xml.ts, xml_escape.ts",
    (f) => /\/src\/core\/xml(_escape)?\.ts/.test(f.url),
  ],
  ["router core (src/core/)", (f) => /\/src\/core\//.test(f.url)],
  ["shell (src/app/proxy.ts)", (f) => /\/src\/app\/proxy\.ts/.test(f.url)],
  ["stream (src/link/)", (f) => /\/src\/link\//.test(f.url)],
  ["logging (logtape, src/ops/log.ts)", (f) => /logtape|\/src\/ops\/log\.ts/.test(f.url)],
  [
    "metrics (prom-client, src/ops/metrics.ts)",
    (f) => /prom-client|\/src\/ops\/metrics\.ts/.test(f.url),
  ],
  ["other src/", (f) => /\/src\/.*\.ts/.test(f.url) || /\/main\.ts/.test(f.url)],
  ["node compat: events", (f) => /node:events|_events/.test(f.url)],
  ["node compat: net, streams, buffers", (f) => /ext:deno_node|node:/.test(f.url)],
  ["deno runtime (ext:)", (f) => /^ext:/.test(f.url)],
  ["other npm", (f) => /npm|node_modules/.test(f.url)],
];

function category(frame: CallFrame): string {
  for (const [name, test] of CATEGORIES) if (test(frame)) return name;
  return frame.url === "" ? `native ${frame.functionName || "(anonymous)"}` : "other";
}

function shortUrl(url: string): string {
  const npm = /registry\.npmjs\.org\/(.*)$/.exec(url);
  if (npm) return npm[1];
  const src = /\/((?:src|bench)\/[^/]+|main\.ts)$/.exec(url);
  if (src) return src[1];
  return url.replace(/^file:\/\//, "");
}

function frameName(frame: CallFrame): string {
  const name = frame.functionName || "(anonymous)";
  if (frame.url === "") return name;
  return `${name} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
}

/** Self and inclusive time per function and per category, over samples in [from, to] (profile µs). */
export function analyse(
  file: string,
  profile: CpuProfile,
  from = -Infinity,
  to = Infinity,
): Analysis {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  // Self time per node: each sample's delta goes to the node sampled.
  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  let sampled = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    if (t < from || t > to) continue;
    const delta = profile.timeDeltas[i + 1] ?? 0;
    if (delta <= 0) continue;
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + delta);
    sampled += delta;
  }
  const fnSelf = new Map<string, number>();
  const fnTotal = new Map<string, number>();
  const catSelf = new Map<string, number>();
  const catTotal = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const frame = node.callFrame;
    if (frame.functionName === "(idle)") {
      idle += us;
      continue;
    }
    const name = frameName(frame);
    fnSelf.set(name, (fnSelf.get(name) ?? 0) + us);
    const cat = category(frame);
    catSelf.set(cat, (catSelf.get(cat) ?? 0) + us);
    // Inclusive: once per distinct function / category on the stack.
    const names = new Set<string>();
    const cats = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      if (f.functionName === "(root)") break;
      names.add(frameName(f));
      cats.add(category(f));
    }
    for (const n of names) fnTotal.set(n, (fnTotal.get(n) ?? 0) + us);
    for (const c of cats) catTotal.set(c, (catTotal.get(c) ?? 0) + us);
  }
  const busy = sampled - idle;
  const entries = (self: Map<string, number>, total: Map<string, number>) =>
    [...total.keys()].map((name) => ({
      name,
      selfMs: (self.get(name) ?? 0) / 1000,
      selfPct: ((self.get(name) ?? 0) / busy) * 100,
      totalMs: total.get(name)! / 1000,
      totalPct: (total.get(name)! / busy) * 100,
    })).sort((a, b) => b.selfMs - a.selfMs || b.totalMs - a.totalMs);
  return {
    file,
    sampledMs: sampled / 1000,
    idleMs: idle / 1000,
    busyMs: busy / 1000,
    functions: entries(fnSelf, fnTotal),
    categories: entries(catSelf, catTotal),
  };
}

function render(analysis: Analysis, top: number): string {
  const rows = (list: Entry[]) =>
    list.map((e) => [e.name, fmt(e.selfPct, 1), fmt(e.totalPct, 1), fmt(e.selfMs, 0)]);
  const head = ["", "self %", "total %", "self ms"];
  const inclusive = analysis.functions
    .filter((e) => /src\/|main\.ts|@xmpp|ltx|logtape|prom-client/.test(e.name))
    .sort((a, b) => b.totalMs - a.totalMs)
    .slice(0, top);
  return [
    `${analysis.file}: ${fmt(analysis.busyMs, 0)} ms busy of ${
      fmt(analysis.sampledMs, 0)
    } ms sampled ` +
    `(% below are of busy time)`,
    "",
    table(["category", ...head.slice(1)], rows(analysis.categories)),
    "",
    table(
      [`top ${top} functions by self time`, ...head.slice(1)],
      rows(analysis.functions.slice(0, top)),
    ),
    "",
    table(
      [`top ${top} project/library functions by inclusive time`, ...head.slice(1)],
      rows(inclusive),
    ),
  ].join("\n");
}

/** Per round trip: each category's µs, side by side for the profiled processes. */
function perTripTable(runs: ProfiledRun[]): string {
  const names = new Set<string>();
  for (const run of runs) for (const c of run.hot.categories) names.add(c.name);
  const trips = (run: ProfiledRun) => run.window.replies;
  const rows = [...names].map((name) => [
    name,
    ...runs.map((run) => {
      const entry = run.hot.categories.find((c) => c.name === name);
      return fmt(((entry?.selfMs ?? 0) * 1000) / trips(run), 2);
    }),
  ]);
  rows.sort((a, b) => Number(b[1].replace(/,/g, "")) - Number(a[1].replace(/,/g, "")));
  rows.push([
    "total busy (sampled)",
    ...runs.map((run) => fmt((run.hot.busyMs * 1000) / trips(run), 2)),
  ]);
  return table(["µs per round trip, by category (self)", ...runs.map((r) => r.name)], rows);
}

interface ProfiledRun {
  name: string;
  window: WindowResult;
  /** The profile of the thread doing the work (the proxy's worker). */
  hot: Analysis;
  all: Analysis[];
}

/** Starts a component with --cpu-prof, loads it for one window, stops it, analyses. */
async function profiled(
  world: World,
  mode: "proxy" | "minimal",
  shape: LoadShape,
  dir: string,
): Promise<ProfiledRun> {
  await Deno.mkdir(dir, { recursive: true });
  const flags = ["--cpu-prof", `--cpu-prof-dir=${dir}`];
  progress(`profile: ${mode} with ${flags.join(" ")}`, true);
  if (mode === "proxy") await world.startProxy({ denoFlags: flags, inProcess: true });
  else await world.startMinimal(flags);
  const window = await runWindow(world, mode, shape, 1, "[profile]");
  if (mode === "proxy") await world.stopProxy();
  else await world.stopMinimal();
  const stoppedAt = performance.now();
  const files = [...Deno.readDirSync(dir)].map((e) => e.name)
    .filter((n) => n.endsWith(".cpuprofile")).sort();
  const main = files.find((f) => !f.includes("worker"));
  if (!main) throw new Error(`no main-thread .cpuprofile written in ${dir}`);
  const read = async (name: string) =>
    JSON.parse(await Deno.readTextFile(`${dir}/${name}`)) as CpuProfile;
  // Every thread's profile is on V8's one monotonic clock; the main
  // thread's ends as the process exits, just before the stop resolves.
  // (Its start is no anchor: loading npm packages before V8 starts
  // profiling takes seconds on a busy machine.)
  const anchor = (await read(main)).endTime;
  const from = anchor - (stoppedAt - window.startedAt) * 1000;
  const to = anchor - (stoppedAt - window.endedAt) * 1000;
  const all: Analysis[] = [];
  for (const name of files) all.push(analyse(name, await read(name), from, to));
  const hot = all.reduce((a, b) => (b.busyMs > a.busyMs ? b : a));
  return { name: mode, window, hot, all };
}

/**
 * Profiles the proxy and the minimal component under the same load
 * (`shape`), one after the other, and prints where their time goes.
 */
export async function runProfile(
  world: World,
  shape: LoadShape,
  outDir: string,
  started: Date,
): Promise<Record<string, unknown>> {
  const base = `${outDir}/profile-${
    started.toISOString().replaceAll(":", "-").replace(/\..*/, "")
  }`;
  const runs = [
    await profiled(world, "proxy", shape, `${base}/proxy`),
    await profiled(world, "minimal", shape, `${base}/minimal`),
  ];
  console.log(`\n--profile: V8 CPU profiles in ${base}\n`);
  for (const run of runs) {
    console.log(
      `${run.name}: ${fmt(run.window.rtPerSec, 0)} rt/s; ` +
        run.all.map((a) => `${a.file} ${fmt(a.busyMs, 0)} ms busy`).join(", "),
    );
  }
  console.log("");
  console.log(perTripTable(runs));
  console.log("");
  for (const run of runs) {
    console.log(`== ${run.name} ==`);
    console.log(render(run.hot, 25));
    console.log("");
  }
  return {
    dir: base,
    runs: runs.map((run) => ({
      name: run.name,
      window: run.window,
      analyses: run.all.map((a) => ({ ...a, functions: a.functions.slice(0, 100) })),
    })),
  };
}

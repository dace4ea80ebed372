/**
 * deno task bench [--server prosody|ejabberd] [--tls] [--quick] [--sweep] [--memory] ...
 *
 * Throughput, latency and cost of the proxy against the same load sent
 * direct, through a minimal JAT component, (with --tls) through the proxy
 * over TLS and (given --module-dir) through Prosody's mod_client_proxy.
 * See bench/README.md.
 */
import { parseArgs } from "node:util";
import {
  type LoadShape,
  progress,
  ratios,
  ratioTable,
  runWindow,
  summarise,
  summaryTable,
  type WindowResult,
} from "./compare.ts";
import { runMemory } from "./memory.ts";
import { clockTicks, loadAverage } from "./procstat.ts";
import { runProfile } from "./profile.ts";
import { runRouterBench } from "./router_bench.ts";
import { runSweep } from "./sweep.ts";
import { ROOT } from "./services.ts";
import { type Mode, MODES, World } from "./world.ts";
import type { ServerKind } from "../tests/support/server.ts";

const USAGE = `deno task bench [options]

  --server KIND      prosody (default) or ejabberd: the XMPP server, from the tests' launchers
  --tls              also mode proxy-tls: the proxy over the server's direct TLS
                     component listener (certificates made now), beside plaintext
  --quick            CI size: 1 round of 3 s, modes direct,minimal,proxy (< 60 s)
  --rounds N         rounds, modes interleaved (default 3)
  --seconds T        measured seconds per window (default 10)
  --warmup S         seconds of load before each window (default 1)
  --requesters M     requesters (default 4)
  --window W         requests each keeps in flight (default 32)
  --resources K      resources of the implementing client (default 2)
  --modes LIST       comma-separated: direct,minimal,proxy,proxy-tls,module
  --module-dir DIR   a directory holding Prosody's client_proxy module (adds mode "module")
  --sweep            W = 1, 8, 32, 128 and K = 1, 2, 8 (plus M=1 W=1); 1 round of
                     5 s per point unless --rounds / --seconds say otherwise
  --memory           RSS with 10,000 requests in flight and after 100,000 timeouts
  --router           in-process micro-benchmark of parse + route + serialise
  --profile          V8 CPU profile of the proxy under load (--cpu-prof)
  --prosody-nodelay  turn Nagle's algorithm off in Prosody (default: on, as Prosody ships)
  --proxy-flags STR  extra deno flags for the proxy process, space-separated
                     (with "--v8-flags=--trace-gc", --memory shows the heap after the last GC)
  --proxy-tree DIR   run the proxy of another checkout (its main.ts and start flags, from its
                     directory), e.g. a git worktree of an older commit: alternate runs with and
                     without it to compare two commits in one hour
  --out DIR          where the JSON results go (default bench/results)
  --help`;

interface Options {
  server: ServerKind;
  tls: boolean;
  rounds: number;
  seconds: number;
  /** Whether --rounds / --seconds were given (the sweep has its own defaults). */
  roundsGiven: boolean;
  secondsGiven: boolean;
  warmup: number;
  shape: Omit<LoadShape, "seconds" | "warmup">;
  modes: Mode[];
  moduleDir: string | undefined;
  quick: boolean;
  sweep: boolean;
  memory: boolean;
  router: boolean;
  profile: boolean;
  compare: boolean;
  out: string;
  proxyFlags: string[];
  proxyTree: string | undefined;
  prosodyNodelay: boolean;
}

function options(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      server: { type: "string", default: "prosody" },
      tls: { type: "boolean", default: false },
      quick: { type: "boolean", default: false },
      rounds: { type: "string" },
      seconds: { type: "string" },
      warmup: { type: "string" },
      requesters: { type: "string" },
      window: { type: "string" },
      resources: { type: "string" },
      modes: { type: "string" },
      "module-dir": { type: "string" },
      sweep: { type: "boolean", default: false },
      memory: { type: "boolean", default: false },
      router: { type: "boolean", default: false },
      profile: { type: "boolean", default: false },
      out: { type: "string" },
      "proxy-flags": { type: "string" },
      "proxy-tree": { type: "string" },
      "prosody-nodelay": { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const num = (text: string | undefined, fallback: number, min = 0) => {
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isFinite(value) || value < min) throw new TypeError(`bad number: ${text}`);
    return value;
  };
  const quick = values.quick;
  const moduleDir = values["module-dir"];
  const server = values.server as ServerKind;
  if (server !== "prosody" && server !== "ejabberd") {
    throw new TypeError(`unknown server: ${server} (prosody or ejabberd)`);
  }
  const modes = (values.modes?.split(",") ??
    [
      "direct",
      "minimal",
      "proxy",
      ...(values.tls ? ["proxy-tls"] : []),
      ...(moduleDir && !quick ? ["module"] : []),
    ]) as Mode[];
  for (const mode of modes) {
    if (!MODES.includes(mode)) throw new TypeError(`unknown mode: ${mode}`);
  }
  if (modes.includes("module") && (!moduleDir || server !== "prosody")) {
    throw new TypeError("mode module needs --module-dir (and Prosody)");
  }
  if (modes.includes("proxy-tls") && !values.tls) {
    throw new TypeError("mode proxy-tls needs --tls");
  }
  const parts = values.sweep || values.memory || values.router || values.profile;
  return {
    server,
    tls: values.tls,
    rounds: num(values.rounds, quick ? 1 : 3, 1),
    roundsGiven: values.rounds !== undefined,
    secondsGiven: values.seconds !== undefined,
    seconds: num(values.seconds, quick ? 3 : 10, 0.1),
    warmup: num(values.warmup, quick ? 0.5 : 1),
    shape: {
      requesters: num(values.requesters, 4, 1),
      window: num(values.window, 32, 1),
      resources: num(values.resources, 2, 1),
    },
    modes,
    moduleDir: moduleDir ? Deno.realPathSync(moduleDir) : undefined,
    quick,
    sweep: values.sweep,
    memory: values.memory,
    router: values.router,
    profile: values.profile,
    compare: !parts,
    out: values.out ?? new URL("./results", import.meta.url).pathname,
    prosodyNodelay: values["prosody-nodelay"],
    proxyFlags: values["proxy-flags"]?.split(/\s+/).filter(Boolean) ?? [],
    proxyTree: values["proxy-tree"] === undefined
      ? undefined
      : Deno.realPathSync(values["proxy-tree"]),
  };
}

async function machine(): Promise<Record<string, unknown>> {
  const text = (path: string) => {
    try {
      return Deno.readTextFileSync(path);
    } catch {
      return "";
    }
  };
  const cpu = /model name\s*:\s*(.*)/.exec(text("/proc/cpuinfo"))?.[1];
  const version = async (pkg: string) => {
    try {
      const out = await new Deno.Command("dpkg-query", {
        args: ["-W", "-f=${Version}", pkg],
        stdout: "piped",
        stderr: "null",
      }).output();
      return new TextDecoder().decode(out.stdout);
    } catch {
      return ""; // not Debian
    }
  };
  return {
    commit: await commitOf(ROOT),
    loadAverage: loadAverage(),
    cpu,
    cores: navigator.hardwareConcurrency,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    prosody: await version("prosody"),
    ejabberd: await version("ejabberd"),
  };
}

/** The commit checked out at `dir`, and whether its main.ts or src/ differ from it. */
async function commitOf(dir: string): Promise<string> {
  try {
    const git = (...args: string[]) =>
      new Deno.Command("git", { args, cwd: dir, stdout: "piped", stderr: "null" }).output()
        .then((out) => new TextDecoder().decode(out.stdout).trim());
    const commit = await git("rev-parse", "--short", "HEAD");
    const modified = await git("status", "--porcelain", "--", "main.ts", "src");
    return modified ? `${commit} (src modified)` : commit;
  } catch {
    return ""; // not a git checkout
  }
}

/** The comparison: modes interleaved, rotated each round, medians. */
async function compare(world: World, opts: Options): Promise<Record<string, unknown>> {
  const shape: LoadShape = { ...opts.shape, seconds: opts.seconds, warmup: opts.warmup };
  const results: WindowResult[] = [];
  for (let round = 0; round < opts.rounds; round++) {
    // Rotate the order so that no mode always runs first (or right after another).
    const order = opts.modes.map((_, i) => opts.modes[(i + round) % opts.modes.length]);
    for (const mode of order) {
      results.push(
        await runWindow(world, mode, shape, round + 1, `[round ${round + 1}/${opts.rounds}]`),
      );
    }
  }
  const summary = summarise(results);
  const ratio = ratios(summary);
  console.log(
    `\nM=${shape.requesters} requesters × W=${shape.window} in flight, K=${shape.resources} ` +
      `resources, T=${shape.seconds} s, ${opts.rounds} round(s), medians:\n`,
  );
  console.log(summaryTable(summary, world.serverKind));
  console.log("");
  console.log(ratioTable(ratio));
  console.log("");
  return { shape, rounds: opts.rounds, results, summary, ratios: ratio };
}

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = options(Deno.args);
  } catch (error) {
    console.error(`bench: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  await clockTicks();
  const started = new Date();
  const report: Record<string, unknown> = {
    started: started.toISOString(),
    server: opts.server,
    args: Deno.args,
    machine: await machine(),
    ...(opts.proxyTree
      ? { proxyTree: { dir: opts.proxyTree, commit: await commitOf(opts.proxyTree) } }
      : {}),
  };
  if (opts.router) report.router = await runRouterBench();
  const needWorld = opts.compare || opts.sweep || opts.memory || opts.profile;
  if (needWorld) {
    const which = opts.proxyTree ? ` (from ${opts.proxyTree})` : "";
    progress(`starting ${opts.server}, clients, minimal component, proxy${which} …`, true);
    const world = await World.start({
      server: opts.server,
      tls: opts.tls,
      proxyFlags: opts.proxyFlags,
      proxyTree: opts.proxyTree,
      prosodyNodelay: opts.prosodyNodelay,
      requesters: opts.shape.requesters,
      resources: opts.sweep ? 1 : opts.shape.resources,
      moduleDir: opts.moduleDir,
      minimal: opts.compare || opts.sweep,
    });
    try {
      if (opts.compare || opts.sweep) await world.startProxy();
      if ((opts.compare || opts.sweep) && opts.modes.includes("proxy-tls")) {
        await world.startProxyTls();
      }
      if (opts.compare) report.compare = await compare(world, opts);
      if (opts.sweep) {
        report.sweep = await runSweep(world, {
          modes: opts.modes,
          seconds: opts.secondsGiven ? opts.seconds : 5,
          warmup: opts.warmup,
          requesters: opts.shape.requesters,
          rounds: opts.roundsGiven ? opts.rounds : 1,
        });
      }
      if (opts.memory) report.memory = await runMemory(world);
      if (opts.profile) {
        report.profile = await runProfile(
          world,
          {
            ...opts.shape,
            seconds: opts.seconds,
            warmup: opts.warmup,
          },
          opts.out,
          started,
        );
      }
    } finally {
      await world.stop();
    }
  }
  report.loadAverageAtEnd = loadAverage();
  // Figures are never asserted, but a lost or refused request is a broken
  // bench or a broken proxy: fail (CI runs --quick). The module is known to lose replies.
  const lost = ((report.compare as { results?: WindowResult[] } | undefined)?.results ?? [])
    .filter((r) => r.mode !== "module" && r.errors + r.timeouts > 0);
  await Deno.mkdir(opts.out, { recursive: true });
  const file = `${opts.out}/${started.toISOString().replaceAll(":", "-").replace(/\..*/, "")}.json`;
  await Deno.writeTextFile(file, JSON.stringify(report, null, 2) + "\n");
  console.log(`results: ${file}`);
  for (const r of lost) {
    console.error(
      `bench: ${r.mode} round ${r.round}: ${r.errors} errors, ${r.timeouts} timeouts ` +
        `(expected none) ${r.errorSamples.join(" | ")}`,
    );
  }
  return lost.length > 0 ? 1 : 0;
}

Deno.exit(await main());

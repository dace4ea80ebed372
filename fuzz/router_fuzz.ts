/**
 * The long run of the router fuzzer (the short one is in
 * tests/router_fuzz_test.ts): generated scenarios, every router call
 * checked by the model of tests/support/fuzz/, until the given number of
 * steps has been checked.
 *
 *   deno task fuzz [STEPS] [--seed N] [--strict] [--hostile] [--max-actions N]
 *   deno task fuzz --replay SEED:PATH [--strict] [--hostile] [--max-actions N]
 *
 * STEPS defaults to 1,000,000. The same STEPS, seed and flags replay the same
 * run; on failure the smallest failing scenario is printed with the command
 * that replays just that one. `--strict` tolerates none of the known bugs,
 * `--hostile` adds `from` addresses no server would stamp, our own domain
 * respelled as the implementing client's peer, forged relays and sibling
 * pings, restarts of the proxy with late replies across them, and stanzas
 * over max_stanza_size.
 */
import fc from "fast-check";
import { scenarioArb } from "../tests/support/fuzz/arbitraries.ts";
import { runScenario } from "../tests/support/fuzz/run.ts";
import type { Scenario } from "../tests/support/fuzz/scenario.ts";
import { addStats, emptyStats, type RunStats } from "../tests/support/fuzz/stats.ts";
import { KNOWN_BUGS, STRICT } from "../tests/support/fuzz/tolerances.ts";

interface Args {
  steps: number;
  seed: number;
  strict: boolean;
  hostile: boolean;
  maxActions: number | undefined;
  replay: { seed: number; path: string } | undefined;
}

const USAGE = `usage: deno task fuzz [STEPS] [--seed N] [--strict] [--hostile] [--max-actions N]
       deno task fuzz --replay SEED:PATH [--strict] [--hostile] [--max-actions N]`;

function parseArgs(argv: string[]): Args {
  const args: Args = {
    steps: 1_000_000,
    seed: (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0,
    strict: false,
    hostile: false,
    maxActions: undefined,
    replay: undefined,
  };
  const int = (text: string | undefined, what: string): number => {
    const n = Number(text?.replaceAll("_", ""));
    if (text === undefined || !Number.isSafeInteger(n)) usage(`${what}: not an integer: ${text}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case "--seed":
        args.seed = int(value(), "--seed") | 0;
        break;
      case "--strict":
        args.strict = true;
        break;
      case "--hostile":
        args.hostile = true;
        break;
      case "--max-actions":
        args.maxActions = int(value(), "--max-actions");
        break;
      case "--replay": {
        const text = value() ?? "";
        const colon = text.indexOf(":");
        if (colon < 0) usage(`--replay: expected SEED:PATH, got ${text}`);
        args.replay = {
          seed: int(text.slice(0, colon), "--replay seed"),
          path: text.slice(colon + 1),
        };
        break;
      }
      case "-h":
      case "--help":
        console.log(USAGE);
        Deno.exit(0);
        break;
      default:
        if (arg.startsWith("-")) usage(`unknown option ${arg}`);
        args.steps = int(arg, "STEPS");
        if (args.steps < 1) usage("STEPS must be at least 1");
    }
  }
  return args;
}

function usage(problem: string): never {
  console.error(`${problem}\n${USAGE}`);
  Deno.exit(2);
}

/** The flags that shape the scenarios, for the replay command. */
function shapeFlags(args: Args): string {
  return [
    args.strict ? " --strict" : "",
    args.hostile ? " --hostile" : "",
    args.maxActions === undefined ? "" : ` --max-actions ${args.maxActions}`,
  ].join("");
}

/** The seed of batch `n`, derived from the run's seed. */
function batchSeed(seed: number, n: number): number {
  let x = (seed ^ Math.imul(n + 1, 0x9e3779b9)) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) | 0;
}

function report(details: fc.RunDetails<[Scenario]>, args: Args, seed: number): never {
  console.error(fc.defaultReportMessage(details) ?? "failed");
  const error = details.errorInstance;
  console.error(`\n${error instanceof Error ? error.message : String(error)}`);
  console.error(
    `\nreplay this scenario: deno task fuzz --replay ${seed}:${details.counterexamplePath}` +
      shapeFlags(args),
  );
  Deno.exit(1);
}

function main(): void {
  const args = parseArgs(Deno.args);
  const tolerate = args.strict ? STRICT : KNOWN_BUGS;
  const arbitrary = scenarioArb({ hostile: args.hostile, maxActions: args.maxActions });
  const total = emptyStats();
  const property = fc.property(arbitrary, (scenario: Scenario) => {
    addStats(total, runScenario(scenario, { tolerate }));
  });

  if (args.replay) {
    const details = fc.check(property, {
      seed: args.replay.seed,
      path: args.replay.path,
    });
    if (details.failed) report(details, args, args.replay.seed);
    console.log(`replayed ${args.replay.seed}:${args.replay.path}: no failure`);
    return;
  }

  console.log(
    `router fuzz: ${args.steps} steps, seed ${args.seed}${shapeFlags(args)} ` +
      `(reproduce: deno task fuzz ${args.steps} --seed ${args.seed}${shapeFlags(args)})`,
  );
  const started = performance.now();
  let lastReport = started;
  let runs = 0;
  for (let batch = 0; total.steps < args.steps; batch++) {
    const seed = batchSeed(args.seed, batch);
    // A first small batch measures the steps per run; later ones aim at the rest.
    const left = args.steps - total.steps;
    const numRuns = runs === 0
      ? Math.min(100, Math.ceil(left / 60))
      : Math.max(1, Math.min(2_000, Math.ceil(left / (total.steps / runs))));
    const details = fc.check(property, { seed, numRuns });
    if (details.failed) {
      console.error(`\nfailed in batch ${batch} (seed ${seed}) after ${total.steps} steps`);
      report(details, args, seed);
    }
    runs += details.numRuns;
    const now = performance.now();
    if (now - lastReport > 10_000) {
      lastReport = now;
      const rate = Math.round(total.steps / ((now - started) / 1000));
      console.log(`  ${total.steps} steps, ${runs} runs, ${rate} steps/s`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`${total.steps} steps, ${runs} runs, clean (${seconds.toFixed(1)} s)`);
  console.log(describe(total));
}

function describe(stats: RunStats): string {
  const lines = [
    `  requests ${stats.requests}: forwarded ${stats.forwards}, answered at once ${stats.refusedRequests}`,
    `  waited for the first resource after connecting ${stats.parked}, then forwarded ${stats.unparked}`,
    `  answered at once by condition: ${JSON.stringify(stats.refusedBy)}`,
    `  relayed replies ${stats.relays}, failovers ${stats.failovers}, timeouts ${stats.timeouts}, ` +
    `shutdown answers ${stats.shutdowns}, silent steps ${stats.drops}`,
    `  opt-in: target requests ${stats.initiated}, messages ${stats.messages} ` +
    `(${stats.waitedMessages} waited for the first resource), ` +
    `service presence ${stats.presence}, rate limited ${stats.rateLimited}`,
    `  long-address forwards ${stats.longForwards}, restarts ${stats.restarts}, ` +
    `over max_stanza_size ${stats.oversized} (answers settled with an error ${stats.oversizedAnswers})`,
    `  affinity: keys pinned ${stats.affinity.pinned}, forwards to a key's pin ${stats.affinity.held}, ` +
    `waited for a key's resource ${stats.affinity.waited}; pins ended: resource left ` +
    `${stats.affinity.resource_left}, expired ${stats.affinity.expired}, evicted ` +
    `${stats.affinity.evicted}; resources draining ${stats.draining}`,
    `  standby: hand-overs ${stats.standby.handOvers} (requests answered ${stats.standby.answered}, ` +
    `late replies dropped ${stats.standby.lateReplies}), looks ${stats.standby.looks} ` +
    `(found the sibling ${stats.standby.looks - stats.standby.takeOvers}, took over ` +
    `${stats.standby.takeOvers}, held stanzas served ${stats.standby.held}), stanzas to the ` +
    `sibling ${stats.standby.relayed}, sibling's store writes ${stats.standby.siblingWrites}`,
  ];
  const tolerated = Object.entries(stats.tolerated);
  if (tolerated.length > 0) {
    lines.push(
      `  known bugs seen and tolerated (--strict to fail on them): ` +
        tolerated.map(([k, v]) => `${k} ${v}`).join(", "),
    );
  }
  return lines.join("\n");
}

main();

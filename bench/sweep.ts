/**
 * --sweep: how throughput and p99 move with load. W = 1, 8, 32, 128 per
 * requester for K = 1, 2, 8 resources (M requesters), plus M=1 W=1 K=2 for
 * the latency the proxy adds when nothing queues. K only grows during the
 * sweep (Prosody's mod_client_proxy mishandles resources that leave).
 */
import { fmt, type LoadShape, median, runWindow, table, type WindowResult } from "./compare.ts";
import type { Mode, World } from "./world.ts";

export interface SweepOptions {
  readonly modes: Mode[];
  readonly seconds: number;
  readonly warmup: number;
  readonly requesters: number;
  readonly rounds: number;
}

export async function runSweep(world: World, opts: SweepOptions): Promise<Record<string, unknown>> {
  const shapes: LoadShape[] = [];
  const at = (requesters: number, window: number, resources: number) =>
    shapes.push({ requesters, window, resources, seconds: opts.seconds, warmup: opts.warmup });
  for (const resources of [1, 2, 8]) {
    if (resources === 2) at(1, 1, 2);
    for (const window of [1, 8, 32, 128]) at(opts.requesters, window, resources);
  }
  const rows: Array<{ shape: LoadShape; results: WindowResult[] }> = [];
  let n = 0;
  for (const shape of shapes) {
    n++;
    await world.setResources(shape.resources);
    const results: WindowResult[] = [];
    for (let round = 0; round < opts.rounds; round++) {
      const order = opts.modes.map((_, i) => opts.modes[(i + round + n) % opts.modes.length]);
      for (const mode of order) {
        const label = `[sweep ${n}/${shapes.length} M=${shape.requesters} W=${shape.window} ` +
          `K=${shape.resources}]`;
        results.push(await runWindow(world, mode, shape, round + 1, label));
      }
    }
    rows.push({ shape, results });
  }
  const med = (results: WindowResult[], mode: Mode, key: "rtPerSec" | "p99Ms" | "componentUs") =>
    median(results.filter((r) => r.mode === mode).map((r) => r[key]));
  const header = ["M", "W", "K"];
  for (const mode of opts.modes) header.push(`${mode} rt/s`, `${mode} p99 ms`);
  const has = (mode: Mode) => opts.modes.includes(mode);
  if (has("proxy") && has("minimal")) header.push("proxy/minimal rt/s");
  if (has("proxy") && has("direct")) header.push("proxy−direct p99 ms");
  if (has("proxy") && has("minimal")) header.push("proxy/minimal CPU");
  header.push("other cores");
  const summary = rows.map(({ shape, results }) => {
    const row: Record<string, number> = {
      requesters: shape.requesters,
      window: shape.window,
      resources: shape.resources,
    };
    for (const mode of opts.modes) {
      row[`${mode}RtPerSec`] = med(results, mode, "rtPerSec");
      row[`${mode}P99Ms`] = med(results, mode, "p99Ms");
      row[`${mode}ComponentUs`] = med(results, mode, "componentUs");
      row[`${mode}Errors`] = results.filter((r) => r.mode === mode)
        .reduce((a, r) => a + r.errors + r.timeouts, 0);
    }
    // The worst noise among the point's windows: figures of a row above ~0.1 are suspect.
    row.otherCores = Math.max(...results.map((r) => r.otherCores));
    return row;
  });
  const text = summary.map((row) => {
    const cells = [String(row.requesters), String(row.window), String(row.resources)];
    for (const mode of opts.modes) {
      const bad = row[`${mode}Errors`] > 0 ? ` (${row[`${mode}Errors`]} err)` : "";
      cells.push(fmt(row[`${mode}RtPerSec`], 0) + bad, fmt(row[`${mode}P99Ms`], 2));
    }
    if (has("proxy") && has("minimal")) {
      cells.push(fmt(row.proxyRtPerSec / row.minimalRtPerSec, 3));
    }
    if (has("proxy") && has("direct")) cells.push(fmt(row.proxyP99Ms - row.directP99Ms, 3));
    if (has("proxy") && has("minimal")) {
      cells.push(fmt(row.proxyComponentUs / row.minimalComponentUs, 2));
    }
    cells.push(fmt(row.otherCores, 2));
    return cells;
  });
  console.log(`\n--sweep: T=${opts.seconds} s per window, ${opts.rounds} round(s), medians\n`);
  console.log(table(header, text));
  console.log("");
  return { rows: rows.map(({ shape, results }) => ({ shape, results })), summary };
}

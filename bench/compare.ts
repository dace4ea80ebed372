/**
 * One measured window of load in one mode, and the comparison of modes:
 * rounds interleaved, medians, ratios, the table.
 */
import { percentiles, type Requester } from "./load.ts";
import { cpuSeconds, cpuSnapshot, machineBusySeconds, memoryMb } from "./procstat.ts";
import { type Mode, sleep, type World } from "./world.ts";

/** The shape of one window of load. */
export interface LoadShape {
  /** Requesters (M). */
  readonly requesters: number;
  /** Requests each keeps in flight (W). */
  readonly window: number;
  /** Resources of the implementing account (K). */
  readonly resources: number;
  /** Measured seconds (T). */
  readonly seconds: number;
  /** Seconds of load before measuring. */
  readonly warmup: number;
}

/** What one window measured. */
export interface WindowResult {
  mode: Mode;
  round: number;
  seconds: number;
  replies: number;
  /** Successful round trips per second. */
  rtPerSec: number;
  errors: number;
  timeouts: number;
  strays: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** CPU microseconds per round trip: the XMPP server (Prosody, or ejabberd's VM). */
  serverUs: number;
  /** The component process (proxy or minimal); NaN for direct and module. */
  componentUs: number;
  loadgenUs: number;
  /** The component process's RSS and peak RSS, MB, at the window's end. */
  rssMb: number;
  hwmMb: number;
  /**
   * Cores used by processes outside the bench during the window (machine
   * busy time less Prosody's, the components' and the load generator's):
   * noise that the 2 cores share with the measurement.
   */
  otherCores: number;
  errorSamples: string[];
  /** performance.now() at the measured window's start and end. */
  startedAt: number;
  endedAt: number;
}

const DRAIN_MS = 5_000;
const isTty = Deno.stderr.isTerminal();
const encoder = new TextEncoder();

/** Writes a progress line to stderr (rewritten in place on a terminal). */
export function progress(text: string, final = false): void {
  if (isTty) {
    Deno.stderr.writeSync(encoder.encode(`\x1b[2K\r${text}${final ? "\n" : ""}`));
  } else if (final) {
    Deno.stderr.writeSync(encoder.encode(`${text}\n`));
  }
}

/** Runs one window: warm-up, measured seconds, drain. */
export async function runWindow(
  world: World,
  mode: Mode,
  shape: LoadShape,
  round: number,
  label: string,
): Promise<WindowResult> {
  const requesters = world.requesters.slice(0, shape.requesters);
  const targets = world.targets(mode);
  const component = world.component(mode);
  for (const requester of requesters) {
    requester.configure(targets, shape.window);
    requester.limit = Infinity;
    requester.measuring = false;
    requester.resetStats();
    requester.strays = 0;
  }
  for (const requester of requesters) requester.start();
  await sleep(shape.warmup * 1000);
  for (const requester of requesters) {
    requester.resetStats();
    requester.measuring = true;
  }
  const pids = { server: world.serverPid, component: component?.pid, loadgen: Deno.pid };
  // Every process of the bench, idle ones too, to tell the machine's other load apart.
  const ours = [
    world.serverPid,
    Deno.pid,
    world.proxy?.pid,
    world.proxyTls?.pid,
    world.minimal?.pid,
  ];
  const ourCpu = () => ours.reduce((a: number, pid) => a + (pid ? cpuSeconds(pid) : 0), 0);
  const cpu0 = cpuSnapshot(pids);
  const machine0 = machineBusySeconds() - ourCpu();
  const t0 = performance.now();
  const ticker = setInterval(() => {
    const elapsed = (performance.now() - t0) / 1000;
    const replies = sum(requesters, (r) => r.stats.replies);
    const errors = sum(requesters, (r) => r.stats.errors);
    progress(
      `${label} ${mode.padEnd(9)} ${elapsed.toFixed(0).padStart(3)}/${shape.seconds} s  ` +
        `${fmt(replies / elapsed, 0)} rt/s  errors ${errors}`,
    );
  }, 1000);
  await sleep(shape.seconds * 1000);
  for (const requester of requesters) requester.measuring = false;
  const t1 = performance.now();
  const cpu1 = cpuSnapshot(pids);
  const machine1 = machineBusySeconds() - ourCpu();
  clearInterval(ticker);
  const memory = component ? memoryMb(component.pid) : { rss: NaN, hwm: NaN };
  for (const requester of requesters) requester.sending = false;
  await Promise.all(requesters.map((requester) => requester.idle(DRAIN_MS)));
  const timeouts = sum(requesters, (r) => r.inFlight);
  for (const requester of requesters) requester.inFlight = 0;

  const seconds = (t1 - t0) / 1000;
  const latencies = requesters.flatMap((r) => r.stats.latencies);
  const replies = latencies.length;
  const errors = sum(requesters, (r) => r.stats.errors);
  const ok = replies - errors;
  const per = (role: keyof typeof pids) =>
    cpu0[role] === undefined ? NaN : ((cpu1[role] - cpu0[role]) / Math.max(1, ok)) * 1e6;
  const { p50, p95, p99 } = percentiles(latencies);
  const result: WindowResult = {
    mode,
    round,
    seconds,
    replies,
    rtPerSec: ok / seconds,
    errors,
    timeouts,
    strays: sum(requesters, (r) => r.strays),
    p50Ms: p50,
    p95Ms: p95,
    p99Ms: p99,
    serverUs: per("server"),
    componentUs: per("component"),
    loadgenUs: per("loadgen"),
    rssMb: memory.rss,
    hwmMb: memory.hwm,
    otherCores: Math.max(0, (machine1 - machine0) / seconds),
    errorSamples: requesters.flatMap((r) => r.stats.errorSamples).slice(0, 5),
    startedAt: t0,
    endedAt: t1,
  };
  progress(
    `${label} ${mode.padEnd(9)} ${fmt(result.rtPerSec, 0)} rt/s  p99 ${fmt(p99, 2)} ms  ` +
      `errors ${errors}  timeouts ${timeouts}` +
      (result.otherCores > 0.1
        ? `  (other processes used ${fmt(result.otherCores, 2)} cores)`
        : ""),
    true,
  );
  return result;
}

function sum(requesters: Requester[], pick: (r: Requester) => number): number {
  let total = 0;
  for (const requester of requesters) total += pick(requester);
  return total;
}

/** The median of the finite values, NaN when there are none. */
export function median(values: number[]): number {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (finite.length === 0) return NaN;
  const mid = finite.length >> 1;
  return finite.length % 2 ? finite[mid] : (finite[mid - 1] + finite[mid]) / 2;
}

const NUMERIC: ReadonlyArray<keyof WindowResult> = [
  "seconds",
  "replies",
  "rtPerSec",
  "errors",
  "timeouts",
  "strays",
  "p50Ms",
  "p95Ms",
  "p99Ms",
  "serverUs",
  "componentUs",
  "loadgenUs",
  "rssMb",
  "hwmMb",
  "otherCores",
];

/** Medians per mode over the rounds (errors and timeouts: summed). */
export type Summary = Record<string, Record<string, number>>;

export function summarise(results: WindowResult[]): Summary {
  const summary: Summary = {};
  for (const mode of new Set(results.map((r) => r.mode))) {
    const mine = results.filter((r) => r.mode === mode);
    const row: Record<string, number> = { rounds: mine.length };
    for (const key of NUMERIC) {
      const values = mine.map((r) => r[key] as number);
      row[key] = key === "errors" || key === "timeouts" || key === "strays"
        ? values.reduce((a, b) => a + b, 0)
        : median(values);
    }
    // Peak RSS over all rounds, not the median.
    row.hwmMb = Math.max(...mine.map((r) => r.hwmMb));
    summary[mode] = row;
  }
  return summary;
}

/**
 * proxy/<other> for the figures where a ratio means something, keyed by
 * the other mode; and `tls`: proxy-tls/proxy, what TLS costs.
 */
export function ratios(summary: Summary): Record<string, Record<string, number>> {
  const proxy = summary.proxy;
  const out: Record<string, Record<string, number>> = {};
  if (!proxy) return out;
  const ratio = (ours: Record<string, number>, base: Record<string, number>) => ({
    rtPerSec: ours.rtPerSec / base.rtPerSec,
    p50Ms: ours.p50Ms / base.p50Ms,
    p99Ms: ours.p99Ms / base.p99Ms,
    addedP50Ms: ours.p50Ms - base.p50Ms,
    addedP99Ms: ours.p99Ms - base.p99Ms,
    serverUs: ours.serverUs / base.serverUs,
    // Server side in all: the XMPP server plus the component process.
    allUs: (ours.serverUs + ours.componentUs) /
      (base.serverUs + (Number.isFinite(base.componentUs) ? base.componentUs : 0)),
    componentUs: ours.componentUs / base.componentUs,
  });
  for (const other of ["direct", "minimal", "module"]) {
    if (summary[other]) out[other] = ratio(proxy, summary[other]);
  }
  if (summary["proxy-tls"]) out.tls = ratio(summary["proxy-tls"], proxy);
  return out;
}

export function fmt(value: number, digits: number): string {
  if (!Number.isFinite(value)) return "-";
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** Renders rows as an aligned text table: numbers right-aligned, the first and text columns left. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const text = header.map((_, i) =>
    i === 0 || rows.some((row) => /[a-z]{3}/i.test(row[i]) && !/^[\d,.\-]+ \(/.test(row[i]))
  );
  const line = (cells: string[]) =>
    cells.map((cell, i) => (text[i] ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** The comparison table of a summary; `server` names the XMPP server's column. */
export function summaryTable(summary: Summary, server = "prosody"): string {
  const header = [
    "mode",
    "rt/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "errors",
    "timeouts",
    `${server} µs/rt`,
    "component µs/rt",
    "loadgen µs/rt",
    "RSS MB",
    "peak RSS MB",
    "other cores",
  ];
  const rows = Object.entries(summary).map(([mode, s]) => [
    mode,
    fmt(s.rtPerSec, 0),
    fmt(s.p50Ms, 3),
    fmt(s.p95Ms, 3),
    fmt(s.p99Ms, 3),
    String(s.errors),
    String(s.timeouts),
    fmt(s.serverUs, 1),
    fmt(s.componentUs, 1),
    fmt(s.loadgenUs, 1),
    fmt(s.rssMb, 1),
    fmt(s.hwmMb, 1),
    fmt(s.otherCores, 2),
  ]);
  return table(header, rows);
}

export function ratioTable(r: Record<string, Record<string, number>>): string {
  const header = [
    "proxy / …",
    "throughput",
    "p50",
    "p99",
    "added p50 ms",
    "added p99 ms",
    "component CPU",
    "server CPU",
  ];
  const rows = Object.entries(r).map(([other, x]) => [
    // The last row is what TLS costs: proxy-tls / proxy.
    other === "tls" ? "(proxy-tls / proxy)" : other,
    fmt(x.rtPerSec, 3),
    fmt(x.p50Ms, 2),
    fmt(x.p99Ms, 2),
    fmt(x.addedP50Ms, 3),
    fmt(x.addedP99Ms, 3),
    fmt(other === "direct" || other === "module" ? NaN : x.componentUs, 2),
    fmt(x.allUs, 2),
  ]);
  return table(header, rows);
}

/**
 * Other processes, seen through `ps` (Deno refuses /proc to anything but
 * `-A`): those started through `deno task` (the task runner waits for its
 * child, and SIGKILL of the runner alone leaves the child running), and
 * how much memory one holds.
 */

/** The process ids below `pid`, deepest last. */
export function descendants(pid: number): number[] {
  let table: string;
  try {
    const output = new Deno.Command("ps", {
      args: ["-e", "-o", "pid=,ppid="],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    table = new TextDecoder().decode(output.stdout);
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  for (const line of table.split("\n")) {
    const [child, parent] = line.trim().split(/\s+/).map(Number);
    if (!child || !parent) continue;
    children.set(parent, [...(children.get(parent) ?? []), child]);
  }
  const below = (of: number): number[] =>
    (children.get(of) ?? []).flatMap((child) => [child, ...below(child)]);
  return below(pid);
}

/** SIGKILL to `pid` and everything below it, deepest first. */
export function killTree(pid: number): void {
  for (const each of [...descendants(pid).reverse(), pid]) {
    try {
      Deno.kill(each, "SIGKILL");
    } catch { /* already gone */ }
  }
}

/** The resident memory (RSS) of process `pid`, in MB. */
export async function rssMb(pid: number): Promise<number> {
  const out = await new Deno.Command("ps", { args: ["-o", "rss=", "-p", String(pid)] }).output();
  const kb = Number(new TextDecoder().decode(out.stdout).trim());
  if (!out.success || !(kb > 0)) throw new Error(`no RSS for process ${pid}`);
  return kb / 1024;
}

/** Samples of a process's RSS taken until stopped. */
export interface RssSampler {
  /** Stops sampling, after one last sample; resolves with the peak. Idempotent. */
  stop(): Promise<number>;
  /** How many samples were taken so far (a peak of few says little). */
  readonly count: number;
  /** Stops sampling (for `await using`). */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Samples the RSS of process `pid` every `everyMs` until stopped. */
export function sampleRss(pid: number, everyMs = 50): RssSampler {
  let peak = 0;
  let count = 0;
  let running = true;
  const sample = async () => {
    peak = Math.max(peak, await rssMb(pid).catch(() => 0));
    count++;
  };
  const loop = (async () => {
    while (running) {
      await sample();
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  const sampler: RssSampler = {
    get count() {
      return count;
    },
    async stop() {
      if (!running) return peak;
      running = false;
      await loop;
      await sample();
      return peak;
    },
    async [Symbol.asyncDispose]() {
      await sampler.stop();
    },
  };
  return sampler;
}

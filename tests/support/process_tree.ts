/**
 * Other processes, seen through /proc (which Deno opens only to `-A`) or
 * `ps`: those started through `deno task` (the task runner waits for its
 * child, and SIGKILL of the runner alone leaves the child running), and
 * how much memory one holds.
 */

export interface ProcessInfo {
  ppid: number;
  /** the command line, arguments separated by spaces */
  cmd: string;
}

/**
 * Every live (not zombie) process: from /proc when Deno lets us read it
 * (only with `-A`), else from `ps` (needs --allow-run=ps); undefined when
 * neither works.
 */
export function processTable(): Map<number, ProcessInfo> | undefined {
  try {
    const table = new Map<number, ProcessInfo>();
    for (const entry of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      try {
        const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
        // "pid (comm) state ppid …", where comm may hold spaces and parens
        const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        if (state === "Z") continue;
        const cmd = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`)
          .replaceAll("\0", " ").trim();
        table.set(Number(entry.name), { ppid: Number(ppid), cmd });
      } catch (err) {
        if (err instanceof Deno.errors.NotCapable) throw err;
        // exited meanwhile
      }
    }
    return table;
  } catch { /* not allowed: ask ps */ }
  try {
    const output = new Deno.Command("ps", {
      args: ["-e", "-o", "pid=,ppid=,stat=,args="],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    if (!output.success) return undefined;
    const table = new Map<number, ProcessInfo>();
    for (const line of new TextDecoder().decode(output.stdout).split("\n")) {
      const match = line.match(/^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/);
      if (!match || match[3].startsWith("Z")) continue;
      table.set(Number(match[1]), { ppid: Number(match[2]), cmd: match[4].trim() });
    }
    return table;
  } catch {
    return undefined;
  }
}

/** The processes below `pid` with their command lines, deepest last (empty when we cannot see them). */
export function descendantCommands(pid: number): Map<number, string> {
  const found = new Map<number, string>();
  const table = processTable();
  if (!table) return found;
  const walk = (parent: number) => {
    for (const [child, info] of table) {
      if (info.ppid !== parent || found.has(child)) continue;
      found.set(child, info.cmd);
      walk(child);
    }
  };
  walk(pid);
  return found;
}

/** Processes of `known` that still exist (same pid, same command line, not a zombie). */
export function survivors(known: Map<number, string>): number[] {
  if (known.size === 0) return [];
  const table = processTable();
  if (!table) return [];
  return [...known].filter(([pid, cmd]) => table.get(pid)?.cmd === cmd).map(([pid]) => pid);
}

/** The process ids below `pid`, deepest last. */
export function descendants(pid: number): number[] {
  return [...descendantCommands(pid).keys()];
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

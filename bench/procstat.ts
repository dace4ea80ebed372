/**
 * What the kernel says about a process: CPU time from /proc/<pid>/stat
 * (utime + stime, all threads, so a Worker counts too) and memory from
 * /proc/<pid>/status. Reading another process's /proc entries needs `-A`
 * in Deno; the bench runs with it, the product never does.
 */

let ticksPerSecond: number | undefined;

/** Clock ticks per second (`getconf CLK_TCK`, 100 on Linux nearly always). */
export async function clockTicks(): Promise<number> {
  if (ticksPerSecond !== undefined) return ticksPerSecond;
  try {
    const out = await new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" })
      .output();
    const value = Number(new TextDecoder().decode(out.stdout).trim());
    ticksPerSecond = Number.isFinite(value) && value > 0 ? value : 100;
  } catch {
    ticksPerSecond = 100;
  }
  return ticksPerSecond;
}

/** CPU seconds (user + system) the process has used so far. */
export function cpuSeconds(pid: number): number {
  const text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // The command name (field 2) may hold spaces: count fields after its ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / (ticksPerSecond ?? 100);
}

/** Resident set size now and its peak (high-water mark), in MB. */
export function memoryMb(pid: number): { rss: number; hwm: number } {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (key: string) => {
    const match = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text);
    return match ? Number(match[1]) : NaN;
  };
  return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 };
}

/** The pid of the process whose command line contains `needle`, if any. */
export function findProcess(needle: string): number | undefined {
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).replaceAll("\0", " ");
      if (cmdline.includes(needle)) return Number(entry.name);
    } catch { /* gone meanwhile */ }
  }
  return undefined;
}

/** A snapshot of several processes' CPU seconds, keyed by role. */
export function cpuSnapshot(pids: Record<string, number | undefined>): Record<string, number> {
  const snapshot: Record<string, number> = {};
  for (const [role, pid] of Object.entries(pids)) {
    if (pid !== undefined) snapshot[role] = cpuSeconds(pid);
  }
  return snapshot;
}

/** CPU seconds the whole machine has been busy (all cores, /proc/stat). */
export function machineBusySeconds(): number {
  const line = Deno.readTextFileSync("/proc/stat").split("\n", 1)[0];
  const [, user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/)
    .map(Number);
  void idle;
  void iowait;
  return (user + nice + system + irq + softirq + steal) / (ticksPerSecond ?? 100);
}

/** The 1-minute load average. */
export function loadAverage(): number {
  return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
}

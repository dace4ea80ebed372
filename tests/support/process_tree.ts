/**
 * Processes started through `deno task`: the task runner waits for its
 * child, and SIGKILL of the runner alone leaves the child running.
 */

/**
 * The process ids below `pid`, deepest last. Deno refuses /proc to
 * anything but `-A`, so this asks `ps` (the test permission set allows
 * running programs).
 */
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

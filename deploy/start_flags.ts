/**
 * The `deno run` flags of `deno task start`, read from deno.json: the one
 * place they are written. The compile task bakes them into the binary, and
 * the sandbox, the benchmark and CI run the proxy with them.
 */

/** The flags of a start task `deno run FLAGS main.ts` (deno.json's parsed content). */
export function startFlags(denoJson: unknown): string[] {
  const task = (denoJson as { tasks?: Record<string, unknown> })?.tasks?.start;
  const command = typeof task === "string"
    ? task
    : (task as { command?: unknown } | undefined)?.command;
  const words = typeof command === "string" ? command.trim().split(/\s+/) : [];
  const main = words.indexOf("main.ts");
  if (words[0] !== "deno" || words[1] !== "run" || main < 2) {
    throw new Error(
      `deno.json: expected tasks.start to be "deno run FLAGS main.ts", got ${
        JSON.stringify(command)
      }`,
    );
  }
  return words.slice(2, main);
}

/** `flags` without those that grant or deny permissions (for another set in their place). */
export function withoutPermissions(flags: readonly string[]): string[] {
  return flags.filter((flag) =>
    !/^(-P|--permission-set|-A|--allow-all|--allow-[a-z]+|--deny-[a-z]+)(=|$)/.test(flag)
  );
}

/** {@link startFlags} of this repository's deno.json (needs read access to it). */
export function readStartFlags(): string[] {
  return startFlags(JSON.parse(Deno.readTextFileSync(new URL("../deno.json", import.meta.url))));
}

/**
 * The command line of a task script (`deno task compile`, `dev`,
 * `dev:request`): node's parseArgs, strict, with the same answers to a
 * mistake (the usage on stderr, exit 2) and to `--help` (the usage, exit 0).
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

type Spec = NonNullable<ParseArgsConfig["options"]>;

/** The parsed flags, as parseArgs types them for `options`. */
export type TaskValues<O extends Spec> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: false }>
>["values"];

/**
 * Parses `args` for the script called `name`; `options` should have a
 * boolean `help`. Returns the values, or the exit code when the script
 * should stop here (after printing what it printed).
 */
export function taskArgs<O extends Spec>(
  name: string,
  args: string[],
  spec: { readonly options: O; readonly usage: string },
): { values: TaskValues<O> } | { exit: number } {
  let values: TaskValues<O>;
  try {
    ({ values } = parseArgs({
      args,
      options: spec.options,
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    console.error(`${name}: ${error instanceof Error ? error.message : error}\n\n${spec.usage}`);
    return { exit: 2 };
  }
  if ((values as Record<string, unknown>).help) {
    console.log(spec.usage);
    return { exit: 0 };
  }
  return { values };
}

/**
 * `deno task compile`: the single binary, with the start task's flags baked
 * in (deploy/start_flags.ts reads them from deno.json, where they are
 * written once).
 *
 * Without `--config`, the binary holds the start task's permissions (read,
 * write, env and net, unscoped), for a download that must work with any
 * config; it narrows itself at run time (docs/production.md, Permissions). With `--config FILE`, that set
 * is replaced by one scoped to FILE (src/app/permissions.ts): network access to
 * its servers and HTTP listener only, read access to its directory, the
 * credentials root and state_dir, write access to state_dir, and the
 * environment variables it and the program read. Pass FILE at the path it
 * will have where the binary runs (`/etc/client-proxy/client-proxy.yaml`).
 * Secrets are not read: placeholders stand in for them.
 */
import { resolve } from "node:path";
import { parseConfig } from "../src/config/parse.ts";
import { CREDENTIALS_ENV } from "../src/config/secrets.ts";
import { CREDENTIALS_ROOT, permissionFlags, permissionScope } from "../src/app/permissions.ts";
import { readStartFlags, withoutPermissions } from "./start_flags.ts";
import { taskArgs } from "./task_args.ts";

/** The targets `--target all` builds, and the suffix of each one's file. */
export const TARGETS = Object.freeze({
  "x86_64-unknown-linux-gnu": "linux-x86_64",
  "aarch64-unknown-linux-gnu": "linux-aarch64",
  "x86_64-apple-darwin": "macos-x86_64",
  "aarch64-apple-darwin": "macos-aarch64",
});

const USAGE = `Usage: deno task compile [options]

Builds the client-proxy binary with the start task's flags baked in.

Options:
  --config FILE           bake permissions scoped to this config (at its production
                          path) instead of the start task's unscoped ones
  --credentials-root DIR  where systemd keeps credentials (default: ${CREDENTIALS_ROOT})
  --expand-env            with --config: the config is read as --expand-env reads it,
                          in this environment (its servers are scoped as they expand
                          here; the variables it needs must be set, or have defaults),
                          and the variables it names are let in; run the binary with
                          --expand-env too
  --target TARGET         one of ${Object.keys(TARGETS).join(", ")},
                          or all (default: this machine)
  --output FILE           the binary (default: dist/client-proxy, with --target all
                          dist/client-proxy-<os>-<arch>)
  --print-flags           print the \`deno run\` flags, one per line, and build nothing
  --bundle FILE           with --print-flags: the flags to run the single-file build FILE
                          (adds read access to it: a Worker's module must be readable)
  --dry-run               print the deno compile commands and build nothing
  -h, --help              show this help
`;

/** Options of {@link compileCommands}. */
export interface CompileOptions {
  /** The `deno run` flags to bake in (the start task's, or scoped ones). */
  readonly runFlags: readonly string[];
  /** Target triples; default `[]`: this machine only. */
  readonly targets?: readonly string[];
  /** The binary's path for one target; default `dist/client-proxy[-<os>-<arch>]`. */
  readonly output?: string;
}

/** The `deno compile` argument lists, one per binary. */
export function compileCommands(entry: string, options: CompileOptions): string[][] {
  const targets = options.targets ?? [];
  // Workers with narrowed permissions are an unstable API; the flag is baked in too.
  const common = ["compile", ...options.runFlags, "--unstable-worker-options"];
  if (targets.length === 0) {
    return [[...common, "-o", options.output ?? "dist/client-proxy", entry]];
  }
  return targets.map((target) => {
    const suffix = TARGETS[target as keyof typeof TARGETS] ?? target;
    const output = targets.length === 1 && options.output !== undefined
      ? options.output
      : `dist/client-proxy-${suffix}`;
    return [...common, "--target", target, "-o", output, entry];
  });
}

/** Options of {@link scopedFlags}. */
export interface ScopedFlagsOptions {
  /** The config file's content. */
  readonly text: string;
  /** Where systemd keeps credentials. Default `/run/credentials`. */
  readonly credentialsRoot?: string;
  /** More files to read (the single-file build). Default none. */
  readonly alsoRead?: readonly string[];
  /**
   * The config is read with `--expand-env`, in this environment (the one
   * where the binary runs: its servers are scoped as they expand there).
   */
  readonly expandEnv?: (name: string) => string | undefined;
}

/**
 * What stands for every file the config names (they may not exist where
 * the binary is built): one line of printable ASCII, as a secret must be,
 * that is also a PEM certificate, as `tls_ca` must hold.
 */
const ANY_FILE = "-----BEGIN CERTIFICATE-----MAEA-----END CERTIFICATE-----";

/**
 * The run flags for a binary scoped to the config `file` (absolute): the
 * start task's flags with its permission flags replaced, or every problem
 * with the config.
 */
export function scopedFlags(
  start: readonly string[],
  file: string,
  options: ScopedFlagsOptions,
): { ok: true; flags: string[] } | { ok: false; errors: string[] } {
  const root = options.credentialsRoot ?? CREDENTIALS_ROOT;
  const parsed = parseConfig(options.text, {
    file,
    ...(options.expandEnv ? { expandEnv: options.expandEnv } : {}),
    // Only which files and variables it names matters here, not their content.
    readFile: () => ANY_FILE,
    getEnv: (name) => name === CREDENTIALS_ENV ? `${root}/client-proxy.service` : "placeholder",
  });
  if (!parsed.ok) return parsed;
  const scope = permissionScope(parsed.config, {
    credentialsRoot: root,
    ...(options.alsoRead ? { alsoRead: options.alsoRead } : {}),
  });
  // Deno's --allow-* lists are comma-separated with no escape: such a path
  // would be cut in two and the binary refused its own files.
  const unlistable = [...new Set([...scope.read, ...scope.write])].filter((p) => p.includes(","));
  if (unlistable.length > 0) {
    return {
      ok: false,
      errors: unlistable.map((path) =>
        `${file}: ${path}: a path with a comma cannot be given to --allow-read or --allow-write ` +
        "(Deno splits their lists at commas); rename it, or build without --config"
      ),
    };
  }
  return {
    ok: true,
    flags: [...permissionFlags(scope), ...withoutPermissions(start)],
  };
}

async function main(args: string[]): Promise<number> {
  const parsed = taskArgs("compile", args, {
    usage: USAGE,
    options: {
      config: { type: "string", short: "c" },
      "credentials-root": { type: "string" },
      "expand-env": { type: "boolean" },
      target: { type: "string" },
      output: { type: "string", short: "o" },
      "print-flags": { type: "boolean" },
      bundle: { type: "string" },
      "dry-run": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if ("exit" in parsed) return parsed.exit;
  const { values } = parsed;
  const target = values.target;
  if (target !== undefined && target !== "all" && !(target in TARGETS)) {
    console.error(
      `compile: --target: expected all or one of ${
        Object.keys(TARGETS).join(", ")
      }, got "${target}"`,
    );
    return 2;
  }
  if (target === "all" && values.output !== undefined) {
    console.error(
      "compile: --output names one binary; --target all writes dist/client-proxy-<os>-<arch>",
    );
    return 2;
  }
  if (values["expand-env"] && values.config === undefined) {
    console.error("compile: --expand-env goes with --config");
    return 2;
  }
  if (values.bundle !== undefined && !values["print-flags"]) {
    console.error("compile: --bundle goes with --print-flags");
    return 2;
  }
  const root = new URL("../", import.meta.url);
  // `deno task` runs in the repository; paths on its command line are the user's.
  const here = (path: string) => resolve(Deno.env.get("INIT_CWD") ?? Deno.cwd(), path);
  const start = readStartFlags();
  let flags = start;
  if (values.config !== undefined) {
    const file = here(values.config);
    let text;
    try {
      text = Deno.readTextFileSync(file);
    } catch (error) {
      console.error(`${file}: cannot read: ${error instanceof Error ? error.message : error}`);
      return 1;
    }
    const scoped = scopedFlags(start, file, {
      text,
      ...(values["credentials-root"] ? { credentialsRoot: here(values["credentials-root"]) } : {}),
      ...(values.bundle ? { alsoRead: [here(values.bundle)] } : {}),
      ...(values["expand-env"] ? { expandEnv: (name: string) => Deno.env.get(name) } : {}),
    });
    if (!scoped.ok) {
      for (const error of scoped.errors) console.error(error);
      return 1;
    }
    flags = scoped.flags;
  }
  if (values["print-flags"]) {
    // Outside this repo no deno.json turns the Worker's permissions option on.
    for (const flag of [...flags, "--unstable-worker-options"]) console.log(flag);
    return 0;
  }
  const commands = compileCommands(new URL("main.ts", root).pathname, {
    runFlags: flags,
    targets: target === undefined ? [] : target === "all" ? Object.keys(TARGETS) : [target],
    ...(values.output === undefined ? {} : { output: here(values.output) }),
  });
  for (const command of commands) {
    console.log(["deno", ...command].join(" "));
    if (values["dry-run"]) continue;
    const { code } = await new Deno.Command(Deno.execPath(), { args: command, cwd: root }).spawn()
      .status;
    if (code !== 0) {
      console.error(
        `compile: deno compile failed (exit ${code}); it downloads Deno's runtime from dl.deno.land: ` +
          "where that host is unreachable, use `deno task bundle` (docs/production.md)",
      );
      return 1;
    }
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

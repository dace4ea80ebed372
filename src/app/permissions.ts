/**
 * What a config needs from Deno's permission system, as one value: the
 * set that `deno task compile --config FILE` bakes into a binary scoped to
 * that config (deploy/compile.ts). The worker is narrowed further at run
 * time (src/app/supervisor.ts), to the same hosts. Pure: paths are compared,
 * never read; they are as absolute as the config's path was.
 */
import { dirname, isAbsolute, relative } from "node:path";
import { ENV_NAMES } from "../config/env.ts";
import { CREDENTIALS_ENV } from "../config/secrets.ts";
import type { Config } from "../config/types.ts";
import { YAML_ENV_NAMES } from "../config/yaml.ts";
import { JOURNAL_STREAM } from "../ops/startup_log.ts";
import { netPermissions } from "./supervisor.ts";
import { TRUST_STORE_ENV } from "./trust_store.ts";

/** Everything the process may touch; each list is what one `--allow-*` flag says. */
export interface PermissionScope {
  /** `host:port` of every proxy's server and of the HTTP listener. */
  readonly net: readonly string[];
  /** Paths (directories cover what is below them). */
  readonly read: readonly string[];
  readonly write: readonly string[];
  /** Environment variable names. */
  readonly env: readonly string[];
}

/** Options of {@link permissionScope}. */
export interface ScopeOptions {
  /**
   * Where systemd keeps credentials: each unit's $CREDENTIALS_DIRECTORY is
   * below it. Default `/run/credentials`; added to `read` only when a
   * proxy uses `secret_credential`.
   */
  readonly credentialsRoot?: string;
  /**
   * More files to read: the single-file build the process runs from, since
   * Deno checks read access when a Worker loads its module. Default none
   * (a compiled binary carries its modules inside).
   */
  readonly alsoRead?: readonly string[];
}

/** The systemd default for {@link ScopeOptions.credentialsRoot}. */
export const CREDENTIALS_ROOT = "/run/credentials";

/**
 * Everything a process running `config` needs, and nothing more: network
 * access to the configured addresses; read access to the config's
 * directory (the config and secret files next to it, for reloads), every
 * other secret file and `tls_ca` file, the credentials root when a proxy uses
 * `secret_credential`, and `state_dir`; write access to `state_dir`; the
 * environment variables the program and the config read (and, for a TLS
 * link, the one that chooses Deno's trust store: src/app/trust_store.ts).
 */
export function permissionScope(config: Config, options: ScopeOptions = {}): PermissionScope {
  const credentials = config.envNames.includes(CREDENTIALS_ENV)
    ? [options.credentialsRoot ?? CREDENTIALS_ROOT]
    : [];
  const state = config.stateDir === undefined ? [] : [config.stateDir];
  return Object.freeze({
    net: Object.freeze(netPermissions(config)),
    // A credential file's path is below the root, so the root stands for it.
    read: Object.freeze(covering([
      dirname(config.file),
      ...credentials,
      ...config.readPaths,
      ...state,
      ...(options.alsoRead ?? []),
    ])),
    write: Object.freeze(state),
    env: Object.freeze([
      ...new Set([
        ...Object.values(ENV_NAMES),
        JOURNAL_STREAM,
        ...YAML_ENV_NAMES,
        ...config.envNames,
        ...(config.proxies.some((proxy) => proxy.tls) ? [TRUST_STORE_ENV] : []),
      ]),
    ]),
  });
}

/**
 * The scope as `deno run` / `deno compile` flags. An empty list becomes no
 * flag at all (nothing granted), never `--allow-x=` (which Deno reads as
 * everything).
 */
export function permissionFlags(scope: PermissionScope): string[] {
  const flags: string[] = [];
  for (const name of ["net", "read", "write", "env"] as const) {
    if (scope[name].length > 0) flags.push(`--allow-${name}=${scope[name].join(",")}`);
  }
  return flags;
}

/** The paths, without those a directory in the list already covers, in order. */
function covering(paths: readonly string[]): string[] {
  const unique = [...new Set(paths)];
  return unique.filter((path) => !unique.some((other) => other !== path && within(path, other)));
}

/** Whether `path` is `dir` or below it. */
function within(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

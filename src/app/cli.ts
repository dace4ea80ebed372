/**
 * The command line, parsed into a typed value or a usage error. Pure:
 * nothing is printed here, and the flags' values are checked together with
 * the environment by src/config/env.ts.
 */
import { parseArgs } from "node:util";
import { formatDuration, parseDuration } from "../config/duration.ts";
import { DEFAULT_CONFIG_PATH, ENV_NAMES, type SettingFlags } from "../config/env.ts";
import { LOG_FORMATS, LOG_LEVELS } from "../config/log_options.ts";

/**
 * Exit codes (sysexits.h where one fits), documented in docs/operating.md.
 * The live check's (10 to 14) follow its steps in order; they sit below
 * sysexits' range (64 to 78, of which 78 is ours) and far from the shell's
 * 126 and up, so no code means two things.
 */
export const EXIT = Object.freeze({
  ok: 0,
  failure: 1,
  usage: 2,
  config: 78,
  /** `--check --live`: cannot connect to a server. */
  unreachable: 10,
  /** `--check --live`: the server refused the handshake (secret or domain). */
  refused: 11,
  /** `--check --live`: the target's subscription was not approved. */
  unapproved: 12,
  /** `--check --live`: no target resource online. */
  noResource: 13,
  /** `--check --live`: disco#info got no result. */
  unanswered: 14,
});

/** How long each wait of the live check lasts at most, by default. */
export const DEFAULT_LIVE_TIMEOUT_MS = 10_000;

/** What `--live` (with `--check`) asks for. */
export interface LiveOptions {
  /** `--timeout`: each wait's bound. */
  readonly timeoutMs: number;
  /** `--json`: one JSON document instead of lines. */
  readonly json: boolean;
}

/** What the command line asks for. */
export type Command =
  | { readonly kind: "help" }
  | { readonly kind: "version" }
  | { readonly kind: "example_config" }
  | { readonly kind: "config_schema" }
  | {
    readonly kind: "run";
    readonly flags: SettingFlags;
    readonly check: boolean;
    /** Where `secret_credential` files are, instead of $CREDENTIALS_DIRECTORY. */
    readonly credentialsDir: string | undefined;
    /** `--expand-env`: `${NAME}` in the config's values, from the environment. */
    readonly expandEnv: boolean;
    /** `--check --live`: also connect and check each proxy end to end. */
    readonly live?: LiveOptions;
  }
  | {
    readonly kind: "usage_error";
    readonly message: string;
    /** `--log-format`'s value, when the arguments hold one: how to say the error. */
    readonly logFormat?: string;
  };

/** The text `--help` prints. */
export const USAGE = `Usage: client-proxy [options]
       client-proxy --check --live [--timeout DURATION] [--json] [-c FILE]

Forwards IQ requests sent to an XMPP component domain to the online
resources of an ordinary client account (XEP-0114 component).

Options:
  -c, --config FILE       config file (default: $${ENV_NAMES.config}, else ${DEFAULT_CONFIG_PATH})
      --check             validate the config, print every problem, exit 0 or 1
                          (2 for a bad flag); \`client-proxy check\` is the same
      --live              with --check: connect each proxy to its server and check
                          it end to end (see "Live check" below)
      --timeout DURATION  with --live: how long each wait lasts at most
                          (default ${formatDuration(DEFAULT_LIVE_TIMEOUT_MS)})
      --json              with --live: print the facts as one JSON document
      --credentials-dir DIR
                          read secret_credential files from DIR instead of
                          $CREDENTIALS_DIRECTORY (a --check outside the unit)
      --expand-env        put environment variables into the config's values, written
                          \${NAME} or \${NAME:-default} (\$\$ for a \$), at every (re)load
      --log-level LEVEL   ${LOG_LEVELS.join(", ")}
                          (default: $${ENV_NAMES.logLevel}, else the config's log_level, else info)
      --log-format FORMAT ${LOG_FORMATS.join(", ")}
                          (default: $${ENV_NAMES.logFormat}, else the config's log_format, else text)
      --example-config    print a commented sample config with every key, and exit
      --config-schema     print the config's JSON schema (for editors), and exit
  -h, --help              show this help
  -V, --version           print the version

Signals: SIGTERM/SIGINT stop after a grace period (a second one ends it),
SIGHUP reloads the config.
Exit codes: 0 stopped, 1 runtime failure, 2 usage error, 78 config error.

Live check: client-proxy --check --live --config FILE (the spelling the docs
use; \`client-proxy check --live\` is accepted too). For each proxy, in order:
connect with its secret, ask the target's presence subscription, list the
target's online resources, send one disco#info to one of them through the
proxy's addressing, and leave. An instance already serving is not disturbed:
on Prosody the check is refused with conflict ("an instance is serving") and
asks the instance's http: listener, if any; on ejabberd it works beside it and
passes on whatever reaches it for the instance. One line per fact.
Exit codes of --check --live, for the first thing that failed:
  ${EXIT.ok}   all good
  ${EXIT.failure}   the config has problems, or the check could not be made
  ${EXIT.usage}   usage error
  ${EXIT.unreachable}  cannot connect to the server
  ${EXIT.refused}  handshake refused (the secret, or a domain the server does not know)
  ${EXIT.unapproved}  the target's subscription not approved
  ${EXIT.noResource}  no target resource online
  ${EXIT.unanswered}  disco#info not answered with a result
`;

/** Parses arguments. */
export function parseCommand(args: readonly string[]): Command {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: true,
      options: {
        config: { type: "string", short: "c" },
        check: { type: "boolean" },
        live: { type: "boolean" },
        timeout: { type: "string" },
        json: { type: "boolean" },
        "credentials-dir": { type: "string" },
        "expand-env": { type: "boolean" },
        "log-level": { type: "string" },
        "log-format": { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
        "example-config": { type: "boolean" },
        "config-schema": { type: "boolean" },
      },
    }));
  } catch (error) {
    return usageError(parseArgsProblem(error), args);
  }
  // One word may come first: `check`, the same as --check.
  const [word, ...stray] = positionals;
  const unexpected = word === "check" ? stray[0] : word;
  if (unexpected !== undefined) {
    return usageError(`unexpected argument "${unexpected}": every option starts with --`, args);
  }
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };
  if (values["example-config"]) return { kind: "example_config" };
  if (values["config-schema"]) return { kind: "config_schema" };
  const check = (values.check ?? false) || word === "check";
  const live = liveOptions(values, check);
  if (typeof live === "string") return usageError(live, args);
  return {
    kind: "run",
    check,
    credentialsDir: values["credentials-dir"],
    expandEnv: values["expand-env"] ?? false,
    flags: {
      config: values.config,
      logLevel: values["log-level"],
      logFormat: values["log-format"],
    },
    ...(live ? { live } : {}),
  };
}

/** A usage error, with the `--log-format` the arguments ask for, if any. */
function usageError(message: string, args: readonly string[]): Command {
  const logFormat = logFormatIn(args);
  return { kind: "usage_error", message, ...(logFormat === undefined ? {} : { logFormat }) };
}

/** The value of the last `--log-format VALUE` or `--log-format=VALUE` in `args`. */
function logFormatIn(args: readonly string[]): string | undefined {
  let found: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--") break;
    if (args[i] === "--log-format" && i + 1 < args.length) found = args[++i];
    else if (args[i].startsWith("--log-format=")) found = args[i].slice("--log-format=".length);
  }
  return found;
}

/** parseArgs' error, said in a line (its own advice about positionals does not apply here). */
function parseArgsProblem(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  // The long name when the message gives both (`'-c, --config <value>'`).
  const option = message.match(/--[a-z][\w-]*/)?.[0] ?? message.match(/'(-[^-' ][^' ]*)'/)?.[1];
  if (option === undefined) return message;
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${option}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return message.includes("argument missing")
        ? `${option} needs a value`
        : `${option} takes no value`;
    default:
      return message;
  }
}

/** `--live` and its flags, checked; a usage error as text; undefined without `--live`. */
function liveOptions(
  values: { live?: boolean; timeout?: string; json?: boolean },
  check: boolean,
): LiveOptions | string | undefined {
  if (!values.live) {
    const stray = values.timeout !== undefined ? "--timeout" : values.json ? "--json" : undefined;
    return stray && `${stray} goes with --check --live`;
  }
  if (!check) return "--live goes with --check: client-proxy --check --live --config FILE";
  let timeoutMs = DEFAULT_LIVE_TIMEOUT_MS;
  if (values.timeout !== undefined) {
    const parsed = parseDuration(values.timeout);
    if (parsed === undefined || parsed === 0) {
      return `--timeout: expected a duration above zero like 10s or 500ms, got "${values.timeout}"`;
    }
    timeoutMs = parsed;
  }
  return { timeoutMs, json: values.json ?? false };
}

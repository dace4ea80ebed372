/**
 * The command line, parsed into a typed value or a usage error. Pure: the
 * environment comes in as a function, nothing is printed here.
 */
import { parseArgs } from "node:util";
import { LOG_LEVELS, type LogLevel } from "./log.ts";

/** Exit codes (sysexits.h where one fits), documented in the README. */
export const EXIT = Object.freeze({ ok: 0, failure: 1, usage: 2, config: 78 });

/** What the command line asks for. */
export type Command =
  | { readonly kind: "help" }
  | { readonly kind: "version" }
  | {
    readonly kind: "run";
    readonly config: string;
    readonly check: boolean;
    readonly logLevel?: LogLevel;
  }
  | { readonly kind: "usage_error"; readonly message: string };

/** The default config file, when neither `--config` nor CLIENT_PROXY_CONFIG says. */
export const DEFAULT_CONFIG = "client-proxy.yaml";

/** The text `--help` prints. */
export const USAGE = `Usage: client-proxy [options]

Forwards IQ requests sent to an XMPP component domain to the online
resources of an ordinary client account (XEP-0114 component).

Options:
  -c, --config FILE      config file (default: $CLIENT_PROXY_CONFIG, else ${DEFAULT_CONFIG})
      --check            validate the config, print every problem, exit 0 or 1
      --log-level LEVEL  ${LOG_LEVELS.join(", ")} (default: the config's log_level, else info)
  -h, --help             show this help
  -V, --version          print the version

Exit codes: 0 stopped, 1 runtime failure, 2 usage error, 78 config error.
`;

/** Parses arguments; `getEnv` supplies CLIENT_PROXY_CONFIG. */
export function parseCommand(
  args: readonly string[],
  getEnv: (name: string) => string | undefined = () => undefined,
): Command {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: "string", short: "c" },
        check: { type: "boolean" },
        "log-level": { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
      },
    }));
  } catch (error) {
    return {
      kind: "usage_error",
      message: error instanceof Error ? error.message : String(error),
    };
  }
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };
  const level = values["log-level"];
  if (
    level !== undefined && !(LOG_LEVELS as readonly string[]).includes(level)
  ) {
    return {
      kind: "usage_error",
      message: `--log-level: expected one of ${LOG_LEVELS.join(", ")}, got "${level}"`,
    };
  }
  return {
    kind: "run",
    config: values.config ?? getEnv("CLIENT_PROXY_CONFIG") ?? DEFAULT_CONFIG,
    check: values.check ?? false,
    logLevel: level as LogLevel | undefined,
  };
}

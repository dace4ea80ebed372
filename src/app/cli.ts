/**
 * The command line, parsed into a typed value or a usage error. Pure:
 * nothing is printed here, and the flags' values are checked together with
 * the environment by src/config/env.ts.
 */
import { parseArgs } from "node:util";
import { DEFAULT_CONFIG_PATH, ENV_NAMES, type SettingFlags } from "../config/env.ts";
import { LOG_FORMATS, LOG_LEVELS } from "../config/log_options.ts";

/** Exit codes (sysexits.h where one fits), documented in docs/operating.md. */
export const EXIT = Object.freeze({ ok: 0, failure: 1, usage: 2, config: 78 });

/** What the command line asks for. */
export type Command =
  | { readonly kind: "help" }
  | { readonly kind: "version" }
  | { readonly kind: "example_config" }
  | {
    readonly kind: "run";
    readonly flags: SettingFlags;
    readonly check: boolean;
    /** Where `secret_credential` files are, instead of $CREDENTIALS_DIRECTORY. */
    readonly credentialsDir: string | undefined;
  }
  | { readonly kind: "usage_error"; readonly message: string };

/** The text `--help` prints. */
export const USAGE = `Usage: client-proxy [options]

Forwards IQ requests sent to an XMPP component domain to the online
resources of an ordinary client account (XEP-0114 component).

Options:
  -c, --config FILE       config file (default: $${ENV_NAMES.config}, else ${DEFAULT_CONFIG_PATH})
      --check             validate the config, print every problem, exit 0 or 1
                          (2 for a bad flag)
      --credentials-dir DIR
                          read secret_credential files from DIR instead of
                          $CREDENTIALS_DIRECTORY (a --check outside the unit)
      --log-level LEVEL   ${LOG_LEVELS.join(", ")}
                          (default: $${ENV_NAMES.logLevel}, else the config's log_level, else info)
      --log-format FORMAT ${LOG_FORMATS.join(", ")}
                          (default: $${ENV_NAMES.logFormat}, else the config's log_format, else text)
      --example-config    print a commented sample config with every key, and exit
  -h, --help              show this help
  -V, --version           print the version

Signals: SIGTERM/SIGINT stop after a grace period (a second one ends it),
SIGHUP reloads the config.
Exit codes: 0 stopped, 1 runtime failure, 2 usage error, 78 config error.
`;

/** Parses arguments. */
export function parseCommand(args: readonly string[]): Command {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: "string", short: "c" },
        check: { type: "boolean" },
        "credentials-dir": { type: "string" },
        "log-level": { type: "string" },
        "log-format": { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
        "example-config": { type: "boolean" },
      },
    }));
  } catch (error) {
    return { kind: "usage_error", message: error instanceof Error ? error.message : String(error) };
  }
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };
  if (values["example-config"]) return { kind: "example_config" };
  return {
    kind: "run",
    check: values.check ?? false,
    credentialsDir: values["credentials-dir"],
    flags: {
      config: values.config,
      logLevel: values["log-level"],
      logFormat: values["log-format"],
    },
  };
}

/**
 * Settings that may come from three places, resolved in one pure step with
 * a fixed precedence, flags > environment > config file > default:
 *
 * | setting     | flag           | environment               | file         | default             |
 * | ----------- | -------------- | ------------------------- | ------------ | ------------------- |
 * | config path | `--config`     | `CLIENT_PROXY_CONFIG`     | –            | `client-proxy.yaml` |
 * | log level   | `--log-level`  | `CLIENT_PROXY_LOG_LEVEL`  | `log_level`  | `info`              |
 * | log format  | `--log-format` | `CLIENT_PROXY_LOG_FORMAT` | `log_format` | `text`              |
 *
 * Each resolved value says where it came from, for the startup log line.
 * An empty environment variable counts as unset (systemd's `Environment=X=`
 * and shells' `X= cmd` mean "no value"). Every given flag and variable is
 * checked, even one a higher source overrides, so that a typo in a unit
 * file does not wait for the day the flag is dropped.
 */
import {
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type LogLevel,
  readOption,
} from "./log_options.ts";
import { quoted } from "./problems.ts";

/** The environment variables read here. */
export const ENV_NAMES = Object.freeze(
  {
    config: "CLIENT_PROXY_CONFIG",
    logLevel: "CLIENT_PROXY_LOG_LEVEL",
    logFormat: "CLIENT_PROXY_LOG_FORMAT",
  } as const,
);

/** The config file used when neither `--config` nor CLIENT_PROXY_CONFIG says. */
export const DEFAULT_CONFIG_PATH = "client-proxy.yaml";
const DEFAULT_LOG_LEVEL: LogLevel = "info";
const DEFAULT_LOG_FORMAT: LogFormat = "text";

/** Where a setting's value came from. */
export type SettingSource = "flag" | "env" | "file" | "default";

/** A resolved value and its origin. */
export interface Setting<T> {
  readonly value: T;
  readonly source: SettingSource;
  /**
   * The origin by name: `--log-level`, `CLIENT_PROXY_LOG_LEVEL`,
   * `log_level` (in the config file) or `default`.
   */
  readonly from: string;
}

/** The resolved settings. */
export interface Settings {
  readonly configPath: Setting<string>;
  readonly logLevel: Setting<LogLevel>;
  readonly logFormat: Setting<LogFormat>;
}

/** Flag values as the command line gave them, unchecked. */
export interface SettingFlags {
  /** `--config`. */
  readonly config?: string;
  /** `--log-level`. */
  readonly logLevel?: string;
  /** `--log-format`. */
  readonly logFormat?: string;
}

/** What {@link resolveSettings} resolves from. */
export interface SettingsInput {
  readonly flags: SettingFlags;
  /**
   * Reads an environment variable (`(name) => Deno.env.get(name)`). A throw
   * (no env permission) is reported as an error for that variable.
   */
  readonly env: (name: string) => string | undefined;
  /**
   * The config file's `log_level` / `log_format` when the file sets them.
   * Resolve once without them to find the config path, then again with
   * them once the file is loaded.
   */
  readonly fileLogLevel?: LogLevel;
  readonly fileLogFormat?: LogFormat;
}

/**
 * The settings, or every problem found (never a throw) with the settings
 * the valid values give (a bad one is skipped, as if unset), so that
 * `--check` can still find and check the config.
 */
export type SettingsResult =
  | { readonly ok: true; readonly settings: Settings }
  | { readonly ok: false; readonly errors: readonly string[]; readonly settings: Settings };

/**
 * Resolves the config path, log level and log format; pure.
 *
 * @returns the settings with their origins, or errors such as
 *   `CLIENT_PROXY_LOG_LEVEL: expected one of trace, debug, info, warning,
 *   error, fatal, got "loud"`
 */
export function resolveSettings(input: SettingsInput): SettingsResult {
  const errors: string[] = [];
  const read = (name: string): string | undefined => {
    try {
      const value = input.env(name);
      return value === "" ? undefined : value;
    } catch (error) {
      errors.push(`${name}: cannot read: ${explain(error)}`);
      return undefined;
    }
  };
  const { flags } = input;

  const configPath = first<string>([
    candidate("flag", "--config", checkPath(flags.config, "--config", errors)),
    candidate("env", ENV_NAMES.config, read(ENV_NAMES.config)),
    candidate("default", "default", DEFAULT_CONFIG_PATH),
  ]);
  /** flag, then environment, then the file, then the default: each one of `allowed`. */
  const oneOf = <T extends string>(
    allowed: readonly T[],
    flag: [string, string | undefined],
    envName: string,
    file: [string, T | undefined],
    fallback: T,
  ): Setting<T> =>
    first<T>([
      candidate("flag", flag[0], checkOne(flag[1], flag[0], allowed, errors)),
      candidate("env", envName, checkOne(read(envName), envName, allowed, errors)),
      candidate("file", file[0], file[1]),
      candidate("default", "default", fallback),
    ]);
  const logLevel = oneOf(
    LOG_LEVELS,
    ["--log-level", flags.logLevel],
    ENV_NAMES.logLevel,
    ["log_level", input.fileLogLevel],
    DEFAULT_LOG_LEVEL,
  );
  const logFormat = oneOf(
    LOG_FORMATS,
    ["--log-format", flags.logFormat],
    ENV_NAMES.logFormat,
    ["log_format", input.fileLogFormat],
    DEFAULT_LOG_FORMAT,
  );
  const settings = { configPath, logLevel, logFormat };
  return errors.length > 0 ? { ok: false, errors, settings } : { ok: true, settings };
}

/**
 * The settings as log properties, for one startup line:
 * `{ config: "client-proxy.yaml", config_from: "default", log_level: "debug",
 * log_level_from: "--log-level", log_format: "json", log_format_from: "log_format" }`.
 */
export function settingsFields(settings: Settings): Record<string, string> {
  return {
    config: settings.configPath.value,
    config_from: settings.configPath.from,
    log_level: settings.logLevel.value,
    log_level_from: settings.logLevel.from,
    log_format: settings.logFormat.value,
    log_format_from: settings.logFormat.from,
  };
}

type Candidate<T> = Setting<T> | undefined;

function candidate<T>(source: SettingSource, from: string, value: T | undefined): Candidate<T> {
  return value === undefined ? undefined : { value, source, from };
}

/** The first candidate present; the list always ends with a default. */
function first<T>(candidates: Candidate<T>[]): Setting<T> {
  return candidates.find((c) => c !== undefined) as Setting<T>;
}

/** A value that must be one of `allowed`; a wrong one is an error, then ignored. */
function checkOne<T extends string>(
  value: string | undefined,
  name: string,
  allowed: readonly T[],
  errors: string[],
): T | undefined {
  if (value === undefined) return undefined;
  const option = readOption(allowed, value);
  if (option !== undefined) return option;
  errors.push(`${name}: expected one of ${allowed.join(", ")}, got ${quoted(value)}`);
  return undefined;
}

/** A flag's file path: given empty, it is a mistake rather than "unset". */
function checkPath(value: string | undefined, name: string, errors: string[]): string | undefined {
  if (value === "") {
    errors.push(`${name}: expected a file path, got an empty string`);
    return undefined;
  }
  return value;
}

function explain(error: unknown): string {
  if (error instanceof Deno.errors.NotCapable) {
    return "not allowed by Deno's permissions (--allow-env)";
  }
  return error instanceof Error ? error.message : String(error);
}

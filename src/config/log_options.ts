/**
 * The values `log_level` and `log_format` may take, in the config file,
 * on the command line and in the environment. Kept apart from the logger
 * (src/ops/log.ts) so that reading a config never loads logtape.
 */

/** The log levels, least severe first (logtape's, which src/ops/log.ts checks). */
export const LOG_LEVELS = Object.freeze(
  ["trace", "debug", "info", "warning", "error", "fatal"] as const,
);

/** A log level: records below it are not written. */
export type LogLevel = typeof LOG_LEVELS[number];

/** The values of `log_format`. */
export const LOG_FORMATS = Object.freeze(["text", "json"] as const);

/** How log lines are written. */
export type LogFormat = typeof LOG_FORMATS[number];

/** Other names operators write for a level (logtape's own word is `warning`). */
const ALIASES: Readonly<Record<string, string>> = { warn: "warning" };

/**
 * `value` as one of `allowed`, in any case (`INFO`, as many daemons take
 * it), or by an alias (`warn`); undefined when it is none of them.
 */
export function readOption<T extends string>(allowed: readonly T[], value: string): T | undefined {
  const lower = value.toLowerCase();
  const name = ALIASES[lower] ?? lower;
  return allowed.find((option) => option === name);
}

/**
 * A regular expression (JSON Schema's dialect: no flags) for what
 * {@link readOption} takes: each of `allowed` or an alias, in any case.
 */
export function optionPattern(allowed: readonly string[]): string {
  const names = [
    ...allowed,
    ...Object.keys(ALIASES).filter((alias) => allowed.includes(ALIASES[alias])),
  ];
  const anyCase = (name: string) =>
    [...name].map((c) => c === c.toUpperCase() ? c : `[${c}${c.toUpperCase()}]`).join("");
  return `^(?:${names.map(anyCase).join("|")})$`;
}

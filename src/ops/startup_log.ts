/**
 * What the program says on stderr outside the logger: a bad flag, a config
 * that cannot be read, `--check`'s problems, a fatal error. Text stays as a
 * person reads it (`file:line:col: key: problem`); under journald each line
 * carries its syslog priority as the logger's lines do (src/ops/log.ts), and
 * with the JSON format each message is one object shaped like a record.
 * Loads nothing, so that it can report even a failed import.
 */
import type { LogFormat, LogLevel } from "../config/log_options.ts";

/** What systemd sets when stderr goes to the journal (systemd.exec(5)). */
export const JOURNAL_STREAM = "JOURNAL_STREAM";

/** syslog priorities (RFC 5424 §6.2.1) of the log levels. */
export const PRIORITY: Readonly<Record<LogLevel, number>> = {
  trace: 7,
  debug: 7,
  info: 6,
  warning: 4,
  error: 3,
  fatal: 2,
};

/**
 * Whether stderr goes to journald. Empty counts as unset, as for the
 * program's own variables; an unreadable environment as not journald.
 */
export function underJournald(env: (name: string) => string | undefined): boolean {
  try {
    return (env(JOURNAL_STREAM) ?? "") !== "";
  } catch {
    return false;
  }
}

/** How {@link startupLines} writes. */
export interface StartupLogOptions {
  /** Default: "text". */
  readonly format?: LogFormat;
  /** Each line starts with `<N>`, its priority (sd-daemon(3)). Default: false. */
  readonly journal?: boolean;
}

/**
 * One message as written: in text, its lines as they are, each with the
 * priority under journald (journald makes each line an entry); in JSON,
 * one object with `time`, `level`, `logger` (`main`), `event` and `message`.
 */
export function startupLines(
  level: LogLevel,
  event: string,
  message: string,
  options: StartupLogOptions = {},
  now: Date = new Date(),
): string {
  const lines = options.format === "json"
    ? [JSON.stringify({ time: now.toISOString(), level, logger: "main", event, message })]
    : message.split("\n");
  const prefix = options.journal ? `<${PRIORITY[level]}>` : "";
  return lines.map((line) => `${prefix}${line}\n`).join("");
}

/** Writes {@link startupLines} to stderr, at once. */
export function sayOnStderr(
  level: LogLevel,
  event: string,
  message: string,
  options: StartupLogOptions = {},
): void {
  let bytes = new TextEncoder().encode(startupLines(level, event, message, options));
  while (bytes.length > 0) bytes = bytes.subarray(Deno.stderr.writeSync(bytes));
}

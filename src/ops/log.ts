/**
 * Logging: one line per event on stderr, through `@logtape/logtape`. The
 * message of every record is a stable event name (`stream.online`), the
 * details are properties; the text format prints them as `key=value`.
 */
import { configureSync, getLogger, type Logger, type LogRecord, resetSync } from "@logtape/logtape";
// logtape takes these levels as they are, so the type checker holds them to its own.
import { LOG_LEVELS, type LogFormat, type LogLevel } from "../config/log_options.ts";
import { PRIORITY } from "./startup_log.ts";

export type { Logger };

const ROOT = "client-proxy";
const encoder = new TextEncoder();
let threshold = 2;

/** Options of {@link setupLogging}. */
export interface LogOptions {
  /** Line format. Default: "text". */
  readonly format?: LogFormat;
  /** Where lines go. Default: written synchronously to stderr. */
  readonly write?: (line: string) => void;
  /**
   * Under journald: each line starts with its syslog priority, `<3>` for an
   * error (sd-daemon(3)), so `journalctl -p err` finds it. Default: false.
   */
  readonly journal?: boolean;
}

/** (Re)configures logging at the given level. Safe to call again on reload. */
export function setupLogging(level: LogLevel, options: LogOptions = {}): void {
  const line = options.format === "json" ? jsonLine : textLine;
  // journald reads the prefix as the line's priority and strips it.
  const format = options.journal
    ? (record: LogRecord) => `<${PRIORITY[record.level]}>${line(record)}`
    : line;
  const write = options.write ??
    ((line: string) => Deno.stderr.writeSync(encoder.encode(line)));
  threshold = LOG_LEVELS.indexOf(level);
  resetSync();
  configureSync({
    sinks: { main: (record: LogRecord) => write(format(record)) },
    loggers: [
      { category: [ROOT], lowestLevel: level, sinks: ["main"] },
      // logtape reports its own problems here; keep them, quietly.
      {
        category: ["logtape", "meta"],
        lowestLevel: "warning",
        sinks: ["main"],
      },
    ],
  });
}

/** The logger of one part of the program (a proxy's domain, "main"). */
export function logger(name: string): Logger {
  return getLogger([ROOT, name]);
}

/** Whether records at this level are written: guards work done only to log. */
export function logs(level: LogLevel): boolean {
  return LOG_LEVELS.indexOf(level) >= threshold;
}

function render(record: LogRecord): string {
  return record.message.map(String).join("");
}

/** What JSON can carry of a property: an Error's message, a bigint as text. */
function plain(value: unknown): unknown {
  if (value instanceof Error) return value.message;
  return typeof value === "bigint" ? String(value) : value;
}

// Values come from the wire too (ids, addresses): control characters (C0,
// DEL, C1) would reach the operator's terminal raw, and so would the line
// and paragraph separators and the bidi controls (Unicode UAX #9: ALM, LRM,
// RLM, LRE…RLO, LRI…PDI), which make a line display other than it reads.
// All are escaped.
const UNESCAPED_BY_JSON = /[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// deno-lint-ignore no-control-regex
const NEEDS_QUOTES = /[\s"=\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/** JSON text with what JSON.stringify leaves raw escaped too (still JSON, read back the same). */
function escaped(json: string): string {
  return json.replace(
    UNESCAPED_BY_JSON,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function quoted(text: string): string {
  return escaped(JSON.stringify(text));
}

function textLine(record: LogRecord): string {
  const time = new Date(record.timestamp).toISOString();
  let line = `${time} ${record.level.toUpperCase().padEnd(7)} ${
    record.category.slice(1).join(".")
  } ${render(record)}`;
  for (const [key, raw] of Object.entries(record.properties)) {
    const value = plain(raw);
    if (value === undefined) continue;
    const text = typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
    line += ` ${key}=${NEEDS_QUOTES.test(text) || text === "" ? quoted(text) : text}`;
  }
  return line + "\n";
}

/** The fields every JSON line starts with; a property cannot overwrite them. */
const JSON_FIELDS = new Set(["time", "level", "logger", "event"]);

function jsonLine(record: LogRecord): string {
  const line: Record<string, unknown> = {
    time: new Date(record.timestamp).toISOString(),
    level: record.level,
    logger: record.category.slice(1).join("."),
    event: render(record),
  };
  for (const [key, value] of Object.entries(record.properties)) {
    if (!JSON_FIELDS.has(key)) line[key] = plain(value);
  }
  return escaped(JSON.stringify(line)) + "\n";
}

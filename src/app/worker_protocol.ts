/**
 * What the main thread and the worker say to each other, and what the
 * worker does with each message. A reload is a question with an answer:
 * the worker says whether it applied the config, so that the main thread
 * knows which one is in force.
 */
import type { LogFormat, LogLevel } from "../config/log_options.ts";
import type { Config } from "../config/types.ts";

/** How the worker logs: resolved from flags, environment and config. */
export interface Logging {
  readonly level: LogLevel;
  readonly format: LogFormat;
  /** Under journald (JOURNAL_STREAM set): lines carry a `<N>` priority prefix. */
  readonly journal?: boolean;
  /** Where each setting came from, for the start-up line. */
  readonly fields: Readonly<Record<string, string>>;
}

/** What the main thread tells the worker. */
export type ToWorker =
  | {
    readonly type: "start";
    readonly config: Config;
    readonly logging: Logging;
    /** When the process started (ms since the epoch, the main thread's time origin). */
    readonly startedAt: number;
  }
  /** A new config to apply; answered with `reloaded` and the same `serial`. */
  | {
    readonly type: "reload";
    readonly serial: number;
    readonly config: Config;
    readonly logging: Logging;
  }
  /** A SIGHUP whose config the main thread refused: counted, nothing else. */
  | { readonly type: "reload_refused" }
  | { readonly type: "stop"; readonly signal: string }
  /** A later stop signal: the shutdown grace ends now. */
  | { readonly type: "hurry"; readonly signal: string };

/** What the worker tells the main thread. */
export type FromWorker =
  | { readonly type: "ready" }
  /** Whether the config of reload `serial` is now the one in force. */
  | { readonly type: "reloaded"; readonly serial: number; readonly applied: boolean }
  | { readonly type: "stopped"; readonly code: number };

/** What the worker does with each message from the main thread. */
export interface WorkerHandlers {
  start(config: Config, logging: Logging, startedAt: number): Promise<void>;
  /**
   * Applies a new config. Rejects only when nothing changed (the old
   * config stays in force), with the reason; once the new config is in
   * force it resolves, whatever happens after.
   */
  reload(config: Config, logging: Logging): Promise<void>;
  /** A reload refused before it reached the worker. */
  reloadRefused(): void;
  stop(signal: string): Promise<number>;
  /** Ends the shutdown grace now, or makes it zero if the stop has not begun. */
  hurry(signal: string): void;
}

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

/** Why a reload changed nothing: the `reason` of `config.reload_failed`. */
export type ReloadFailure =
  /** The config has problems (each logged as `config.problem`). */
  | "invalid_config"
  /** It needs what the worker was not given: new network addresses, a new state_dir. */
  | "restart_needed"
  /** Its new HTTP address cannot be bound. */
  | "bind_failed"
  /** A proxy cannot run with its new settings. */
  | "apply_failed"
  /** The server refused a proxy's new secret (tried on a second connection). */
  | "secret_refused"
  /** A serving proxy's new secret could not be tried (no answer): the stream keeps the old. */
  | "secret_untried"
  /** A standby's new secret, while the instance it stands by for proves with the old one. */
  | "sibling_not_rotated";

/** A reload the worker turned down before changing anything. */
export class ReloadFailed extends Error {
  constructor(readonly reason: ReloadFailure, message: string) {
    super(message);
    this.name = "ReloadFailed";
  }
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
   * config stays in force), with a {@link ReloadFailed} saying why, and
   * counted; once the new config is in force it resolves, whatever happens
   * after.
   */
  reload(config: Config, logging: Logging): Promise<void>;
  /** A reload refused before it reached the worker (logged there): counted. */
  reloadRefused(): void;
  stop(signal: string): Promise<number>;
  /** Ends the shutdown grace now, or makes it zero if the stop has not begun. */
  hurry(signal: string): void;
  /** A stop is on its way (behind a reload, say): a reload not applied yet is not. */
  stopComing?(): void;
}

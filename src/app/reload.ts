/**
 * A SIGHUP as the main thread sees it: the config is read again, refused
 * here when it has problems or needs a restart (`config.reload_failed`,
 * counted by the worker, where /metrics is), else sent to the worker,
 * which answers whether it applied it. Only a config the worker applied
 * is in force: the one the next reload is checked against, and whose log
 * settings this thread takes.
 */
import type { Config, ConfigResult } from "../config/types.ts";
import { type Logger, setupLogging } from "../ops/log.ts";
import type { Logging, ReloadFailure, ToWorker } from "./worker_protocol.ts";

/** Options of {@link ConfigInForce}. */
export interface ConfigInForceOptions {
  /** Reads the config again. */
  readonly read: () => ConfigResult;
  /** Why `next` cannot replace `current` without a restart, if it cannot. */
  readonly restartNeeded: (next: Config, current: Config) => string | undefined;
  /** How to log with a config (flags and environment override the file). */
  readonly logging: (config: Config) => Logging;
  /** Sends to the worker. */
  readonly send: (message: ToWorker) => void;
  readonly log: Logger;
}

/** The config the worker runs, followed through reloads. */
export class ConfigInForce {
  #current: Config;
  #serial = 0;
  /** Sent, not yet answered. */
  readonly #sent = new Map<number, { config: Config; logging: Logging }>();
  readonly #options: ConfigInForceOptions;

  constructor(config: Config, options: ConfigInForceOptions) {
    this.#current = config;
    this.#options = options;
  }

  /** The config the worker last applied (at first, the one it started with). */
  get current(): Config {
    return this.#current;
  }

  /** A SIGHUP: reads the config, then refuses it (said here) or sends it to the worker. */
  reload(): void {
    const { read, restartNeeded, logging, send, log } = this.#options;
    const loaded = read();
    if (!loaded.ok) {
      // Every problem is said, as at start.
      log.error("config.reload_failed", {
        reason: "invalid_config" satisfies ReloadFailure,
        problems: loaded.errors.length,
      });
      for (const problem of loaded.errors) log.error("config.problem", { problem });
      return send({ type: "reload_refused" });
    }
    const problem = restartNeeded(loaded.config, this.#current);
    if (problem !== undefined) {
      log.error("config.reload_failed", {
        reason: "restart_needed" satisfies ReloadFailure,
        error: problem,
      });
      return send({ type: "reload_refused" });
    }
    const serial = ++this.#serial;
    const next = { config: loaded.config, logging: logging(loaded.config) };
    this.#sent.set(serial, next);
    send({ type: "reload", serial, ...next });
  }

  /** The worker's answer to reload `serial` (it logged a failure itself). */
  settled(serial: number, applied: boolean): void {
    const sent = this.#sent.get(serial);
    this.#sent.delete(serial);
    if (sent === undefined || !applied) return;
    this.#current = sent.config;
    setupLogging(sent.logging.level, {
      format: sent.logging.format,
      journal: sent.logging.journal,
    });
  }
}

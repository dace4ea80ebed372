/**
 * The process's own metrics, not labelled by proxy: which version runs,
 * when it started, its memory, and the config reloads (SIGHUP).
 */
import { Counter, Gauge, type Registry } from "prom-client";
import { RELOAD_RESULTS, type ReloadResult } from "./metric_labels.ts";

/** The version, start time, memory and reloads of the process. */
export class ProcessMetrics {
  readonly #reloads: Counter<"result">;
  readonly #lastReloadOk: Gauge;
  readonly #lastReloadAt: Gauge;
  readonly #buildInfo: Gauge<"version">;
  readonly #started: Gauge;

  constructor(registers: Registry[]) {
    this.#reloads = new Counter({
      name: "client_proxy_config_reloads_total",
      help: "Config reloads (SIGHUP), by result: ok (in force), failed (the old one stays).",
      labelNames: ["result"],
      registers,
    });
    // Both at 0 from the start, so that an alert on `failed` sees its first one.
    for (const result of RELOAD_RESULTS) this.#reloads.labels(result).inc(0);
    this.#lastReloadOk = new Gauge({
      name: "client_proxy_config_last_reload_successful",
      help: "Whether the last reload was applied (1), or failed and the old config stays (0).",
      registers,
    });
    this.#lastReloadAt = new Gauge({
      name: "client_proxy_config_last_reload_success_timestamp_seconds",
      help: "When the config in force was applied (at start, or by the last good reload).",
      registers,
    });
    this.#buildInfo = new Gauge({
      name: "client_proxy_build_info",
      help: "Always 1; its label says which version runs.",
      labelNames: ["version"],
      registers,
    });
    this.#started = new Gauge({
      name: "process_start_time_seconds",
      help: "When the process started, in seconds since the epoch.",
      registers,
    });
    new Gauge({
      name: "process_resident_memory_bytes",
      help: "The process's resident memory, both threads, read at scrape time.",
      registers,
      collect() {
        this.set(Deno.memoryUsage().rss);
      },
    });
  }

  /** Its version, and when it started (also its config's first load). */
  started(info: { readonly version: string; readonly startedAt: number }): void {
    this.#buildInfo.labels(info.version).set(1);
    this.#started.set(info.startedAt / 1_000);
    this.#lastReloadOk.set(1);
    this.#lastReloadAt.set(info.startedAt / 1_000);
  }

  /** Counts a reload: applied (`ok`), or refused or failed with the old config kept (`failed`). */
  reloaded(result: ReloadResult, now: number): void {
    this.#reloads.labels(result).inc();
    this.#lastReloadOk.set(result === "ok" ? 1 : 0);
    if (result === "ok") this.#lastReloadAt.set(now / 1_000);
  }
}

/**
 * Prometheus metrics of the running proxies, on a prom-client Registry of
 * their own: no default process collectors (they read /proc and the
 * environment, which the worker may not), and no JIDs in labels (every
 * requester would be a new series, and JIDs are personal data). The only
 * labels are the proxy's domain and small closed sets of words. It works in
 * a Worker with every permission off (tests/ops/metrics_test.ts).
 *
 * Here: what each router and link event counts, and the scrape; the series
 * themselves are in proxy_series.ts and process_metrics.ts.
 */
import { Registry } from "prom-client";
import type { RouterEvent } from "../core/router_events.ts";
import {
  type CountedDrop,
  DURATION_BUCKETS,
  ERRNO_CODE,
  LINK_FAILURES,
  type ReloadResult,
  STREAM_CONDITIONS,
  TIMED_OUTCOMES,
} from "./metric_labels.ts";
import { ProcessMetrics } from "./process_metrics.ts";
import { type ProxySeries, ProxySeriesTable } from "./proxy_series.ts";

export {
  type CountedDrop,
  DROP_REASONS,
  DURATION_BUCKETS,
  PLACEMENTS,
  type ReloadResult,
  REQUEST_OUTCOMES,
  type RequestOutcome,
  UNPIN_REASONS,
} from "./metric_labels.ts";

/** Options of {@link Metrics}. */
export interface MetricsOptions {
  /** Histogram buckets in seconds. Default: {@link DURATION_BUCKETS}. */
  readonly durationBuckets?: readonly number[];
}

/** A proxy's gauges as read at scrape time; see {@link Metrics.sample}. */
export interface GaugeSample {
  readonly pending: number;
  readonly resources: number;
  /** Of `resources`, how many are draining (`<show>dnd</show>`, or named in `drain`). Default: 0. */
  readonly draining?: number;
  /** Affinity keys pinned to a resource. Default: 0. */
  readonly affinityKeys?: number;
  /** Users subscribed to the domain's presence (`presence: true`). Default: 0. */
  readonly subscribers?: number;
}

/** The proxies' metrics; the shell feeds it, the HTTP side reads it. */
export class Metrics {
  readonly #registry = new Registry();
  readonly #proxies: ProxySeriesTable;
  readonly #process: ProcessMetrics;
  readonly #samplers = new Map<string, () => GaugeSample>();

  constructor(options: MetricsOptions = {}) {
    const registers = [this.#registry];
    this.#proxies = new ProxySeriesTable(registers, options.durationBuckets ?? DURATION_BUCKETS);
    this.#process = new ProcessMetrics(registers);
  }

  /** The process's own series: its version, and when it started (also its config's first load). */
  process(info: { readonly version: string; readonly startedAt: number }): void {
    this.#process.started(info);
  }

  /** The Content-Type of {@link text}'s exposition format. */
  get contentType(): string {
    return this.#registry.contentType;
  }

  /**
   * Counts one router event. Cheap: a Map lookup and a prom-client update;
   * `forwarded` and `subscription` events cost nothing.
   */
  observe(proxy: string, event: RouterEvent): void {
    switch (event.type) {
      case "outcome": {
        const series = this.#of(proxy);
        series.requests(event.outcome, event.placement).inc();
        if (TIMED_OUTCOMES.has(event.outcome)) {
          series.duration.observe(event.durationMs / 1_000);
        }
        return;
      }
      case "dropped":
        return this.dropped(proxy, event.reason);
      case "refused":
        // Both labels come from small fixed sets: the router refuses only
        // iq, message and presence, with its own conditions.
        this.#of(proxy).refused(event.stanza, event.condition).inc();
        return;
      case "resource":
        this.setResources(proxy, event.count);
        return;
      case "unpinned":
        this.#of(proxy).moves(event.reason).inc(event.keys.length);
        return;
    }
  }

  /** Counts a stanza dropped unanswered (by the router, or by the link). */
  dropped(proxy: string, reason: CountedDrop): void {
    this.#of(proxy).dropped(reason).inc();
  }

  /** Sets `client_proxy_up`: call with true on online, false on offline and at start. */
  setUp(proxy: string, up: boolean): void {
    const series = this.#of(proxy);
    const value = up ? 1 : 0;
    if (series.last.up !== value) series.up.set(series.last.up = value);
  }

  /** Counts a stream that came online. */
  connected(proxy: string): void {
    this.#of(proxy).connects.inc();
  }

  /**
   * Counts a lost stream. `condition` is a stream error condition
   * (`not-authorized`), a socket error code (`ECONNREFUSED`), `tls-failed`
   * or `send-stalled`; anything else is counted as `other`.
   */
  streamError(proxy: string, condition: string): void {
    const label =
      STREAM_CONDITIONS.has(condition) || ERRNO_CODE.test(condition) || LINK_FAILURES.has(condition)
        ? condition
        : "other";
    this.#of(proxy).streamErrors(label).inc();
  }

  /** Counts a reload: applied (`ok`), or refused or failed with the old config kept (`failed`). */
  reloaded(result: ReloadResult, now = Date.now()): void {
    this.#process.reloaded(result, now);
  }

  /** Sets `client_proxy_pending` (the router's `pendingCount`). */
  setPending(proxy: string, count: number): void {
    const series = this.#of(proxy);
    if (series.last.pending !== count) series.pending.set(series.last.pending = count);
  }

  /** Sets `client_proxy_target_resources`. */
  setResources(proxy: string, count: number): void {
    const series = this.#of(proxy);
    if (series.last.resources !== count) series.resources.set(series.last.resources = count);
  }

  /**
   * Reads a proxy's pending, resource and affinity gauges when scraped,
   * rather than setting them on every stanza (prom-client hashes labels on
   * each set).
   */
  sample(proxy: string, read: () => GaugeSample): void {
    this.#of(proxy);
    this.#samplers.set(proxy, read);
  }

  /** Drops every series of a proxy (one removed by a reload). */
  remove(proxy: string): void {
    this.#samplers.delete(proxy);
    this.#proxies.remove(proxy);
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    for (const [proxy, read] of this.#samplers) {
      const { pending, resources, draining = 0, affinityKeys = 0, subscribers = 0 } = read();
      this.setPending(proxy, pending);
      this.setResources(proxy, resources);
      const series = this.#of(proxy);
      series.serving.set(resources - draining);
      series.draining.set(draining);
      series.affinityKeys.set(affinityKeys);
      series.subscribers.set(subscribers);
    }
    return this.#registry.metrics();
  }

  /** A proxy's series, made at 0 on first mention. */
  #of(proxy: string): ProxySeries {
    return this.#proxies.of(proxy);
  }
}

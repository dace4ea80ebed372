/**
 * Prometheus metrics of the running proxies, on a prom-client Registry of
 * their own: no default process collectors (they read /proc and the
 * environment, which the worker may not), and no JIDs in labels (every
 * requester would be a new series, and JIDs are personal data). The only
 * labels are the proxy's domain and small closed sets of words.
 *
 * prom-client needs no permissions: it loads and works in a Worker with
 * every permission off (checked with Deno 2.9 and prom-client 15.1.3).
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { PlacementKind, RouterEvent } from "../core/router_events.ts";
import {
  type CountedDrop,
  DROP_REASONS,
  DURATION_BUCKETS,
  ERRNO_CODE,
  LINK_FAILURES,
  PLACEMENTS,
  RELOAD_RESULTS,
  type ReloadResult,
  REQUEST_OUTCOMES,
  RESOURCE_STATES,
  STREAM_CONDITIONS,
  TIMED_OUTCOMES,
  UNPIN_REASONS,
} from "./metric_labels.ts";

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

/** One proxy's labelled children, looked up once instead of per call. */
interface Series {
  readonly up: Gauge.Internal<string>;
  readonly connects: Counter.Internal;
  readonly pending: Gauge.Internal<string>;
  readonly resources: Gauge.Internal<string>;
  readonly serving: Gauge.Internal<string>;
  readonly draining: Gauge.Internal<string>;
  readonly affinityKeys: Gauge.Internal<string>;
  readonly duration: Histogram.Internal<string>;
  /** By outcome, with affinity off. */
  readonly requests: Map<string, Counter.Internal>;
  /** By placement, then outcome, with affinity on (made at its first such outcome). */
  placed: Record<PlacementKind, Map<string, Counter.Internal>> | undefined;
  readonly moves: Map<string, Counter.Internal>;
  readonly dropped: Map<string, Counter.Internal>;
  /** By `<stanza> <condition>`. */
  readonly refused: Map<string, Counter.Internal>;
  readonly streamErrors: Map<string, Counter.Internal>;
  /** Last values set, so that unchanged gauges cost a comparison only. */
  last: { up: number; pending: number; resources: number };
}

/** A proxy's gauges as read at scrape time; see {@link Metrics.sample}. */
export interface GaugeSample {
  readonly pending: number;
  readonly resources: number;
  /** Of `resources`, how many are draining (`<show>dnd</show>`). Default: 0. */
  readonly draining?: number;
  /** Affinity keys pinned to a resource. Default: 0. */
  readonly affinityKeys?: number;
}

/** The proxies' metrics; the shell feeds it, the HTTP side reads it. */
export class Metrics {
  readonly #registry = new Registry();
  readonly #up: Gauge<"proxy">;
  readonly #connects: Counter<"proxy">;
  readonly #streamErrors: Counter<"proxy" | "condition">;
  readonly #requests: Counter<"proxy" | "outcome" | "placement">;
  readonly #duration: Histogram<"proxy">;
  readonly #pending: Gauge<"proxy">;
  readonly #resources: Gauge<"proxy">;
  readonly #resourcesByState: Gauge<"proxy" | "state">;
  readonly #affinityKeys: Gauge<"proxy">;
  readonly #affinityMoves: Counter<"proxy" | "reason">;
  readonly #dropped: Counter<"proxy" | "reason">;
  readonly #refused: Counter<"proxy" | "stanza" | "condition">;
  readonly #reloads: Counter<"result">;
  readonly #buildInfo: Gauge<"version">;
  readonly #started: Gauge;
  readonly #lastReloadOk: Gauge;
  readonly #lastReloadAt: Gauge;
  readonly #series = new Map<string, Series>();
  readonly #samplers = new Map<string, () => GaugeSample>();

  constructor(options: MetricsOptions = {}) {
    const registers = [this.#registry];
    this.#up = new Gauge({
      name: "client_proxy_up",
      help: "Whether the proxy's component stream is online (1) or not (0).",
      labelNames: ["proxy"],
      registers,
    });
    this.#connects = new Counter({
      name: "client_proxy_connects_total",
      help: "Component streams opened and authenticated.",
      labelNames: ["proxy"],
      registers,
    });
    this.#streamErrors = new Counter({
      name: "client_proxy_stream_errors_total",
      help: "Component streams lost, by stream error condition or socket error code.",
      labelNames: ["proxy", "condition"],
      registers,
    });
    this.#requests = new Counter({
      name: "client_proxy_requests_total",
      help:
        "IQ requests answered, by how they ended (and, with affinity on, how they were placed).",
      labelNames: ["proxy", "outcome", "placement"],
      registers,
    });
    this.#duration = new Histogram({
      name: "client_proxy_request_duration_seconds",
      help: "Time from a forwarded request to its reply, timeout or failover.",
      labelNames: ["proxy"],
      buckets: [...(options.durationBuckets ?? DURATION_BUCKETS)],
      registers,
    });
    this.#pending = new Gauge({
      name: "client_proxy_pending",
      help: "Requests forwarded and awaiting a reply.",
      labelNames: ["proxy"],
      registers,
    });
    this.#resources = new Gauge({
      name: "client_proxy_target_resources",
      help: "Online resources of the target account.",
      labelNames: ["proxy"],
      registers,
    });
    this.#resourcesByState = new Gauge({
      name: "client_proxy_target_resources_by_state",
      help: "Online resources of the target account, serving or draining (<show>dnd</show>).",
      labelNames: ["proxy", "state"],
      registers,
    });
    this.#affinityKeys = new Gauge({
      name: "client_proxy_affinity_keys",
      help: "Affinity keys (rooms, say) pinned to a resource.",
      labelNames: ["proxy"],
      registers,
    });
    this.#affinityMoves = new Counter({
      name: "client_proxy_affinity_moves_total",
      help: "Affinity pins that ended, by reason: resource_left, expired, evicted.",
      labelNames: ["proxy", "reason"],
      registers,
    });
    this.#dropped = new Counter({
      name: "client_proxy_dropped_total",
      help: "Incoming stanzas dropped without an answer, by reason.",
      labelNames: ["proxy", "reason"],
      registers,
    });
    this.#refused = new Counter({
      name: "client_proxy_refused_total",
      help: "Incoming stanzas the proxy answered with an error itself, by stanza and condition.",
      labelNames: ["proxy", "stanza", "condition"],
      registers,
    });
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

  /** The process's own series: its version, and when it started (also its config's first load). */
  process(info: { readonly version: string; readonly startedAt: number }): void {
    this.#buildInfo.labels(info.version).set(1);
    this.#started.set(info.startedAt / 1_000);
    this.#lastReloadOk.set(1);
    this.#lastReloadAt.set(info.startedAt / 1_000);
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
        const placement = event.placement;
        if (placement === undefined) {
          this.#unplaced(series, proxy, event.outcome).inc();
        } else this.#placed(series, proxy, event.outcome, placement).inc();
        if (TIMED_OUTCOMES.has(event.outcome)) {
          series.duration.observe(event.durationMs / 1_000);
        }
        return;
      }
      case "dropped":
        return this.dropped(proxy, event.reason);
      case "refused": {
        // Both labels come from small fixed sets: the router refuses only
        // iq, message and presence, with its own conditions.
        const series = this.#of(proxy);
        const key = `${event.stanza} ${event.condition}`;
        let child = series.refused.get(key);
        if (child === undefined) {
          child = this.#refused.labels(proxy, event.stanza, event.condition);
          series.refused.set(key, child);
        }
        child.inc();
        return;
      }
      case "resource":
        this.setResources(proxy, event.count);
        return;
      case "unpinned": {
        const series = this.#of(proxy);
        this.#child(series.moves, this.#affinityMoves, proxy, event.reason).inc(event.keys.length);
        return;
      }
    }
  }

  /** Counts a stanza dropped unanswered (by the router, or by the link). */
  dropped(proxy: string, reason: CountedDrop): void {
    const series = this.#of(proxy);
    this.#child(series.dropped, this.#dropped, proxy, reason).inc();
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
    const series = this.#of(proxy);
    this.#child(series.streamErrors, this.#streamErrors, proxy, label).inc();
  }

  /** Counts a reload: applied (`ok`), or refused or failed with the old config kept (`failed`). */
  reloaded(result: ReloadResult, now = Date.now()): void {
    this.#reloads.labels(result).inc();
    this.#lastReloadOk.set(result === "ok" ? 1 : 0);
    if (result === "ok") this.#lastReloadAt.set(now / 1_000);
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
    const series = this.#series.get(proxy);
    if (series === undefined) return;
    this.#series.delete(proxy);
    for (const gauge of [this.#up, this.#pending, this.#resources, this.#affinityKeys]) {
      gauge.remove(proxy);
    }
    for (const state of RESOURCE_STATES) this.#resourcesByState.remove(proxy, state);
    for (const reason of series.moves.keys()) this.#affinityMoves.remove(proxy, reason);
    this.#connects.remove(proxy);
    this.#duration.remove(proxy);
    for (const outcome of series.requests.keys()) this.#requests.remove({ proxy, outcome });
    for (const [placement, children] of Object.entries(series.placed ?? {})) {
      for (const outcome of children.keys()) this.#requests.remove({ proxy, outcome, placement });
    }
    for (const reason of series.dropped.keys()) this.#dropped.remove(proxy, reason);
    for (const key of series.refused.keys()) {
      const [stanza, condition] = key.split(" ");
      this.#refused.remove(proxy, stanza, condition);
    }
    for (const condition of series.streamErrors.keys()) {
      this.#streamErrors.remove(proxy, condition);
    }
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    for (const [proxy, read] of this.#samplers) {
      const { pending, resources, draining = 0, affinityKeys = 0 } = read();
      this.setPending(proxy, pending);
      this.setResources(proxy, resources);
      const series = this.#of(proxy);
      series.serving.set(resources - draining);
      series.draining.set(draining);
      series.affinityKeys.set(affinityKeys);
    }
    return this.#registry.metrics();
  }

  /**
   * A proxy's children, made on first mention with every series at 0, so
   * that `rate()` and `absent()` work from the first scrape.
   */
  #of(proxy: string): Series {
    let series = this.#series.get(proxy);
    if (series !== undefined) return series;
    series = {
      up: this.#up.labels(proxy),
      connects: this.#connects.labels(proxy),
      pending: this.#pending.labels(proxy),
      resources: this.#resources.labels(proxy),
      serving: this.#resourcesByState.labels(proxy, "serving"),
      draining: this.#resourcesByState.labels(proxy, "draining"),
      affinityKeys: this.#affinityKeys.labels(proxy),
      duration: this.#duration.labels(proxy),
      requests: new Map(),
      placed: undefined,
      moves: new Map(),
      dropped: new Map(),
      refused: new Map(),
      streamErrors: new Map(),
      last: { up: 0, pending: 0, resources: 0 },
    };
    this.#series.set(proxy, series);
    series.up.set(0);
    series.connects.inc(0);
    series.pending.set(0);
    series.resources.set(0);
    series.serving.set(0);
    series.draining.set(0);
    series.affinityKeys.set(0);
    this.#duration.zero({ proxy });
    for (const outcome of REQUEST_OUTCOMES) {
      this.#unplaced(series, proxy, outcome).inc(0);
    }
    for (const reason of DROP_REASONS) {
      this.#child(series.dropped, this.#dropped, proxy, reason).inc(0);
    }
    for (const reason of UNPIN_REASONS) {
      this.#child(series.moves, this.#affinityMoves, proxy, reason).inc(0);
    }
    return series;
  }

  /** The requests child of an outcome without a placement (affinity off). */
  #unplaced(series: Series, proxy: string, outcome: string): Counter.Internal {
    let child = series.requests.get(outcome);
    if (child === undefined) {
      // By name: the `placement` label is left out, not empty.
      child = this.#requests.labels({ proxy, outcome });
      series.requests.set(outcome, child);
    }
    return child;
  }

  /**
   * The requests child of an outcome with its placement: on the first one,
   * every outcome of every placement is made at 0 (the proxy's affinity is on).
   */
  #placed(
    series: Series,
    proxy: string,
    outcome: string,
    placement: PlacementKind,
  ): Counter.Internal {
    let placed = series.placed;
    if (placed === undefined) {
      placed = series.placed = { affinity: new Map(), balance: new Map() };
      for (const kind of PLACEMENTS) {
        for (const each of REQUEST_OUTCOMES) {
          const made = this.#requests.labels({ proxy, outcome: each, placement: kind });
          made.inc(0);
          placed[kind].set(each, made);
        }
      }
    }
    return placed[placement].get(outcome)!;
  }

  /** The child for `proxy` and one more label value, cached in `cache`. */
  #child(
    cache: Map<string, Counter.Internal>,
    counter: Counter<string>,
    proxy: string,
    value: string,
  ): Counter.Internal {
    let child = cache.get(value);
    if (child === undefined) {
      child = counter.labels(proxy, value);
      cache.set(value, child);
    }
    return child;
  }
}

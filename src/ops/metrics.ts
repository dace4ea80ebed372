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
import type { DropReason, Outcome, RouterEvent } from "../core/router_events.ts";

/**
 * How a request ended, as counted: the router's outcomes plus the
 * refusals of the gates in front of routing, `rejected` (over
 * `max_pending_per_requester`), `rate_limited` (over `rate_limit`) and
 * `forbidden` (refused by `allow` / `deny`). Once the router's Outcome has
 * them too, this is just Outcome.
 */
export type RequestOutcome = Outcome | "rejected" | "rate_limited" | "forbidden";

/**
 * Why a stanza was dropped, as counted: the router's reasons, plus those of
 * the link, which drops a stanza shaped like a relay or a sibling's
 * self-ping whose proof fails before the router sees it.
 */
export type CountedDrop = DropReason | "forged_relay" | "forged_ping";

// A Record over each union, so that `deno check` fails here when the
// router gains an outcome or a drop reason without a label value.
const OUTCOME_LABELS: Record<RequestOutcome, true> = {
  result: true,
  error: true,
  timeout: true,
  failover: true,
  no_resource: true,
  busy: true,
  duplicate: true,
  shutdown: true,
  bad_request: true,
  rejected: true,
  rate_limited: true,
  forbidden: true,
};
const DROP_LABELS: Record<CountedDrop, true> = {
  no_address: true,
  not_ours: true,
  error_stanza: true,
  unexpected_reply: true,
  bad_address: true,
  unmatched: true,
  ambiguous: true,
  wrong_resource: true,
  ignored_presence: true,
  unknown_stanza: true,
  too_big: true,
  forged_relay: true,
  forged_ping: true,
};

/** Every `outcome` label value, each present (at 0) from a proxy's first mention. */
export const REQUEST_OUTCOMES: readonly RequestOutcome[] = Object.freeze(
  Object.keys(OUTCOME_LABELS) as RequestOutcome[],
);
/** Every `reason` label value of `client_proxy_dropped_total`. */
export const DROP_REASONS: readonly CountedDrop[] = Object.freeze(
  Object.keys(DROP_LABELS) as CountedDrop[],
);

/** How a reload ended: `client_proxy_config_reloads_total`'s `result`. */
export type ReloadResult = "ok" | "failed";
const RELOAD_RESULTS: readonly ReloadResult[] = ["ok", "failed"];

/**
 * Outcomes whose request was forwarded and then settled by a reply, a
 * timeout or a failover: the ones whose duration says something about the
 * target. Immediate refusals (0 s) and shutdown would only blur it.
 */
const TIMED_OUTCOMES: ReadonlySet<string> = new Set<RequestOutcome>([
  "result",
  "error",
  "timeout",
  "failover",
]);

/**
 * Stream error conditions kept as label values: RFC 6120 §4.9.3, plus
 * socket error codes (`ECONNREFUSED`); anything else counts as `other`, so
 * an odd server cannot make series without end.
 */
const STREAM_CONDITIONS: ReadonlySet<string> = new Set([
  "bad-format",
  "bad-namespace-prefix",
  "conflict",
  "connection-timeout",
  "host-gone",
  "host-unknown",
  "improper-addressing",
  "internal-server-error",
  "invalid-from",
  "invalid-namespace",
  "invalid-xml",
  "not-authorized",
  "not-well-formed",
  "policy-violation",
  "remote-connection-failed",
  "reset",
  "resource-constraint",
  "restricted-xml",
  "see-other-host",
  "system-shutdown",
  "undefined-condition",
  "unsupported-encoding",
  "unsupported-feature",
  "unsupported-stanza-type",
  "unsupported-version",
]);
const ERRNO_CODE = /^E[A-Z0-9]{2,15}$/;
/** The link's own reasons: a TLS connection that failed, a server that took nothing for too long. */
const LINK_FAILURES: ReadonlySet<string> = new Set(["tls-failed", "send-stalled"]);

/**
 * Buckets of `client_proxy_request_duration_seconds`: 1 ms to 60 s, so
 * that a timeout at the default 30 s still lands in a finite bucket.
 */
export const DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  15,
  30,
  60,
]);

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
  readonly duration: Histogram.Internal<string>;
  readonly requests: Map<string, Counter.Internal>;
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
}

/** The proxies' metrics; the shell feeds it, the HTTP side reads it. */
export class Metrics {
  readonly #registry = new Registry();
  readonly #up: Gauge<"proxy">;
  readonly #connects: Counter<"proxy">;
  readonly #streamErrors: Counter<"proxy" | "condition">;
  readonly #requests: Counter<"proxy" | "outcome">;
  readonly #duration: Histogram<"proxy">;
  readonly #pending: Gauge<"proxy">;
  readonly #resources: Gauge<"proxy">;
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
      help: "IQ requests answered, by how they ended.",
      labelNames: ["proxy", "outcome"],
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
        this.#child(series.requests, this.#requests, proxy, event.outcome).inc();
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
   * Reads a proxy's pending and resource gauges when scraped, rather than
   * setting them on every stanza (prom-client hashes labels on each set).
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
    for (const gauge of [this.#up, this.#pending, this.#resources]) gauge.remove(proxy);
    this.#connects.remove(proxy);
    this.#duration.remove(proxy);
    for (const outcome of series.requests.keys()) this.#requests.remove(proxy, outcome);
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
      const { pending, resources } = read();
      this.setPending(proxy, pending);
      this.setResources(proxy, resources);
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
      duration: this.#duration.labels(proxy),
      requests: new Map(),
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
    this.#duration.zero({ proxy });
    for (const outcome of REQUEST_OUTCOMES) {
      this.#child(series.requests, this.#requests, proxy, outcome).inc(0);
    }
    for (const reason of DROP_REASONS) {
      this.#child(series.dropped, this.#dropped, proxy, reason).inc(0);
    }
    return series;
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

/**
 * The metrics labelled by proxy: their families, and each proxy's
 * children, made on its first mention with every series at 0 (so that
 * `rate()` and `absent()` work from the first scrape), looked up once
 * instead of per call, and dropped with the proxy.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { PlacementKind } from "../core/router_events.ts";
import {
  DROP_REASONS,
  PLACEMENTS,
  REQUEST_OUTCOMES,
  RESOURCE_STATES,
  UNPIN_REASONS,
} from "./metric_labels.ts";

/** The families every proxy has its children in. */
interface Families {
  readonly up: Gauge<"proxy">;
  readonly connects: Counter<"proxy">;
  readonly streamErrors: Counter<"proxy" | "condition">;
  readonly requests: Counter<"proxy" | "outcome" | "placement">;
  readonly duration: Histogram<"proxy">;
  readonly pending: Gauge<"proxy">;
  readonly resources: Gauge<"proxy">;
  readonly resourcesByState: Gauge<"proxy" | "state">;
  readonly affinityKeys: Gauge<"proxy">;
  readonly subscribers: Gauge<"proxy">;
  readonly affinityMoves: Counter<"proxy" | "reason">;
  readonly dropped: Counter<"proxy" | "reason">;
  readonly refused: Counter<"proxy" | "stanza" | "condition">;
}

function families(registers: Registry[], durationBuckets: readonly number[]): Families {
  return {
    up: new Gauge({
      name: "client_proxy_up",
      help: "Whether the proxy's component stream is online (1) or not (0).",
      labelNames: ["proxy"],
      registers,
    }),
    connects: new Counter({
      name: "client_proxy_connects_total",
      help: "Component streams opened and authenticated.",
      labelNames: ["proxy"],
      registers,
    }),
    streamErrors: new Counter({
      name: "client_proxy_stream_errors_total",
      help: "Component streams lost, by stream error condition or socket error code.",
      labelNames: ["proxy", "condition"],
      registers,
    }),
    requests: new Counter({
      name: "client_proxy_requests_total",
      help:
        "IQ requests answered, by how they ended (and, with affinity on, how they were placed).",
      labelNames: ["proxy", "outcome", "placement"],
      registers,
    }),
    duration: new Histogram({
      name: "client_proxy_request_duration_seconds",
      help: "Time from a forwarded request to its reply, timeout or failover.",
      labelNames: ["proxy"],
      buckets: [...durationBuckets],
      registers,
    }),
    pending: new Gauge({
      name: "client_proxy_pending",
      help: "Requests forwarded and awaiting a reply.",
      labelNames: ["proxy"],
      registers,
    }),
    resources: new Gauge({
      name: "client_proxy_target_resources",
      help: "Online resources of the target account.",
      labelNames: ["proxy"],
      registers,
    }),
    resourcesByState: new Gauge({
      name: "client_proxy_target_resources_by_state",
      help:
        "Online resources of the target account, serving or draining (<show>dnd</show>, or named in drain).",
      labelNames: ["proxy", "state"],
      registers,
    }),
    affinityKeys: new Gauge({
      name: "client_proxy_affinity_keys",
      help: "Affinity keys (rooms, say) pinned to a resource.",
      labelNames: ["proxy"],
      registers,
    }),
    subscribers: new Gauge({
      name: "client_proxy_subscribers",
      help: "Users subscribed to the domain's presence (presence: true).",
      labelNames: ["proxy"],
      registers,
    }),
    affinityMoves: new Counter({
      name: "client_proxy_affinity_moves_total",
      help: "Affinity pins that ended, by reason: resource_left, expired, evicted.",
      labelNames: ["proxy", "reason"],
      registers,
    }),
    dropped: new Counter({
      name: "client_proxy_dropped_total",
      help: "Incoming stanzas dropped without an answer, by reason.",
      labelNames: ["proxy", "reason"],
      registers,
    }),
    refused: new Counter({
      name: "client_proxy_refused_total",
      help: "Incoming stanzas the proxy answered with an error itself, by stanza and condition.",
      labelNames: ["proxy", "stanza", "condition"],
      registers,
    }),
  };
}

/** One proxy's children. */
export class ProxySeries {
  readonly up: Gauge.Internal<string>;
  readonly connects: Counter.Internal;
  readonly pending: Gauge.Internal<string>;
  readonly resources: Gauge.Internal<string>;
  readonly serving: Gauge.Internal<string>;
  readonly draining: Gauge.Internal<string>;
  readonly affinityKeys: Gauge.Internal<string>;
  readonly subscribers: Gauge.Internal<string>;
  readonly duration: Histogram.Internal<string>;
  /** Last values set, so that unchanged gauges cost a comparison only. */
  readonly last = { up: 0, pending: 0, resources: 0 };
  readonly #families: Families;
  readonly #proxy: string;
  /** Requests by outcome, with affinity off. */
  readonly #requests = new Map<string, Counter.Internal>();
  /** Requests by placement, then outcome, with affinity on (made at its first such outcome). */
  #placed: Record<PlacementKind, Map<string, Counter.Internal>> | undefined;
  readonly #moves = new Map<string, Counter.Internal>();
  readonly #dropped = new Map<string, Counter.Internal>();
  /** By `<stanza> <condition>`. */
  readonly #refused = new Map<string, Counter.Internal>();
  readonly #streamErrors = new Map<string, Counter.Internal>();

  constructor(families: Families, proxy: string) {
    this.#families = families;
    this.#proxy = proxy;
    this.up = families.up.labels(proxy);
    this.connects = families.connects.labels(proxy);
    this.pending = families.pending.labels(proxy);
    this.resources = families.resources.labels(proxy);
    this.serving = families.resourcesByState.labels(proxy, "serving");
    this.draining = families.resourcesByState.labels(proxy, "draining");
    this.affinityKeys = families.affinityKeys.labels(proxy);
    this.subscribers = families.subscribers.labels(proxy);
    this.duration = families.duration.labels(proxy);
    this.up.set(0);
    this.connects.inc(0);
    this.pending.set(0);
    this.resources.set(0);
    this.serving.set(0);
    this.draining.set(0);
    this.affinityKeys.set(0);
    this.subscribers.set(0);
    families.duration.zero({ proxy });
    for (const outcome of REQUEST_OUTCOMES) this.requests(outcome, undefined).inc(0);
    for (const reason of DROP_REASONS) this.dropped(reason).inc(0);
    for (const reason of UNPIN_REASONS) this.moves(reason).inc(0);
  }

  /**
   * The requests child of an outcome, and of its placement with affinity
   * on: on the first placed one, every outcome of every placement is made
   * at 0.
   */
  requests(outcome: string, placement: PlacementKind | undefined): Counter.Internal {
    const proxy = this.#proxy;
    if (placement === undefined) {
      let child = this.#requests.get(outcome);
      if (child === undefined) {
        // By name: the `placement` label is left out, not empty.
        child = this.#families.requests.labels({ proxy, outcome });
        this.#requests.set(outcome, child);
      }
      return child;
    }
    let placed = this.#placed;
    if (placed === undefined) {
      placed = this.#placed = { affinity: new Map(), balance: new Map() };
      for (const kind of PLACEMENTS) {
        for (const each of REQUEST_OUTCOMES) {
          const made = this.#families.requests.labels({ proxy, outcome: each, placement: kind });
          made.inc(0);
          placed[kind].set(each, made);
        }
      }
    }
    return placed[placement].get(outcome)!;
  }

  /** The affinity moves child of a reason. */
  moves(reason: string): Counter.Internal {
    return this.#child(this.#moves, this.#families.affinityMoves, reason);
  }

  /** The dropped child of a reason. */
  dropped(reason: string): Counter.Internal {
    return this.#child(this.#dropped, this.#families.dropped, reason);
  }

  /** The stream errors child of a condition. */
  streamErrors(condition: string): Counter.Internal {
    return this.#child(this.#streamErrors, this.#families.streamErrors, condition);
  }

  /** The refused child of a stanza and condition. */
  refused(stanza: string, condition: string): Counter.Internal {
    const key = `${stanza} ${condition}`;
    let child = this.#refused.get(key);
    if (child === undefined) {
      child = this.#families.refused.labels(this.#proxy, stanza, condition);
      this.#refused.set(key, child);
    }
    return child;
  }

  /** Drops every child from its family. */
  remove(): void {
    const f = this.#families;
    const proxy = this.#proxy;
    for (const gauge of [f.up, f.pending, f.resources, f.affinityKeys, f.subscribers]) {
      gauge.remove(proxy);
    }
    for (const state of RESOURCE_STATES) f.resourcesByState.remove(proxy, state);
    for (const reason of this.#moves.keys()) f.affinityMoves.remove(proxy, reason);
    f.connects.remove(proxy);
    f.duration.remove(proxy);
    for (const outcome of this.#requests.keys()) f.requests.remove({ proxy, outcome });
    for (const [placement, children] of Object.entries(this.#placed ?? {})) {
      for (const outcome of children.keys()) f.requests.remove({ proxy, outcome, placement });
    }
    for (const reason of this.#dropped.keys()) f.dropped.remove(proxy, reason);
    for (const key of this.#refused.keys()) {
      const [stanza, condition] = key.split(" ");
      f.refused.remove(proxy, stanza, condition);
    }
    for (const condition of this.#streamErrors.keys()) f.streamErrors.remove(proxy, condition);
  }

  /** The child for one more label value, cached in `cache`. */
  #child(
    cache: Map<string, Counter.Internal>,
    counter: Counter<string>,
    value: string,
  ): Counter.Internal {
    let child = cache.get(value);
    if (child === undefined) {
      child = counter.labels(this.#proxy, value);
      cache.set(value, child);
    }
    return child;
  }
}

/** Every proxy's series, on one registry. */
export class ProxySeriesTable {
  readonly #families: Families;
  readonly #series = new Map<string, ProxySeries>();

  constructor(registers: Registry[], durationBuckets: readonly number[]) {
    this.#families = families(registers, durationBuckets);
  }

  /** A proxy's series, made on first mention. */
  of(proxy: string): ProxySeries {
    let series = this.#series.get(proxy);
    if (series === undefined) {
      this.#series.set(proxy, series = new ProxySeries(this.#families, proxy));
    }
    return series;
  }

  /** Drops every series of a proxy (one removed by a reload). */
  remove(proxy: string): void {
    this.#series.get(proxy)?.remove();
    this.#series.delete(proxy);
  }
}

/**
 * The closed sets the metrics' labels take their values from (no JID, no
 * resource name: see src/ops/metrics.ts), and the histogram's buckets.
 */
import type { DropReason, Outcome, PlacementKind, UnpinReason } from "../core/router_events.ts";

/**
 * How a request ended, as counted: the router's outcomes plus the
 * refusals of the gates in front of routing, `rejected` (over
 * `max_pending_per_requester`), `rate_limited` (over `rate_limit`) and
 * `forbidden` (refused by `allow` / `deny`). Once the router's Outcome has
 * them too, this is just Outcome.
 */
export type RequestOutcome = Outcome | "rejected" | "rate_limited" | "forbidden";

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
/**
 * Why a stanza was dropped, as counted: the router's reasons, plus those of
 * the link, which drops a stanza shaped like a relay or a sibling's
 * self-ping whose proof fails before the router sees it.
 */
export type CountedDrop = DropReason | "forged_relay" | "forged_ping";

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

/** Every `placement` label value of `client_proxy_requests_total` (with `affinity` on). */
export const PLACEMENTS: readonly PlacementKind[] = Object.freeze(["affinity", "balance"]);
const UNPIN_LABELS: Record<UnpinReason, true> = {
  resource_left: true,
  expired: true,
  evicted: true,
};
/** Every `reason` label value of `client_proxy_affinity_moves_total`. */
export const UNPIN_REASONS: readonly UnpinReason[] = Object.freeze(
  Object.keys(UNPIN_LABELS) as UnpinReason[],
);

/** The `state` label values of `client_proxy_target_resources_by_state`. */
export const RESOURCE_STATES = ["serving", "draining"] as const;

/** How a reload ended: `client_proxy_config_reloads_total`'s `result`. */
export type ReloadResult = "ok" | "failed";
export const RELOAD_RESULTS: readonly ReloadResult[] = ["ok", "failed"];

/**
 * Outcomes whose request was forwarded and then settled by a reply, a
 * timeout or a failover: the ones whose duration says something about the
 * target. Immediate refusals (0 s) and shutdown would only blur it.
 */
export const TIMED_OUTCOMES: ReadonlySet<string> = new Set<RequestOutcome>([
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
export const STREAM_CONDITIONS: ReadonlySet<string> = new Set([
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
export const ERRNO_CODE = /^E[A-Z0-9]{2,15}$/;
/** The link's own reasons: a TLS connection that failed, a server that took nothing for too long. */
export const LINK_FAILURES: ReadonlySet<string> = new Set(["tls-failed", "send-stalled"]);

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

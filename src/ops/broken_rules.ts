/**
 * Which drops and refusals come of a rule the sender broke (hostile or bad
 * input: said as a warning, see src/ops/warn_limiter.ts) and which are
 * ordinary operation (a bounce, a late answer, a full or closing proxy:
 * said at debug only). A Record over both unions, so that `deno check`
 * fails here when the router gains a reason nobody has sorted.
 */
import type { DropReason, RefusalReason } from "../core/router_events.ts";

export const BROKEN_RULES: Readonly<Record<DropReason | RefusalReason, boolean>> = {
  // Dropped. The server stamps `from` and `to` on everything it routes.
  no_address: true,
  not_ours: true,
  // Errors bounce in ordinary operation (a requester gone offline).
  error_stanza: false,
  // A result whose request is over (its wait ended) or never was.
  unexpected_reply: false,
  // The target's: to a resource that is no JID, or names our own domain in any spelling.
  bad_address: true,
  // The target's answer to no request pending (forged, or after `request_timeout`).
  unmatched: true,
  // Two of the target's resources used one id: not the sender's doing.
  ambiguous: false,
  // An answer from a resource the request was not given to.
  wrong_resource: true,
  ignored_presence: false,
  unknown_stanza: true,
  too_big: true,
  // Refused (a request refused at once ends with the same name as outcome).
  bad_request: true,
  forbidden: true,
  rate_limited: true,
  duplicate: true,
  // Over `max_pending_per_requester` or `max_pending_per_domain`.
  rejected: true,
  too_long: true,
  too_many_subscribers: true,
  // What the config turns off: any user's client may try it.
  unsupported: false,
  busy: false,
  no_resource: false,
  shutdown: false,
  failover: false,
};

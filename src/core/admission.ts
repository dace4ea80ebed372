/**
 * Why a request is refused before it is forwarded, in the order
 * Requests.admit (src/core/requests.ts) checks, with the answer and the
 * outcome counted. The behaviour tables in docs/how-it-works.md are
 * rendered from this and src/core/route.ts; tests/core/route_test.ts
 * walks every row against the router.
 */
import type { Outcome } from "./router_events.ts";
import type { StanzaError } from "./stanza.ts";
import {
  BAD_REQUEST,
  BUSY,
  DUPLICATE,
  FORBIDDEN,
  NO_RESOURCE,
  RATE_LIMITED,
  SHUTTING_DOWN,
  TIMEOUT,
  TOO_MANY,
  TOO_MANY_FROM_DOMAIN,
} from "./stanza_errors.ts";

export const ADMISSION = [
  ["it has no `id`", BAD_REQUEST, "bad_request"],
  ["the proxy is shutting down", SHUTTING_DOWN, "shutdown"],
  ["the requester is refused by `allow`/`deny`", FORBIDDEN, "forbidden"],
  ["… with `hide_from_denied`", NO_RESOURCE, "forbidden"],
  ["the requester is over its `rate_limit`", RATE_LIMITED, "rate_limited"],
  ["the requester's domain is over its `rate_limit_per_domain`", RATE_LIMITED, "rate_limited"],
  [
    "it reached a stream that was closing, and has waited `request_timeout` by the time the next " +
    "one serves (a reload)",
    TIMEOUT,
    "timeout",
  ],
  ["a request of the requester with this id is pending", DUPLICATE, "duplicate"],
  ["`max_pending` requests are in flight", BUSY, "busy"],
  ["the requester has `max_pending_per_requester` pending", TOO_MANY, "rejected"],
  ["the requester's domain has `max_pending_per_domain` pending", TOO_MANY_FROM_DOMAIN, "rejected"],
  ["every resource holds `max_pending_per_resource`", BUSY, "busy"],
  [
    "the resource its `affinity` key is pinned to holds `max_pending_per_resource` (the key does " +
    "not move while that resource is online)",
    BUSY,
    "busy",
  ],
  [
    "no resource is online (in the first second after a (re)connect, before the server has said " +
    "which are, it waits for the first one: at most until that second ends, or its `request_timeout`)",
    NO_RESOURCE,
    "no_resource",
  ],
  [
    "every resource online is draining (`<show>dnd</show>`, or named in `drain`), and the request's " +
    "`affinity` key is pinned to none of them",
    NO_RESOURCE,
    "no_resource",
  ],
] as const satisfies ReadonlyArray<readonly [string, StanzaError, Outcome]>;

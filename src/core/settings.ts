/** The settings a router follows: a proxy's config as the core sees it. A reload may replace them. */
import type { Balance } from "./balance.ts";
import type { Gate } from "./gate.ts";
import type { Placement } from "./placement.ts";

/** The settings the router follows; a reload may replace them. */
export interface RouterSettings {
  /** The component's domain, lowercase. */
  readonly domain: string;
  /** The implementing account's bare JID, lowercase. */
  readonly targetAddress: string;
  readonly requestTimeoutMs: number;
  readonly balance: Balance;
  readonly maxPendingPerResource: number;
  readonly maxPending: number;
  /** Let target resources start requests to `<domain>/<JID>`. Default: false. */
  readonly allowTargetRequests?: boolean;
  /** `forward` passes messages both ways; `reject` refuses them. Default: "reject". */
  readonly messages?: "reject" | "forward";
  /** Users may subscribe to the service's availability. Default: false. */
  readonly presence?: boolean;
  /** Users subscribed to the service's presence at most. Default: no cap. */
  readonly maxSubscribers?: number;
  /** Requester patterns let in (src/core/access.ts). Default: everyone. */
  readonly allow?: readonly string[];
  /** Requester patterns refused even when allowed. Default: nobody. */
  readonly deny?: readonly string[];
  /** Answer refused requesters `service-unavailable` instead of `forbidden`. Default: false. */
  readonly hideFromDenied?: boolean;
  /** Token bucket per requester bare JID. Default: none. */
  readonly rateLimit?: { readonly perSecond: number; readonly burst: number };
  /** Requests one requester bare JID may have pending. Default: unlimited. */
  readonly maxPendingPerRequester?: number;
}

/** What the router's parts read of the router they belong to. */
export interface RouterContext {
  /** The settings in force (a reload replaces them). */
  readonly settings: RouterSettings;
  readonly placement: Placement;
  readonly gate: Gate;
  /** False once draining: new requests are refused. */
  readonly accepting: boolean;
  /** Until when, after (re)connecting, a stanza finding no resource waits. */
  readonly learnUntil: number | undefined;
  /** Everything held, both ways: what `max_pending` caps. */
  readonly inFlightCount: number;
}

/** The settings a router follows: a proxy's config as the core sees it. A reload may replace them. */
import type { AffinityShape } from "./affinity_key.ts";
import type { Balance } from "./balance.ts";

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
  /** Requests one requester domain may have pending. Default: unlimited. */
  readonly maxPendingPerDomain?: number;
  /** Token bucket per requester domain. Default: none. */
  readonly rateLimitPerDomain?: { readonly perSecond: number; readonly burst: number };
  /** Subscribers one domain may have (presence: true). Default: no cap. */
  readonly maxSubscribersPerDomain?: number;
  /** Requests placed by their content (src/core/affinity.ts). Default: none, all by `balance`. */
  readonly affinity?: readonly AffinityShape[];
  /** A pin unused this long ends. Default: 1 h. */
  readonly affinityIdleMs?: number;
  /** Pins kept at most; the least recently used goes first. Default: 100,000. */
  readonly maxAffinityKeys?: number;
  /** Resources (by resourcepart) drained whatever their presence says. Default: none. */
  readonly drain?: readonly string[];
}

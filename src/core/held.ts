/**
 * A request in flight and the resource holding it point at each other:
 * both records live here, so that the tables of each (pending.ts,
 * resources.ts) need not import one another.
 */
import type { Count } from "./tally.ts";

/** A request forwarded to a resource that has not been answered yet. */
export interface Pending extends Timed {
  /** `<resource of our JID used as from>\0<id>`: how the reply finds it. */
  readonly key: string;
  /** The requester's full JID, as the server stamped it. */
  readonly requester: string;
  /** The requester's bare JID, lowercase (balancing, limits). */
  readonly requesterBare: string;
  /** The requester's domain, prepared (src/core/jid.ts domainKey): per-domain limits. */
  readonly requesterDomain: string;
  readonly id: string;
  /**
   * The address the request was sent to, when not the bare domain (a
   * resource of it): our answers come from it, as refusals do. Undefined:
   * the bare domain.
   */
  readonly replyFrom: string | undefined;
  readonly type: "get" | "set";
  /** What it is about (`affinity`): where a failover re-sends it. */
  readonly affinityKey: string | undefined;
  /** The resource of our JID the request was sent from. */
  readonly via: string;
  /**
   * The request as forwarded, serialised: kept only for a get (re-sent on
   * failover), within the copies' budget, and until it is re-sent. Text,
   * not the parsed tree: a few dozen bytes that pin nothing else, where a
   * tree would hold the socket chunk it came from.
   */
  request: string | undefined;
  readonly started: number;
  /** The resource holding it, or undefined while it waits unattached. */
  resource: Resource | undefined;
  /** The full JID the reply must come from. */
  resourceJid: string;
  /** Whether it was already re-sent once after a failover. */
  retried: boolean;
  /** Its cells in the pending table's per-requester and per-domain counts (set by the table). */
  requesterCount?: Count;
  domainCount?: Count;
}

/** One online resource of the implementing account. */
export interface Resource {
  /** The resourcepart, as the server stamped it. */
  readonly name: string;
  /** The full JID to send requests to, as the server stamped it. */
  readonly jid: string;
  /** Presence priority (RFC 6121 §4.7.2.3); negative ones are a last resort. */
  priority: number;
  /** Its presence says `<show>dnd</show>`. */
  dnd: boolean;
  /** It says `dnd`, or the config's `drain` names it: it takes no new work, only its pinned keys. */
  draining: boolean;
  /** The requests this resource holds now. */
  readonly pending: Set<Pending>;
}

/** What a deadline table holds: a key and a deadline from a timeout. */
export interface Timed {
  readonly key: string;
  readonly deadline: number;
  readonly timeoutMs: number;
}

/**
 * What the router reports and asks for, as values: the events the shell
 * logs and counts (src/ops/ imports these types and nothing else of the
 * core), and the {@link Effects} of one step.
 */
import type { XmlElement } from "./xml.ts";

/** How a request ended, for logs and metrics. */
export type Outcome =
  | "forbidden"
  | "rate_limited"
  | "rejected"
  | "result"
  | "error"
  | "timeout"
  | "failover"
  | "no_resource"
  | "busy"
  | "duplicate"
  | "shutdown"
  | "bad_request";

/** How a request was placed: by its affinity key, or by `balance` (it has none). */
export type PlacementKind = "affinity" | "balance";

/** Why an affinity pin ended (src/core/affinity.ts). */
export type UnpinReason = "resource_left" | "expired" | "evicted";

/** Why an incoming stanza was dropped without an answer. */
export type DropReason =
  | "no_address"
  | "not_ours"
  | "error_stanza"
  | "unexpected_reply"
  | "bad_address"
  | "unmatched"
  /** A message error whose id two resources used towards the same JID. */
  | "ambiguous"
  | "wrong_resource"
  | "ignored_presence"
  | "unknown_stanza"
  /** Over `max_stanza_size`: its payload was skipped unread. */
  | "too_big";

/**
 * Why a stanza was answered with an error instead of being served: how a
 * request refused at once ends, or one of these.
 */
export type RefusalReason =
  | Exclude<Outcome, "result" | "error" | "timeout">
  /** Over `max_stanza_size`: its payload was skipped unread. */
  | "too_big"
  /** A user's message whose address does not fit in a resource. */
  | "too_long"
  /** The target's stanza to a `<domain>/<JID>` whose resource is no JID. */
  | "bad_address"
  /** What the config does not take (presence, messages, the target's requests). */
  | "unsupported"
  /** A new subscriber over `max_subscribers` or `max_subscribers_per_domain`. */
  | "too_many_subscribers";

/** How a request ends when it is refused: the outcome and the refusal's reason at once. */
export type RefusalOutcome = Outcome & RefusalReason;

/** An available target resource as operators see it (`/status`). */
export interface ResourceState {
  /** Its resourcepart. */
  readonly name: string;
  /** It says `<show>dnd</show>`, or the config's `drain` names it. */
  readonly draining: boolean;
  /** Requests it holds now. */
  readonly pending: number;
  /** `affinity` keys pinned to it. */
  readonly keys: number;
}

/** What happened, for the shell to log and count. */
export type RouterEvent =
  | {
    readonly type: "forwarded";
    readonly requester: string;
    readonly id: string;
    readonly resource: string;
    readonly retry: boolean;
  }
  | {
    readonly type: "outcome";
    readonly outcome: Outcome;
    readonly requester: string;
    readonly id: string | undefined;
    readonly durationMs: number;
    /** How a user's request was placed, when `affinity` is on; else absent. */
    readonly placement?: PlacementKind;
  }
  | {
    readonly type: "dropped";
    readonly reason: DropReason;
    readonly stanza: string;
    readonly from: string | undefined;
    readonly to: string | undefined;
    readonly id: string | undefined;
  }
  | {
    readonly type: "refused";
    readonly reason: RefusalReason;
    readonly condition: string;
    readonly stanza: string;
    readonly from: string;
  }
  | {
    /** A resource came or went, or began or stopped draining (`<show>dnd</show>`). */
    readonly type: "resource";
    readonly change: "up" | "down" | "draining" | "undrained";
    readonly resource: string;
    /** How many resources are online. */
    readonly count: number;
  }
  | {
    /** Persist this pin (`state_dir`): `key` is served by `resource`. */
    readonly type: "pinned";
    readonly key: string;
    readonly resource: string;
  }
  | {
    /** These pins ended; persisted ones are forgotten. */
    readonly type: "unpinned";
    readonly keys: readonly string[];
    readonly reason: UnpinReason;
  }
  | {
    /**
     * A message passed on (either way), or a request the target started
     * sent to its peer: who sent it, and where it went. Logged at debug.
     */
    readonly type: "passed";
    readonly stanza: "message" | "target_request";
    readonly from: string;
    readonly to: string;
    readonly id: string | undefined;
  }
  | {
    /** Persist this before sending the step's stanzas (presence: true). */
    readonly type: "subscriber";
    readonly change: "add" | "remove";
    readonly jid: string;
  }
  | {
    readonly type: "subscription";
    readonly state: "requested" | "approved" | "error" | "revoked";
    readonly retryInMs?: number;
  };

/** What one step of the router asks the shell to do. */
export interface Effects {
  /** Stanzas to send, in order. */
  readonly send: XmlElement[];
  /** Things that happened, in order. */
  readonly events: RouterEvent[];
}

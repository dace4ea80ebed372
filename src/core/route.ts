/**
 * Which rule an incoming stanza meets: {@link ROUTES} is the whole routing
 * table, one row per case, first match wins, and {@link classify} looks a
 * stanza up in it. The router then runs the rule the row names; the
 * behaviour table in docs/how-it-works.md is rendered from these rows.
 */
import { prepDomain } from "./jid.ts";
import type { DropReason, RefusalReason } from "./router_events.ts";
import type { RouterSettings } from "./settings.ts";
import type { StanzaError } from "./stanza.ts";
import { BAD_REQUEST, NOT_IMPLEMENTED, TOO_BIG } from "./stanza_errors.ts";
import { isOversized, type XmlElement } from "./xml.ts";

/** What a stanza's `type` makes it, for routing. */
export type Kind =
  /** iq get or set. */
  | "request"
  /** iq result. */
  | "result"
  /** Any stanza of type error. */
  | "error"
  /** iq of any other type (invalid, RFC 6120 §8.2.3). */
  | "bad_iq"
  /** Presence or message of any type but error. */
  | "other";

/** Who sent it: the implementing account (any resource of it), or anyone else. */
export type Sender = "target" | "other";

/** Where it was sent: the bare domain, or `<domain>/<something>`. */
export type Recipient = "domain" | "resource";

/** What a row needs besides the stanza's shape. */
export type Condition =
  | "allow_target_requests"
  | "messages: forward"
  | "presence: true"
  /** The target has requests of its own in flight (allow_target_requests). */
  | "target requests in flight"
  /** The stanza is larger than `max_stanza_size`: only its start tag was read. */
  | "over max_stanza_size";

/** The rules the router runs (src/core/router.ts dispatches on these). */
export type Rule =
  | "request"
  | "reply"
  | "reply_too_big"
  | "target_request"
  | "target_request_reply"
  | "target_request_reply_too_big"
  | "target_presence"
  | "user_presence"
  | "user_message"
  | "message_error"
  | "target_message"
  | "target_message_error";

/** What to do with a stanza: run a rule, answer it with an error, or drop it. */
export type Decision =
  | { readonly kind: "rule"; readonly rule: Rule }
  | { readonly kind: "refuse"; readonly error: StanzaError; readonly reason: RefusalReason }
  | { readonly kind: "drop"; readonly reason: DropReason };

/** One row of the routing table; "*" matches anything. */
export interface Route {
  readonly stanza: "iq" | "presence" | "message" | "*";
  readonly kind: Kind | "*";
  readonly from: Sender | "*";
  readonly to: Recipient | "*";
  /** The row applies only while this holds (undefined: always). */
  readonly when: Condition | undefined;
  readonly then: Decision;
  /** The row for readers: the stanza, and (for a rule) what it does or (else) a note. */
  readonly doc: readonly [string, string?];
}

const UNKNOWN: Decision = { kind: "drop", reason: "unknown_stanza" };
const TOO_BIG_DROP: Decision = { kind: "drop", reason: "too_big" };
const BAD_REQUEST_REFUSAL: Decision = { kind: "refuse", error: BAD_REQUEST, reason: "bad_request" };

/** The routing table, in the order it is read. */
export const ROUTES: readonly Route[] = [
  // Stanzas too big to read: their payload was skipped.
  route("iq", "request", "*", "*", { kind: "refuse", error: TOO_BIG, reason: "too_big" }, [
    "iq get/set from anyone, to the domain or any resource of it",
    "its payload was never read",
  ], "over max_stanza_size"),
  route("iq", "result", "target", "resource", { kind: "rule", rule: "reply_too_big" }, [
    "iq result from the target to `<domain>/<requester>`",
    "if it answers a pending request, its requester gets `internal-server-error` at once instead " +
    "of the timeout; dropped either way",
  ], "over max_stanza_size"),
  route("iq", "error", "target", "resource", { kind: "rule", rule: "reply_too_big" }, [
    "iq error from the target to `<domain>/<requester>`",
    "as a result",
  ], "over max_stanza_size"),
  route("iq", "result", "*", "domain", { kind: "rule", rule: "target_request_reply_too_big" }, [
    "iq result to the bare domain",
    "if it answers one of the target's requests, the resource that asked gets " +
    "`internal-server-error` at once; dropped either way",
  ], "over max_stanza_size"),
  route("iq", "error", "*", "domain", { kind: "rule", rule: "target_request_reply_too_big" }, [
    "iq error to the bare domain",
    "as a result",
  ], "over max_stanza_size"),
  route("*", "*", "*", "*", TOO_BIG_DROP, [
    "any other stanza",
    "its payload was never read",
  ], "over max_stanza_size"),
  // Requests and their replies.
  route("iq", "request", "other", "*", { kind: "rule", rule: "request" }, [
    "iq get/set from anyone but the target, to the domain or any resource of it",
    "forwarded to one available resource (see balancing, and affinity), unless refused (next table)",
  ]),
  route("iq", "result", "target", "resource", { kind: "rule", rule: "reply" }, [
    "iq result from the target to `<domain>/<requester>`",
    "sent back to the requester from the address it asked, payload unchanged, if it answers a pending " +
    "request (same id, from the resource that was given it); otherwise dropped",
  ]),
  route("iq", "error", "target", "resource", { kind: "rule", rule: "reply" }, [
    "iq error from the target to `<domain>/<requester>`",
    "as a result; but `service-unavailable` or `recipient-unavailable` from a resource not known " +
    "to be online is the server bouncing the request: a failover",
  ]),
  // The target's own requests.
  route("iq", "request", "target", "resource", { kind: "rule", rule: "target_request" }, [
    "iq get/set from the target to `<domain>/<JID>`",
    "sent to the JID from the bare domain, under an id of ours; its reply goes back to the resource",
  ], "allow_target_requests"),
  route("iq", "request", "target", "resource", {
    kind: "refuse",
    error: NOT_IMPLEMENTED,
    reason: "unsupported",
  }, [
    "iq get/set from the target to `<domain>/<JID>`",
  ]),
  route("iq", "request", "target", "domain", BAD_REQUEST_REFUSAL, [
    "iq get/set from the target to the bare domain",
  ]),
  route("iq", "result", "*", "domain", { kind: "rule", rule: "target_request_reply" }, [
    "iq result to the bare domain",
    "sent back to the resource that asked, if it answers one of those requests; otherwise dropped",
  ], "target requests in flight"),
  route("iq", "error", "*", "domain", { kind: "rule", rule: "target_request_reply" }, [
    "iq error to the bare domain",
    "as a result",
  ], "target requests in flight"),
  route("iq", "result", "*", "*", { kind: "drop", reason: "unexpected_reply" }, [
    "any other iq result",
    "never answered (RFC 6120 §8.2.3)",
  ]),
  route("iq", "error", "*", "*", { kind: "drop", reason: "error_stanza" }, [
    "any other iq error",
    "never answered (RFC 6120 §8.3.1)",
  ]),
  route("iq", "bad_iq", "*", "*", BAD_REQUEST_REFUSAL, [
    "an iq of a type other than get, set, result or error",
  ]),
  // Presence.
  route("presence", "*", "target", "resource", { kind: "drop", reason: "ignored_presence" }, [
    "the target's presence to `<domain>/<JID>` (directed)",
    "only presence to the bare domain says which resources are online and how the subscription stands",
  ]),
  route("presence", "*", "target", "domain", { kind: "rule", rule: "target_presence" }, [
    "the target's presence to the bare domain",
    "its resources come and go (see Resources); a subscription request is approved (`subscribed`)",
  ]),
  route("presence", "error", "other", "*", { kind: "drop", reason: "error_stanza" }, [
    "presence of type error from anyone but the target",
  ]),
  route("presence", "*", "other", "*", { kind: "rule", rule: "user_presence" }, [
    "presence from anyone but the target",
    "a subscription to the service's availability, or a probe of it",
  ], "presence: true"),
  route("presence", "*", "other", "*", {
    kind: "refuse",
    error: BAD_REQUEST,
    reason: "unsupported",
  }, [
    "presence from anyone but the target",
  ]),
  // Messages.
  route("message", "error", "other", "domain", { kind: "rule", rule: "message_error" }, [
    "message error to the bare domain",
    "back to the resource whose message it refuses, if that can be told; otherwise dropped",
  ], "messages: forward"),
  route("message", "error", "target", "resource", { kind: "rule", rule: "target_message_error" }, [
    "message error from the target to `<domain>/<JID>`",
    "sent to the JID from the bare domain",
  ], "messages: forward"),
  route("message", "error", "*", "*", { kind: "drop", reason: "error_stanza" }, [
    "any other message error",
  ]),
  route("message", "other", "target", "domain", BAD_REQUEST_REFUSAL, [
    "message from the target to the bare domain",
  ]),
  route("message", "other", "target", "resource", { kind: "rule", rule: "target_message" }, [
    "message from the target to `<domain>/<JID>`",
    "sent to the JID from the bare domain",
  ], "messages: forward"),
  route("message", "other", "other", "*", { kind: "rule", rule: "user_message" }, [
    "message from anyone but the target",
    "to the resource that has the sender's conversation, after the same gate as a request",
  ], "messages: forward"),
  route("message", "other", "*", "*", {
    kind: "refuse",
    error: NOT_IMPLEMENTED,
    reason: "unsupported",
  }, [
    "any other message",
  ]),
  route("*", "*", "*", "*", UNKNOWN, [
    "any other element",
  ]),
];

/** What {@link classify} found: the decision, and the addresses it read. */
export interface Classified {
  readonly then: Decision;
  /** The `to` resource (after the first "/"), if any. */
  readonly toResource: string | undefined;
  /** Where the resource of `from` starts (the "/"), or -1. */
  readonly fromSlash: number;
}

const NO_ADDRESS: Classified = {
  then: { kind: "drop", reason: "no_address" },
  toResource: undefined,
  fromSlash: -1,
};
const NOT_OURS: Classified = {
  then: { kind: "drop", reason: "not_ours" },
  toResource: undefined,
  fromSlash: -1,
};
/** Too big, and not addressed to us either: dropped as too big. */
const TOO_BIG_UNREAD: Classified = { then: TOO_BIG_DROP, toResource: undefined, fromSlash: -1 };

/**
 * Looks a stanza up in {@link ROUTES}. Pure.
 *
 * @param targetRequestsInFlight whether the target has requests of its own in flight
 */
export function classify(
  stanza: XmlElement,
  settings: RouterSettings,
  targetRequestsInFlight: boolean,
): Classified {
  const { to, from, type } = stanza.attrs;
  const big = isOversized(stanza);
  // A server stamps a `from` on everything; an empty one, or one that
  // starts with "/" (no domain), could only collide with our tokens.
  if (to === undefined || from === undefined || from === "" || from.charCodeAt(0) === 47) {
    return big ? TOO_BIG_UNREAD : NO_ADDRESS;
  }
  const { domain, targetAddress } = settings;
  const slash = to.indexOf("/");
  if (!isBare(to, slash < 0 ? to.length : slash, domain)) return big ? TOO_BIG_UNREAD : NOT_OURS;
  const fromSlash = from.indexOf("/");
  const fromEnd = fromSlash < 0 ? from.length : fromSlash;
  const fromTarget = isBare(from, fromEnd, targetAddress) ||
    isOtherFormOf(from, fromEnd, targetAddress);
  const rows = INDEX[shapeIndex(stanza.name, type, fromTarget, slash >= 0)];
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (row.when === undefined || holds(row.when, settings, targetRequestsInFlight, big)) {
      return { then: row.then, toResource: slash < 0 ? undefined : to.slice(slash + 1), fromSlash };
    }
  }
  return { then: UNKNOWN, toResource: undefined, fromSlash };
}

/**
 * Whether `jid` up to `end` is `bare` (lowercase), as written or once
 * lower-cased; without cutting or copying it, since this runs for every
 * stanza and nearly always answers at the first comparison.
 */
function isBare(jid: string, end: number, bare: string): boolean {
  if (end === bare.length) {
    if (jid.startsWith(bare)) return true;
  } else if (end > bare.length || jid.lastIndexOf("\u0130", end - 1) < 0) {
    // Lower-casing changes the length only of U+0130 (İ → i̇), which it lengthens.
    return false;
  }
  // Only a capital (or a non-ASCII letter) can lower-case into a match.
  for (let i = 0; i < end; i++) {
    const c = jid.charCodeAt(i);
    if ((c >= 65 && c <= 90) || c >= 128) return jid.slice(0, end).toLowerCase() === bare;
  }
  return false;
}

/**
 * Whether `jid` up to `end` is `bare` with its IDN domain in the other form
 * (A-label for U-label, or the other way round), as a server configured with
 * the other spelling stamps it; the localpart as {@link isBare} compares it.
 * Only for a target that has an IDN: a plain ASCII one costs nothing here.
 */
function isOtherFormOf(jid: string, end: number, bare: string): boolean {
  if (bare !== idnTarget) {
    idnTarget = bare;
    const at = bare.indexOf("@");
    idnDomain = IDN.test(bare.slice(at + 1)) ? prepDomain(bare.slice(at + 1)) : undefined;
    idnLocal = bare.slice(0, at + 1);
  }
  if (idnDomain === undefined) return false;
  const at = jid.indexOf("@");
  if (at < 0 || at >= end || !IDN.test(jid.slice(at + 1, end))) return false;
  return jid.slice(0, at + 1).toLowerCase() === idnLocal &&
    prepDomain(jid.slice(at + 1, end)) === idnDomain;
}

/** A non-ASCII character, or an A-label. */
const IDN = /[\u0080-\uffff]|xn--/i;
// The last target seen, its localpart (with its `@`) and its domain prepared.
let idnTarget = "";
let idnLocal = "";
let idnDomain: string | undefined;

const NAMES = ["iq", "presence", "message", "*"] as const;
const KINDS = ["request", "result", "error", "bad_iq", "other"] as const;

/** Where a stanza's shape (name, kind, sender, recipient) is in {@link INDEX}. */
function shapeIndex(name: string, type: string | undefined, target: boolean, resource: boolean) {
  const n = name === "iq" ? 0 : name === "presence" ? 1 : name === "message" ? 2 : 3;
  let k: number;
  if (type === "error") k = 2;
  else if (n !== 0) k = 4;
  else if (type === "get" || type === "set") k = 0;
  else k = type === "result" ? 1 : 3;
  return ((n * 5 + k) * 2 + (target ? 1 : 0)) * 2 + (resource ? 1 : 0);
}

/** For each shape, the rows it can meet in table order: only their conditions are left to test. */
const INDEX: readonly (readonly Route[])[] = (() => {
  const index: Route[][] = [];
  for (const [n, name] of NAMES.entries()) {
    for (const [k, kind] of KINDS.entries()) {
      for (const sender of ["other", "target"] as const) {
        for (const recipient of ["domain", "resource"] as const) {
          index[
            ((n * 5 + k) * 2 + (sender === "target" ? 1 : 0)) * 2 +
            (recipient === "resource" ? 1 : 0)
          ] = ROUTES.filter((row) =>
            (row.stanza === "*" || row.stanza === name) &&
            (row.kind === "*" || row.kind === kind) && (row.from === "*" || row.from === sender) &&
            (row.to === "*" || row.to === recipient)
          );
        }
      }
    }
  }
  return index;
})();

function holds(
  condition: Condition,
  settings: RouterSettings,
  inFlight: boolean,
  big: boolean,
): boolean {
  switch (condition) {
    case "over max_stanza_size":
      return big;
    case "allow_target_requests":
      return settings.allowTargetRequests === true;
    case "messages: forward":
      return settings.messages === "forward";
    case "presence: true":
      return settings.presence === true;
    case "target requests in flight":
      return inFlight;
  }
}

function route(
  stanza: Route["stanza"],
  kind: Route["kind"],
  from: Route["from"],
  to: Route["to"],
  then: Decision,
  doc: readonly [string, string?],
  when?: Condition,
): Route {
  return { stanza, kind, from, to, when, then, doc };
}

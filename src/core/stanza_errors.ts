/**
 * The stanza errors the router answers with (RFC 6120 §8.3.3), by what they
 * mean here. The type tells the sender whether asking again can help.
 */
import type { StanzaError } from "./stanza.ts";

/** No resource can take it. */
export const NO_RESOURCE: StanzaError = { type: "cancel", condition: "service-unavailable" };
export const SHUTTING_DOWN: StanzaError = {
  type: "wait",
  condition: "service-unavailable",
  text: "the proxy is shutting down",
};
export const HANDED_OVER: StanzaError = {
  type: "wait",
  condition: "service-unavailable",
  text: "another instance of the proxy serves this domain now",
};
/** Every resource full, or `max_pending` reached. */
export const BUSY: StanzaError = { type: "wait", condition: "resource-constraint" };
export const TIMEOUT: StanzaError = { type: "wait", condition: "remote-server-timeout" };
/** A set whose resource left: it may have taken effect, so it is never re-sent. */
export const SET_LOST: StanzaError = { type: "wait", condition: "recipient-unavailable" };
export const DUPLICATE: StanzaError = {
  type: "cancel",
  condition: "conflict",
  text: "a request with this id is already pending",
};
export const BAD_REQUEST: StanzaError = { type: "modify", condition: "bad-request" };
export const MALFORMED: StanzaError = {
  type: "modify",
  condition: "jid-malformed",
  text: "the resource of the address is not a JID",
};
export const TOO_LONG: StanzaError = {
  type: "modify",
  condition: "not-acceptable",
  text: "the sender's address is too long to forward",
};
export const FORBIDDEN: StanzaError = { type: "auth", condition: "forbidden" };
export const RATE_LIMITED: StanzaError = {
  type: "wait",
  condition: "resource-constraint",
  text: "rate limit exceeded",
};
export const TOO_MANY: StanzaError = {
  type: "wait",
  condition: "resource-constraint",
  text: "too many requests pending",
};
export const NOT_IMPLEMENTED: StanzaError = {
  type: "cancel",
  condition: "feature-not-implemented",
};
export const TOO_MANY_FROM_DOMAIN: StanzaError = {
  type: "wait",
  condition: "resource-constraint",
  text: "too many requests pending from this domain",
};
/**
 * The answer to a request came over `max_stanza_size`: its requester is
 * told at once rather than left to its timeout (RFC 6120 §8.3.3.6).
 */
export const ANSWER_TOO_BIG: StanzaError = {
  type: "cancel",
  condition: "internal-server-error",
  text: "the answer is larger than this service accepts",
};
/** Over `max_stanza_size`: its payload was skipped unread (RFC 6120 §8.3.3.12). */
export const TOO_BIG: StanzaError = {
  type: "modify",
  condition: "policy-violation",
  text: "the stanza is larger than this service accepts",
};

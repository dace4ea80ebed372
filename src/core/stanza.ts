/**
 * Building the stanzas the proxy writes itself: error replies (RFC 6120
 * §8.3) and presence to the implementing account.
 */
import { xml, type XmlElement } from "./xml.ts";
import { normalizeJid } from "./jid.ts";

/** RFC 6120 §8.3.2: the error type tells the sender whether to retry. */
export type ErrorType = "auth" | "cancel" | "continue" | "modify" | "wait";

/** The defined conditions this proxy sends (RFC 6120 §8.3.3). */
export type Condition =
  | "bad-request"
  | "conflict"
  | "feature-not-implemented"
  | "forbidden"
  | "internal-server-error"
  | "jid-malformed"
  | "not-acceptable"
  | "policy-violation"
  | "recipient-unavailable"
  | "remote-server-timeout"
  | "resource-constraint"
  | "service-unavailable";

/** The namespace of stanza error conditions. */
export const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

/** An error we answer with: type, condition and an optional human text. */
export interface StanzaError {
  readonly type: ErrorType;
  readonly condition: Condition;
  readonly text?: string;
}

/**
 * The error reply to a stanza (RFC 6120 §8.3.1): same name and id, to its
 * sender, from the given address (ours), without echoing the payload.
 */
export function errorReply(
  name: string,
  addressing: { to: string; from: string; id: string | undefined },
  error: StanzaError,
): XmlElement {
  const el = xml(
    "error",
    { type: error.type },
    xml(error.condition, { xmlns: NS_STANZAS }),
  );
  if (error.text !== undefined) {
    el.children.push(xml("text", { xmlns: NS_STANZAS }, error.text));
  }
  return xml(name, {
    type: "error",
    id: addressing.id,
    to: addressing.to,
    from: addressing.from,
  }, el);
}

/** Whether a stanza is a request: an iq get or set (RFC 6120 §8.2.3). */
export function isRequest(stanza: XmlElement): boolean {
  const type = stanza.attrs.type;
  return stanza.name === "iq" && (type === "get" || type === "set");
}

/**
 * The error answer to a stanza if it is a request (an iq get or set with a
 * sender), from the address it was sent to (`domain` when it has none);
 * undefined for anything else, which is never answered (RFC 6120 §8.2.3).
 */
export function requestError(
  stanza: XmlElement,
  domain: string,
  error: StanzaError,
): XmlElement | undefined {
  const { from, to, id } = stanza.attrs;
  if (!isRequest(stanza) || from === undefined) return undefined;
  // In the form the server stamps our domain, as refusals are (effects.ts).
  return errorReply(
    "iq",
    { to: from, from: to === undefined ? domain : normalizeJid(to), id },
    error,
  );
}

/** A presence stanza of the given type (undefined: available). */
export function presence(
  type: string | undefined,
  addressing: { to: string; from: string },
): XmlElement {
  return xml("presence", { type, to: addressing.to, from: addressing.from });
}

/** The condition of an error stanza, if it carries a defined one. */
export function errorCondition(stanza: XmlElement): string | undefined {
  const error = stanza.getChild("error");
  if (!error) return undefined;
  for (const child of error.children) {
    if (
      typeof child !== "string" && child.attrs.xmlns === NS_STANZAS &&
      child.name !== "text"
    ) {
      return child.name;
    }
  }
  return undefined;
}

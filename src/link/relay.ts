/**
 * Relays: a stanza handed from one instance to its sibling through the
 * server, wrapped in a message from our domain to itself, which the server
 * gives to one of the domain's connections (to the sender again, at worst,
 * which relays it again). The stanza travels as text, so its namespace and
 * addresses reach the other side untouched.
 */
import { parseXml, serialize, xml, type XmlElement } from "../core/xml.ts";

/** Our own wrapper's namespace. */
const NS_RELAY = "urn:xmpp:client-proxy:relay:0";

/** The relay of `el` to a sibling on `domain`, as text for the stream. */
export function relayText(el: XmlElement, domain: string): string {
  return serialize(
    xml("message", { from: domain, to: domain }, xml("relay", { xmlns: NS_RELAY }, serialize(el))),
  );
}

/**
 * The stanza to handle: `el` itself, or the one a sibling relayed to us in
 * it (only our own domain can send from it), or undefined for a relay that
 * bounced or does not parse.
 */
export function unwrapRelay(el: XmlElement, domain: string): XmlElement | undefined {
  if (el.name !== "message" || el.attrs.from !== domain || el.attrs.to !== domain) return el;
  const relay = el.getChild("relay", NS_RELAY);
  if (!relay) return el;
  // A relay the server bounced (no connection took it): what it carried was
  // for a sibling that is gone; read again, it would be relayed again.
  if (el.attrs.type === "error") return undefined;
  try {
    return parseXml(relay.getText());
  } catch {
    return undefined;
  }
}

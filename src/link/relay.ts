/**
 * Relays: a stanza handed from one instance to its sibling through the
 * server, wrapped in a message from our domain to itself, which the server
 * gives to one of the domain's connections (to the sender again, at worst,
 * which relays it again). The stanza travels as text, so its namespace and
 * addresses reach the other side untouched. The wrapper names the sending
 * stream (as a self-ping's `by` does) and carries a proof (proof.ts) over
 * that name and the text: only an instance holding the secret makes one.
 * A stanza over `max_stanza_size` travels as what is left of it (its start
 * tag) marked as such, under the proof: the sibling handles it as too big,
 * never as a stanza that had no payload.
 */
import { utf8Length } from "../core/byte_length.ts";
import {
  isOversized,
  oversizedElement,
  parseXml,
  serialize,
  xml,
  type XmlElement,
} from "../core/xml.ts";
import type { Proof, Verdict } from "./proof.ts";
import type { CheckProof } from "./self_ping.ts";

/** Room for the attributes a server adds to the relay's message (ejabberd: `xml:lang='en'`). */
const SERVER_ADDS = 64;

/** Our own wrapper's namespace. */
const NS_RELAY = "urn:xmpp:client-proxy:relay:0";

/** What a relay's proof covers: who sent it, what it carries, and whether that was cut short. */
export function relayFields(by: string, text: string, oversized = false): string[] {
  return oversized ? ["relay", by, text, "oversized"] : ["relay", by, text];
}

/**
 * The relay of `el` to a sibling on `domain`, sent `by` a stream (its
 * self-ping prefix), as text for the stream; `sign` makes the proof. A
 * relay longer than `maxBytes` (the stanza size limit the sibling reads
 * with) would be dropped there unread: `el` then goes as too big.
 */
export function relayText(
  el: XmlElement,
  domain: string,
  by: string,
  sign: (fields: readonly string[]) => Proof,
  maxBytes = Infinity,
): string {
  const text = serialize(el);
  const big = isOversized(el);
  const relay = wrap(text, big, domain, by, sign);
  // Servers write the relay again, with quotes in text escaped too (&quot;, &apos;: 5 bytes more
  // each) and attributes of their own (xml:lang): its size as the sibling reads it.
  if (utf8Length(relay) + 5 * quotesIn(text) + SERVER_ADDS <= maxBytes) return relay;
  // A head too big itself (a start tag past the limit) keeps what an answer needs.
  const attrs = big ? addressing(el.attrs) : { ...el.attrs };
  return wrap(serialize(oversizedElement(el.name, attrs, null)), true, domain, by, sign);
}

/** The attributes a stanza's answer is addressed by. */
function addressing(attrs: XmlElement["attrs"]): Record<string, string | undefined> {
  const { type, id, from, to } = attrs;
  return { type, id, from, to };
}

function wrap(
  text: string,
  big: boolean,
  domain: string,
  by: string,
  sign: (fields: readonly string[]) => Proof,
): string {
  const proof = sign(relayFields(by, text, big));
  const attrs = { xmlns: NS_RELAY, by, ...(big ? { oversized: "true" } : {}), ...proof };
  // Escaped text, not CDATA: ejabberd (where relays happen) re-serialises what it routes, CDATA
  // as escaped text, so the sibling reads the escaped size whatever is sent.
  return serialize(xml("message", { from: domain, to: domain }, xml("relay", attrs, text)));
}

/** What a message from our domain to itself with a relay in it is. */
export type Relay =
  /** The server bounced it (no connection took it): dropped, never read again. */
  | { readonly kind: "bounced" }
  /** Its proof fails, or what it carries does not parse. */
  | { readonly kind: "refused"; readonly verdict: Exclude<Verdict, "valid">; readonly by?: string }
  /** A relay whose proof holds: the stanza it carries, and the stream that sent it. */
  | { readonly kind: "relay"; readonly stanza: XmlElement; readonly by: string };

/**
 * `el` as a relay (only our own domain can send from it), its proof
 * checked with `check`; undefined for any other stanza.
 */
export function readRelay(el: XmlElement, domain: string, check: CheckProof): Relay | undefined {
  if (el.name !== "message" || el.attrs.from !== domain || el.attrs.to !== domain) return undefined;
  const relay = el.getChild("relay", NS_RELAY);
  if (!relay) return undefined;
  // What it carried was for a sibling that is gone; read again, it would
  // be relayed again.
  if (el.attrs.type === "error") return { kind: "bounced" };
  const { by, t, nonce, mac } = relay.attrs;
  if (by === undefined) return { kind: "refused", verdict: "missing" };
  const text = relay.getText();
  const big = relay.attrs.oversized === "true";
  const verdict = check(relayFields(by, text, big), { t, nonce, mac });
  if (verdict !== "valid") return { kind: "refused", verdict, by };
  try {
    const stanza = parseXml(text);
    return {
      kind: "relay",
      stanza: big ? oversizedElement(stanza.name, { ...stanza.attrs }, null) : stanza,
      by,
    };
  } catch {
    return { kind: "refused", verdict: "bad", by };
  }
}

function quotesIn(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 || c === 39) count++;
  }
  return count;
}

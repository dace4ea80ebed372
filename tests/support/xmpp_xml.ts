/**
 * xmpp.js's own XML parser (`@xmpp/xml`, on ltx), typed: the reference the
 * scanner is compared with, and what the benchmark's minimal component
 * parses with. The proxy itself does not use it.
 */
import xmppXml from "@xmpp/xml";
import type { XmlElement } from "../../src/core/xml.ts";

/** The events of `@xmpp/xml`'s stream parser that the tests and the bench read. */
export interface XmppXmlParser {
  on(event: "element" | "start", listener: (el: XmlElement) => void): void;
  on(event: "error", listener: (error: Error) => void): void;
  write(data: string): void;
}

/** A new `@xmpp/xml` Parser: "start" with the root, "element" with each child of it. */
export function xmppXmlParser(): XmppXmlParser {
  const { Parser } = xmppXml as unknown as { Parser: new () => XmppXmlParser };
  return new Parser();
}

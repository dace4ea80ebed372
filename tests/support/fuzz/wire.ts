/**
 * The wire's text both ways: what the router receives can be read from
 * text by the stream parser, as in production, and what it sends must
 * survive being written and parsed back.
 */
import { StreamParser } from "../../../src/link/stream_parser.ts";
import { parseXml, serialize, type XmlElement } from "../../../src/core/xml.ts";
import { short } from "./helpers.ts";
import type { Model } from "./model/state.ts";

/** The server's side of the stream: stanzas in as text, lazy elements out. */
export class Wire {
  readonly #parser = new StreamParser();
  #last: XmlElement | undefined;

  constructor(domain: string) {
    this.#parser.on("element", (el: XmlElement) => (this.#last = el));
    this.#parser.on("error", (error: Error) => {
      throw error;
    });
    this.#parser.write(
      `<stream:stream xmlns='jabber:component:accept' ` +
        `xmlns:stream='http://etherx.jabber.org/streams' id='fuzz' from='${domain}'>`,
    );
  }

  read(el: XmlElement): XmlElement {
    this.#last = undefined;
    this.#parser.write(serialize(el));
    if (!this.#last) throw new Error(`the stream parser gave nothing for ${serialize(el)}`);
    return this.#last;
  }
}

/**
 * What the stream writes for `s` parses, says what `s` says (name and every
 * attribute set), and reads back to the same text.
 */
export function roundTrip(model: Model, s: XmlElement): void {
  const text = serialize(s);
  let back: XmlElement;
  try {
    back = parseXml(text);
  } catch (error) {
    model.fail(`sent stanza does not parse: ${short(text)}: ${error}`);
  }
  const set = (attrs: XmlElement["attrs"]) =>
    JSON.stringify(Object.entries(attrs).filter(([, v]) => v !== undefined).sort());
  model.check(
    back.name === s.name && set(back.attrs) === set(s.attrs),
    () => `sent stanza's text says otherwise: ${short(text)} for ${JSON.stringify(s.attrs)}`,
  );
  model.check(
    serialize(back) === serialize(parseXml(serialize(back))),
    () => `sent stanza changes when parsed: ${short(text)}`,
  );
}

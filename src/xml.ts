/**
 * The one place that touches `@xmpp/xml` (ltx): a small typed surface over
 * its untyped CommonJS export, so nothing typed `any` leaks into the core.
 */
import xmlImpl from "@xmpp/xml";

/** A child of an element: another element or (unescaped) text. */
export type XmlNode = XmlElement | string;

/** The part of an ltx element that this project uses. */
export interface XmlElement {
  name: string;
  attrs: Record<string, string | undefined>;
  children: XmlNode[];
  parent?: XmlElement | null;
  getChild(name: string, xmlns?: string): XmlElement | undefined;
  getChildText(name: string, xmlns?: string): string | null;
  getChildren(name: string, xmlns?: string): XmlElement[];
  getText(): string;
  is(name: string, xmlns?: string): boolean;
  toString(): string;
}

interface XmlModule {
  (
    name: string,
    attrs?: Record<string, string | undefined> | null,
    ...children: XmlNode[]
  ): XmlElement;
  Parser: new () => {
    on(event: "element" | "start", cb: (el: XmlElement) => void): void;
    on(event: "error", cb: (err: Error) => void): void;
    write(data: string): void;
    end(data?: string): void;
  };
  Element: new (
    name: string,
    attrs?: Record<string, string | undefined>,
  ) => XmlElement;
}

const impl = xmlImpl as unknown as XmlModule;

/** Builds an element: `xml("iq", { type: "get" }, xml("ping", { xmlns }))`. */
export const xml: XmlModule = impl;

/**
 * A new element with the given attributes and the very same children as
 * `source` (shared, not copied): how a stanza is forwarded without
 * mutating the received one or re-serialising its payload.
 */
export function withAttrs(
  source: XmlElement,
  attrs: Record<string, string | undefined>,
): XmlElement {
  const el = new impl.Element(source.name, attrs);
  el.children = source.children;
  return el;
}

/** Parses one element from text (tests, benchmarks). Throws on bad XML. */
export function parseXml(text: string): XmlElement {
  const parser = new impl.Parser();
  let root: XmlElement | undefined;
  let failure: Error | undefined;
  parser.on("element", (el) => (root ??= el));
  parser.on("error", (err) => (failure = err));
  parser.write(`<wrap>${text}</wrap>`);
  if (failure) throw failure;
  if (!root) throw new Error("no element in input");
  return root;
}

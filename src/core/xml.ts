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
 * An element read from the stream whose content is kept as the text it came
 * in: its children are parsed the first time they are asked for, and until
 * then it is serialised by copying that text. Routing reads only the
 * attributes of nearly every stanza, so the payload is never parsed, built
 * as a tree, or escaped again.
 */
interface LazyElement extends XmlElement {
  /** The text between the start and end tags, exactly as received. */
  inner: string;
  /** The children once parsed (or set); until then `inner` is the content. */
  parsed: XmlNode[] | undefined;
  /**
   * Its serialisation, once made while unparsed: a forwarded request is
   * serialised for the pending table and again by the stream. Elements are
   * not changed once handed on, and a change to the children parses them
   * first (which bypasses this).
   */
  text: string | undefined;
  /**
   * The text of every attribute but `to`, `from` and `xmlns`, as received,
   * or undefined: then all attributes are written from `attrs`. Attributes
   * are not changed in place, only in copies (see readdress).
   */
  others: string | undefined;
}

const lazyPrototype = Object.create(impl.Element.prototype, {
  // ltx's own toString recurses per level: a deep payload would overflow
  // the stack wherever an element is turned into text (a log, a template).
  toString: {
    value(this: LazyElement): string {
      return serialize(this);
    },
  },
  children: {
    get(this: LazyElement): XmlNode[] {
      return this.parsed ??= parseChildren(this);
    },
    set(this: LazyElement, children: XmlNode[]) {
      this.parsed = children;
    },
  },
});

/** What a lazy element holds besides its name and attributes. */
export interface LazyContent {
  /** The text between its tags as read from the stream ("" when empty). */
  inner: string;
  /** The element it was read in (the stream's header), or null. */
  parent: XmlElement | null;
  /**
   * The text of its attributes other than `to`, `from` and `xmlns`, as
   * read; undefined (the default) writes every attribute from `attrs`.
   */
  others?: string;
}

/**
 * An element whose content is `content.inner`, as read from the stream
 * (well-formed: the stream parser checked the tags balance and match). The
 * children are parsed from it on first use. `content` is copied, so a
 * caller may reuse one object for every element.
 */
export function lazyElement(
  name: string,
  attrs: Record<string, string | undefined>,
  content: LazyContent,
): XmlElement {
  const el = Object.create(lazyPrototype) as LazyElement;
  el.name = name;
  el.parent = content.parent;
  el.attrs = attrs;
  el.inner = content.inner;
  el.parsed = undefined;
  el.text = undefined;
  el.others = content.others;
  return el;
}

/** Stanzas over `max_stanza_size`, as the scanner hands them on (see {@link oversizedElement}). */
const oversized = new WeakSet<XmlElement>();

/**
 * A stanza over `max_stanza_size`: its name and the attributes of its start
 * tag (none when the start tag alone was over), and no content, which was
 * skipped unread. Never to be forwarded: {@link isOversized} tells it.
 */
export function oversizedElement(
  name: string,
  attrs: Record<string, string | undefined>,
  parent: XmlElement | null,
): XmlElement {
  const el = lazyElement(name, attrs, { inner: "", parent });
  oversized.add(el);
  return el;
}

/** Whether `el` is a stanza over `max_stanza_size`, its content skipped. */
export function isOversized(el: XmlElement): boolean {
  return oversized.has(el);
}

/** The addresses a forwarded stanza gets (and a new id, for a few). */
export interface Addresses {
  readonly to: string;
  readonly from: string;
  readonly id?: string;
}

/**
 * A copy of `stanza` with new addresses and without its `xmlns` (the
 * stream's namespace is implied): how the proxy forwards a stanza (JAT).
 * The payload is shared, and the attributes left as they were are written
 * out as they came in.
 */
export function readdress(stanza: XmlElement, addresses: Addresses): XmlElement {
  const attrs = { ...stanza.attrs, xmlns: undefined, ...addresses };
  const lazy = unparsed(stanza);
  if (!lazy) return withAttrs(stanza, attrs);
  const others = addresses.id === undefined ? lazy.others : undefined;
  return lazyElement(stanza.name, attrs, { inner: lazy.inner, parent: null, others });
}

/**
 * The content of an element read from the stream, as the text it came in,
 * while its children are not parsed yet; undefined for any other element.
 * Lets a rule peek at the payload's first tag without building a tree.
 */
export function unparsedContent(node: XmlElement): string | undefined {
  return unparsed(node)?.inner;
}

/** A lazy element whose children were not parsed yet, else undefined. */
function unparsed(node: XmlElement): LazyElement | undefined {
  return Object.getPrototypeOf(node) === lazyPrototype && (node as LazyElement).parsed === undefined
    ? node as LazyElement
    : undefined;
}

function parseChildren(el: LazyElement): XmlNode[] {
  if (el.inner === "") return [];
  let wrap: XmlElement;
  try {
    // parseXml gives the first element inside its own wrapper: this one.
    wrap = parseXml(`<w>${el.inner}</w>`);
  } catch {
    // The stream parser checked the tags; only a bad entity can get here.
    // Routing reads children only to decide (an error's condition, a
    // priority), so "none" is the safe reading.
    return [];
  }
  for (const child of wrap.children) {
    if (typeof child !== "string") child.parent = el;
  }
  return wrap.children;
}

/**
 * A new element with the given attributes and the very same children as
 * `source` (shared, not copied): readdress() for an element built here or
 * already parsed.
 */
function withAttrs(
  source: XmlElement,
  attrs: Record<string, string | undefined>,
): XmlElement {
  // ltx's constructor would copy `attrs` into a fresh object and make an
  // empty children array, both thrown away at once: this runs for every
  // stanza forwarded. These four fields are all an ltx Element holds.
  const el = Object.create(impl.Element.prototype) as XmlElement;
  el.name = source.name;
  el.parent = null;
  el.children = source.children;
  el.attrs = attrs;
  return el;
}

/**
 * A copy of `text` that does not keep alive the text it was cut from. V8
 * keeps a substring of 13 characters or more as a view of its parent, so an
 * attribute value held by a pending request would hold the whole chunk read
 * from the socket for as long as the request waits. Flattening a
 * concatenation makes a fresh copy; what is stored from the wire goes
 * through here.
 */
export function copyString(text: string): string {
  return text.length < 13 ? text : (" " + text).slice(1);
}

/** Parses one element from text (a failover's kept request, tests). Throws on bad XML. */
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

const ATTR_SPECIAL = /[&<>"'\t\n\r]/;
const TEXT_SPECIAL = /[&<>\r]/;
const ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
  "\t": "&#9;",
  "\n": "&#10;",
  "\r": "&#13;",
};
const escapeChar = (char: string) => ESCAPES[char];

/**
 * Serialises an element exactly: unlike ltx's toString, tab, newline and
 * carriage return in attribute values are written as character references,
 * since a parser would read them back as spaces (XML 1.0 §3.3.3), and a
 * carriage return in text likewise (§2.11). What we forward must reach the
 * other side as it reached us.
 */
export function serialize(node: XmlNode): string {
  if (typeof node === "string") return escapeText(node);
  const lazy = unparsed(node);
  if (lazy) return lazyText(lazy);
  // A loop, not recursion: a payload may nest thousands of levels deep, one
  // stack frame each would overflow (the server allows 256 KB stanzas).
  let out = "";
  const stack: [XmlElement, number][] = [];
  const open = (el: XmlElement): void => {
    const unparsedChild = unparsed(el);
    if (unparsedChild) {
      out += lazyText(unparsedChild);
      return;
    }
    const start = startTag(el);
    if (el.children.length === 0) {
      out += start + "/>";
      return;
    }
    out += start + ">";
    stack.push([el, 0]);
  };
  open(node);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [el, i] = top;
    const children = el.children;
    if (i === children.length) {
      out += "</" + el.name + ">";
      stack.pop();
      continue;
    }
    top[1] = i + 1;
    const child = children[i];
    if (typeof child === "string") out += escapeText(child);
    else open(child);
  }
  return out;
}

function escapeText(text: string): string {
  return TEXT_SPECIAL.test(text) ? text.replace(/[&<>\r]/g, escapeChar) : text;
}

/** A lazy element's text: its start tag, then its content as received. */
function lazyText(lazy: LazyElement): string {
  if (lazy.text !== undefined) return lazy.text;
  const start = lazy.others === undefined ? startTag(lazy) : addressedTag(lazy, lazy.others);
  const inner = lazy.inner;
  return lazy.text = inner === "" ? start + "/>" : start + ">" + inner + "</" + lazy.name + ">";
}

/** The start tag (without its `>`) from the other attributes' text and the addresses. */
function addressedTag(node: LazyElement, others: string): string {
  const { xmlns, to, from } = node.attrs;
  let out = "<" + node.name + others;
  if (xmlns !== undefined) out += ' xmlns="' + escapeAttr(xmlns) + '"';
  if (to !== undefined) out += ' to="' + escapeAttr(to) + '"';
  if (from !== undefined) out += ' from="' + escapeAttr(from) + '"';
  return out;
}

function escapeAttr(text: string): string {
  return ATTR_SPECIAL.test(text) ? text.replace(/[&<>"'\t\n\r]/g, escapeChar) : text;
}

/** `<name attr="value"…`, without the closing `>` or `/>`. */
function startTag(node: XmlElement): string {
  let out = "<" + node.name;
  const attrs = node.attrs;
  for (const key in attrs) {
    const value = attrs[key];
    if (value === undefined || value === null) continue;
    out += ` ${key}="${escapeAttr(String(value))}"`;
  }
  return out;
}

/**
 * The project's XML elements: built here (`xml()`), read from the stream
 * (lazy: the payload kept as the text it came in) or parsed from text
 * (xml_tree.ts), and serialised exactly. They answer the part of ltx's
 * Element interface that this project and xmpp.js read, so the link can
 * hand them to xmpp.js; nothing here imports a library.
 */
import { escapeAttr, escapeText } from "./xml_escape.ts";
import { StreamXmlError } from "./xml_tags.ts";
import { parseNodes } from "./xml_tree.ts";

/** A child of an element: another element or (unescaped) text. */
export type XmlNode = XmlElement | string;

/**
 * An element as the project reads it: one of ours, or one of ltx's (the
 * tests' clients). Names may carry a prefix (`stream:error`).
 */
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

/**
 * An element of ours. One read from the stream keeps its content as the
 * text it came in: its children are parsed the first time they are asked
 * for, and until then it is serialised by copying that text. Routing reads
 * only the attributes of nearly every stanza, so the payload is never
 * parsed, built as a tree, or escaped again.
 */
class Element implements XmlElement {
  name: string;
  attrs: Record<string, string | undefined>;
  parent: XmlElement | null;
  /** The children once parsed or built; undefined while `inner` holds them. */
  nodes: XmlNode[] | undefined;
  /** The text between the start and end tags, exactly as received, while unparsed. */
  inner: string;
  /**
   * Its serialisation, once made while unparsed: a forwarded request is
   * serialised for the pending table and again by the stream. Elements are
   * not changed once handed on, and a change to the children parses them
   * first (which bypasses this).
   */
  wire: string | undefined = undefined;
  /**
   * The text of every attribute but `to`, `from` and `xmlns`, as received,
   * or undefined: then all attributes are written from `attrs`. Attributes
   * are not changed in place, only in copies (see readdress).
   */
  others: string | undefined;
  /** `inner` did not parse as XML (see {@link children}). */
  unreadable = false;

  constructor(
    name: string,
    attrs: Record<string, string | undefined>,
    nodes: XmlNode[] | undefined,
    parent: XmlElement | null,
    inner = "",
    others?: string,
  ) {
    this.name = name;
    this.attrs = attrs;
    this.nodes = nodes;
    this.parent = parent;
    this.inner = inner;
    this.others = others;
  }

  get children(): XmlNode[] {
    if (this.nodes !== undefined) return this.nodes;
    // Content that is not XML reads as no children, but stays the text
    // that came in: it is forwarded as received, never emptied.
    if (this.unreadable) return [];
    const nodes = parseChildren(this);
    if (nodes === undefined) {
      this.unreadable = true;
      return [];
    }
    return this.nodes = nodes;
  }

  set children(children: XmlNode[]) {
    this.nodes = children;
  }

  /** `name` without its prefix, in namespace `xmlns` if given (ltx's `is`). */
  is(name: string, xmlns?: string): boolean {
    return localName(this) === name && (!xmlns || namespaceOf(this) === xmlns);
  }

  getChildren(name: string, xmlns?: string): XmlElement[] {
    return this.children.filter((child): child is XmlElement =>
      typeof child !== "string" && localName(child) === name &&
      (!xmlns || namespaceOf(child) === xmlns)
    );
  }

  getChild(name: string, xmlns?: string): XmlElement | undefined {
    return this.getChildren(name, xmlns)[0];
  }

  getChildText(name: string, xmlns?: string): string | null {
    return this.getChild(name, xmlns)?.getText() ?? null;
  }

  /** The child elements, without text (what xmpp.js reads of a stream error). */
  getChildElements(): XmlElement[] {
    return this.children.filter((child): child is XmlElement => typeof child !== "string");
  }

  /** The text children, joined. */
  getText(): string {
    let text = "";
    for (const child of this.children) if (typeof child === "string") text += child;
    return text;
  }

  /** ltx's name for {@link getText} (xmpp.js reads an error's `<text/>` so). */
  text(): string {
    return this.getText();
  }

  toString(): string {
    return serialize(this);
  }
}

/** The name without its prefix. */
function localName(el: XmlElement): string {
  const colon = el.name.indexOf(":");
  return colon < 0 ? el.name : el.name.slice(colon + 1);
}

/** The namespace of `el`'s name, declared on it or on an ancestor. */
function namespaceOf(el: XmlElement): string | undefined {
  const colon = el.name.indexOf(":");
  const declaration = colon < 0 ? "xmlns" : `xmlns:${el.name.slice(0, colon)}`;
  for (let at: XmlElement | null | undefined = el; at; at = at.parent) {
    const namespace = at.attrs[declaration];
    if (namespace) return namespace;
  }
  return undefined;
}

/** What {@link xml} takes for an attribute's value: `null` and `undefined` leave it out. */
type AttrValue = string | number | null | undefined;

/**
 * Builds an element: `xml("iq", { type: "get" }, xml("ping", { xmlns }))`.
 * Children that are `""` are left out; the children's parent becomes the
 * new element.
 */
export function xml(
  name: string,
  attrs?: Record<string, AttrValue> | null,
  ...children: XmlNode[]
): XmlElement {
  const own: Record<string, string> = {};
  for (const key in attrs) {
    const value = attrs[key];
    if (value !== undefined && value !== null) own[key] = String(value);
  }
  const nodes: XmlNode[] = [];
  const el = new Element(name, own, nodes, null);
  for (const child of children) {
    if (child === "") continue;
    if (typeof child !== "string") child.parent = el;
    nodes.push(child);
  }
  return el;
}

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
  return new Element(name, attrs, undefined, content.parent, content.inner, content.others);
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

/** An element of ours whose children were not parsed yet, else undefined. */
function unparsed(node: XmlElement): Element | undefined {
  return node instanceof Element && node.nodes === undefined ? node : undefined;
}

const makeElement = (
  name: string,
  attrs: Record<string, string>,
  children: XmlNode[],
  parent: XmlElement | null,
): XmlElement => new Element(name, attrs, children, parent);

/**
 * The children parsed from `el.inner`, or undefined when it is not XML:
 * the stream scanner checks that tags balance and match, not references or
 * attribute syntax inside a payload.
 */
function parseChildren(el: Element): XmlNode[] | undefined {
  if (el.inner === "") return [];
  try {
    return parseNodes<XmlElement>(el.inner, makeElement, el);
  } catch {
    return undefined;
  }
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
  return new Element(source.name, attrs, source.children, null);
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

/**
 * The first element of `text`, parsed whole (a relay's stanza, tests).
 * Throws on bad XML (xml_tree.ts) or when there is no element.
 */
export function parseXml(text: string): XmlElement {
  const root = parseNodes<XmlElement>(text, makeElement)
    .find((node): node is XmlElement => typeof node !== "string");
  if (root === undefined) throw new StreamXmlError("no element in the text");
  return root;
}

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

/** A lazy element's text: its start tag, then its content as received. */
function lazyText(lazy: Element): string {
  if (lazy.wire !== undefined) return lazy.wire;
  const start = lazy.others === undefined ? startTag(lazy) : addressedTag(lazy, lazy.others);
  const inner = lazy.inner;
  return lazy.wire = inner === "" ? start + "/>" : start + ">" + inner + "</" + lazy.name + ">";
}

/** The start tag (without its `>`) from the other attributes' text and the addresses. */
function addressedTag(node: Element, others: string): string {
  const { xmlns, to, from } = node.attrs;
  let out = "<" + node.name + others;
  if (xmlns !== undefined) out += ' xmlns="' + escapeAttr(xmlns) + '"';
  if (to !== undefined) out += ' to="' + escapeAttr(to) + '"';
  if (from !== undefined) out += ' from="' + escapeAttr(from) + '"';
  return out;
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

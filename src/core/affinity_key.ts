/**
 * What a request is about, read from its content (`affinity`): the shapes
 * an operator writes, `"{namespace}element@attribute"`, and the key a
 * get/set carries when its payload element has one of those shapes: the
 * attribute's value, as a JID when it is one (so `Room@Conference.example`
 * and `room@conference.example` are one room).
 *
 * On the request path: the payload's first start tag is read from the
 * text the stream kept (src/core/xml.ts), never as a tree.
 */
import { isPlausibleJid, jidKey } from "./jid.ts";
import { unparsedContent, type XmlElement } from "./xml.ts";
import { BANG, GT, LT, QUESTION, SLASH } from "./xml_tags.ts";

const COLON = 58;
const QUOT = 34;
const APOS = 39;

/** One request shape whose attribute is the affinity key. */
export interface AffinityShape {
  /** The payload element's namespace. */
  readonly namespace: string;
  /** Its local name. */
  readonly element: string;
  /** The attribute whose value is the key. */
  readonly attribute: string;
}

/** How a shape is written, for messages. */
export const SHAPE_EXPECTED =
  'expected a request shape like "{http://jitsi.org/protocol/focus}conference@room"';

/** An XML name without a colon (Namespaces in XML §3), near enough. */
const NC_NAME = "[\\p{L}_][\\p{L}\\p{N}_.\\-\\u00b7]*";
const SHAPE = new RegExp(
  `^\\{([^{}\\s]+)\\}(${NC_NAME})@((?:${NC_NAME}:)?${NC_NAME})$`,
  "u",
);

/**
 * A shape from its text, or undefined when it is not `{namespace}element@attribute`
 * with XML names, whose attribute is no namespace declaration (never a key).
 */
export function parseAffinityShape(text: string): AffinityShape | undefined {
  const match = SHAPE.exec(text);
  if (match === null) return undefined;
  const [, namespace, element, attribute] = match;
  if (attribute === "xmlns" || attribute.startsWith("xmlns:")) return undefined;
  return { namespace, element, attribute };
}

/** A shape as written in the config. */
export function formatAffinityShape(shape: AffinityShape): string {
  return `{${shape.namespace}}${shape.element}@${shape.attribute}`;
}

/** The payload's text says nothing plain enough: the tree must be read. */
const TREE = Symbol("tree");

/**
 * The affinity key of a get/set: the value of the attribute of the first
 * shape its payload element has, prepared as a JID when it is one;
 * undefined when no shape matches, or the attribute is missing or empty.
 */
export function affinityKeyOf(
  stanza: XmlElement,
  shapes: readonly AffinityShape[],
): string | undefined {
  const value = affinityValueOf(stanza, shapes);
  return value === undefined ? undefined : affinityKey(value);
}

/**
 * The key's value as written (references read): what {@link affinityKey}
 * prepares. The router looks a key up as written first, since a key
 * prepared already is its own preparation.
 */
export function affinityValueOf(
  stanza: XmlElement,
  shapes: readonly AffinityShape[],
): string | undefined {
  const text = unparsedContent(stanza);
  let value = text === undefined ? TREE : valueInText(stanza, text, shapes);
  // A reference or raw white space: read as a parser reads it.
  if (value === TREE || (value !== undefined && NOT_PLAIN.test(value))) {
    value = valueInTree(stanza, shapes);
  }
  return value === "" ? undefined : value;
}

/**
 * A key's value prepared: as a JID when it is one (so that two spellings
 * are one key). A key prepared is its own preparation, which the router's
 * lookup as written relies on: a few odd values (`a。。`) take two rounds.
 */
export function affinityKey(value: string): string {
  // The usual room is prepared as written.
  if (isPreparedJid(value)) return value;
  let key = value;
  for (let round = 0; round < 4; round++) {
    const next = isPlausibleJid(key) ? jidKey(key) : key;
    if (next === key) break;
    key = next;
  }
  return key;
}

/**
 * Whether `value` is a `local@domain` that preparing leaves as it is (the
 * usual room): lowercase ASCII letters, digits and `_.-`, one `@`, a domain
 * without an empty label, a trailing dot or an IDNA label (`xn--`).
 */
function isPreparedJid(value: string): boolean {
  let at = -1;
  let label = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45) label++;
    else if (c === 46) {
      if (at >= 0 && label === 0) return false;
      label = at >= 0 ? 0 : label + 1;
    } else if (c === 95 && at < 0) label++;
    else if (c === 64 && at < 0 && i > 0) {
      at = i;
      label = 0;
    } else return false;
  }
  return at >= 0 && label > 0 && value.indexOf("xn--", at) < 0;
}

/** What an attribute value must not hold to be taken as written: a reference, raw white space. */
const NOT_PLAIN = /[&\t\n\r]/;

/** Where the last {@link scanTag} found the namespace and the attribute (-1: not there). */
const found = { nsAt: -1, nsEnd: -1, valueAt: -1, valueEnd: -1 };

/**
 * The key's raw value from the payload's text, reading only the first
 * start tag: its name first, then (if some shape has it) its attributes,
 * compared where they are; only the key is cut out. {@link TREE} for
 * anything a parser would have to read further (no element first,
 * references, odd syntax).
 */
function valueInText(
  stanza: XmlElement,
  text: string,
  shapes: readonly AffinityShape[],
): string | undefined | typeof TREE {
  const length = text.length;
  let i = 0;
  while (i < length && text.charCodeAt(i) <= 32) i++;
  if (i >= length) return undefined;
  const second = text.charCodeAt(i + 1);
  if (text.charCodeAt(i) !== LT || second === BANG || second === QUESTION || second === SLASH) {
    return TREE;
  }
  const nameAt = i + 1;
  let nameEnd = nameAt;
  for (; nameEnd < length; nameEnd++) {
    const c = text.charCodeAt(nameEnd);
    if (c <= 32 || c === SLASH || c === GT) break;
  }
  for (const shape of shapes) {
    const at = nameEnd - shape.element.length;
    if (!text.startsWith(shape.element, at)) continue;
    // Unprefixed, or `prefix:element`.
    const prefixEnd = at === nameAt
      ? -1
      : at > nameAt + 1 && text.charCodeAt(at - 1) === COLON
      ? at - 1
      : -2;
    if (prefixEnd === -2) continue;
    const prefix = prefixEnd < 0 ? undefined : text.slice(nameAt, prefixEnd);
    if (!scanTag(text, nameEnd, prefix, shape.attribute)) return TREE;
    const { nsAt, nsEnd, valueAt, valueEnd } = found;
    let inNamespace: boolean;
    if (nsAt < 0) {
      inNamespace = stanza.attrs[prefix === undefined ? "xmlns" : `xmlns:${prefix}`] ===
        shape.namespace;
    } else {
      // (A slice compared is quicker here than startsWith, for a long name.)
      inNamespace = nsEnd - nsAt === shape.namespace.length &&
        text.slice(nsAt, nsEnd) === shape.namespace;
      // Written with a reference, it may still be the namespace.
      if (!inNamespace && hasAmp(text, nsAt, nsEnd)) return TREE;
    }
    if (!inNamespace) continue;
    return valueAt < 0 ? undefined : text.slice(valueAt, valueEnd);
  }
  return undefined;
}

/**
 * Reads the attributes of the start tag whose name ends at `from`, noting
 * in {@link found} where the namespace declaration (`xmlns`, or
 * `xmlns:prefix`) and `attribute` are. False on syntax it does not read.
 */
function scanTag(
  text: string,
  from: number,
  prefix: string | undefined,
  attribute: string,
): boolean {
  found.nsAt =
    found.nsEnd =
    found.valueAt =
    found.valueEnd =
      -1;
  const length = text.length;
  let i = from;
  for (;;) {
    while (i < length && text.charCodeAt(i) <= 32) i++;
    if (i >= length) return false;
    const c = text.charCodeAt(i);
    if (c === GT || c === SLASH) return true;
    const eq = text.indexOf("=", i);
    if (eq < 0) return false;
    let nameEnd = eq;
    while (nameEnd > i && text.charCodeAt(nameEnd - 1) <= 32) nameEnd--;
    let q = eq + 1;
    while (q < length && text.charCodeAt(q) <= 32) q++;
    const quote = text.charCodeAt(q);
    if (quote !== QUOT && quote !== APOS) return false;
    const close = text.indexOf(quote === QUOT ? '"' : "'", q + 1);
    if (close < 0) return false;
    if (isNamespaceDeclaration(text, i, nameEnd, prefix)) {
      found.nsAt = q + 1;
      found.nsEnd = close;
    } else if (nameEnd - i === attribute.length && text.startsWith(attribute, i)) {
      found.valueAt = q + 1;
      found.valueEnd = close;
    }
    // Both found: the other attributes do not matter.
    if (found.nsAt >= 0 && found.valueAt >= 0) return true;
    i = close + 1;
  }
}

/** Whether the attribute name from `at` to `end` is `xmlns` (no prefix) or `xmlns:prefix`. */
function isNamespaceDeclaration(
  text: string,
  at: number,
  end: number,
  prefix: string | undefined,
): boolean {
  if (prefix === undefined) return end - at === 5 && text.startsWith("xmlns", at);
  return end - at === 6 + prefix.length && text.startsWith("xmlns:", at) &&
    text.startsWith(prefix, at + 6);
}

function hasAmp(text: string, at: number, end: number): boolean {
  for (let i = at; i < end; i++) if (text.charCodeAt(i) === 38) return true;
  return false;
}

/** The key's raw value from the payload's first element, as a tree. */
function valueInTree(stanza: XmlElement, shapes: readonly AffinityShape[]): string | undefined {
  const first = stanza.children.find((child): child is XmlElement => typeof child !== "string");
  if (first === undefined) return undefined;
  const colon = first.name.indexOf(":");
  const local = colon < 0 ? first.name : first.name.slice(colon + 1);
  // A prefix is declared on the element itself, or on the stanza.
  const nsAttr = colon < 0 ? "xmlns" : `xmlns:${first.name.slice(0, colon)}`;
  const namespace = first.attrs[nsAttr] ?? stanza.attrs[nsAttr];
  for (const shape of shapes) {
    if (shape.element === local && shape.namespace === namespace) {
      return first.attrs[shape.attribute];
    }
  }
  return undefined;
}

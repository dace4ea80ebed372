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
import { nameEndAt, parseAttrs, SLASH, tagEnd } from "./xml_tags.ts";

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

const SHAPE = /^\{([^{}\s]+)\}([^{}@\s:]+)@([^{}@\s]+)$/;

/** A shape from its text, or undefined when it is not `{namespace}element@attribute`. */
export function parseAffinityShape(text: string): AffinityShape | undefined {
  const match = SHAPE.exec(text);
  if (match === null) return undefined;
  const [, namespace, element, attribute] = match;
  return { namespace, element, attribute };
}

/** A shape as written in the config. */
export function formatAffinityShape(shape: AffinityShape): string {
  return `{${shape.namespace}}${shape.element}@${shape.attribute}`;
}

/** The first element of a payload: its qualified name and attributes. */
interface FirstTag {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string | undefined>>;
}

/**
 * The affinity key of a get/set: the value of the attribute of the first
 * shape its payload element has, prepared as a JID when it is one;
 * undefined when no shape matches, or the attribute is missing or empty.
 */
export function affinityKeyOf(
  stanza: XmlElement,
  shapes: readonly AffinityShape[],
): string | undefined {
  const first = firstTag(stanza, shapes);
  if (first === undefined) return undefined;
  const colon = first.name.indexOf(":");
  const local = colon < 0 ? first.name : first.name.slice(colon + 1);
  // A prefix is declared on the element itself, or on the stanza.
  const nsAttr = colon < 0 ? "xmlns" : `xmlns:${first.name.slice(0, colon)}`;
  const namespace = first.attrs[nsAttr] ?? stanza.attrs[nsAttr];
  for (const shape of shapes) {
    if (shape.element !== local || shape.namespace !== namespace) continue;
    const value = first.attrs[shape.attribute];
    if (value === undefined || value === "") return undefined;
    return isPlausibleJid(value) ? jidKey(value) : value;
  }
  return undefined;
}

/**
 * The payload's first element, or undefined when it has none or its name
 * is none of the shapes' (checked before its attributes are read).
 */
function firstTag(stanza: XmlElement, shapes: readonly AffinityShape[]): FirstTag | undefined {
  const text = unparsedContent(stanza);
  if (text !== undefined) {
    const tag = firstTagIn(text, shapes);
    if (tag !== "other") return tag;
  }
  // Built or parsed already, or text before the first element (CDATA, say).
  for (const child of stanza.children) {
    if (typeof child === "string") continue;
    return named(child.name, shapes) ? child : undefined;
  }
  return undefined;
}

/**
 * The first element in content text; "other" when the content does not
 * start with one (after white space), for the tree to say.
 */
function firstTagIn(
  text: string,
  shapes: readonly AffinityShape[],
): FirstTag | undefined | "other" {
  let lt = 0;
  while (lt < text.length && text.charCodeAt(lt) <= 32) lt++;
  if (lt >= text.length) return undefined;
  const second = text.charCodeAt(lt + 1);
  if (text.charCodeAt(lt) !== 60 || second === 33 || second === 63 || second === SLASH) {
    return "other";
  }
  try {
    const gt = tagEnd(text, lt + 1, 0);
    if (gt < 0) return undefined;
    const nameEnd = nameEndAt(text, lt + 1, gt);
    const name = text.slice(lt + 1, nameEnd);
    if (!named(name, shapes)) return undefined;
    const end = text.charCodeAt(gt - 1) === SLASH ? gt - 1 : gt;
    return { name, attrs: parseAttrs(text, nameEnd, end) };
  } catch {
    // Attributes no parser would accept: the server would not have sent them.
    return undefined;
  }
}

/** Whether a qualified name's local part is some shape's element. */
function named(name: string, shapes: readonly AffinityShape[]): boolean {
  const colon = name.indexOf(":");
  for (const shape of shapes) {
    const element = shape.element;
    if (
      colon < 0
        ? name === element
        : name.endsWith(element) && name.length - colon - 1 === element.length
    ) {
      return true;
    }
  }
  return false;
}

/**
 * XML content read as a tree (XML 1.0): elements, text with its references
 * replaced, CDATA sections as text; comments and processing instructions
 * skipped. For what routing reads of a payload (an error's condition, a
 * presence's priority) and for the few stanzas parsed whole (a relay, tests).
 * A loop, not recursion: a payload may nest thousands of levels deep.
 */
import {
  BANG,
  isName,
  nameEndAt,
  parseAttrs,
  QUESTION,
  replaceReferences,
  SLASH,
  StreamXmlError,
  tagEnd,
} from "./xml_tags.ts";

/** Makes one element; its `children` are filled in after, in order. */
export type MakeElement<E> = (
  name: string,
  attrs: Record<string, string>,
  children: Array<E | string>,
  parent: E | null,
) => E;

interface Open<E> {
  readonly name: string;
  readonly element: E;
  readonly children: Array<E | string>;
}

/**
 * The nodes of `text` (the content of an element, or a whole element),
 * made by `make`, whose top-level elements get `parent`. Throws
 * {@link StreamXmlError} on anything not well-formed: a tag that does not
 * match or is not closed, a bad reference, a declaration.
 */
export function parseNodes<E>(
  text: string,
  make: MakeElement<E>,
  parent: E | null = null,
): Array<E | string> {
  const top: Array<E | string> = [];
  const open: Open<E>[] = [];
  let nodes = top;
  let i = 0;
  while (i < text.length) {
    const lt = text.indexOf("<", i);
    const textEnd = lt < 0 ? text.length : lt;
    if (textEnd > i) nodes.push(readText(text.slice(i, textEnd)));
    if (lt < 0) break;
    const next = text.charCodeAt(lt + 1);
    if (next === BANG || next === QUESTION) {
      const [close, textAt] = text.startsWith("<![CDATA[", lt)
        ? ["]]>", lt + 9]
        : text.startsWith("<!--", lt)
        ? ["-->", -1]
        : next === QUESTION
        ? ["?>", -1]
        : ["", -1];
      const end = close === "" ? -1 : text.indexOf(close, lt + 2);
      if (end < 0) throw new StreamXmlError("a declaration, or a section not closed, in content");
      if (textAt >= 0 && end > textAt) nodes.push(text.slice(textAt, end));
      i = end + close.length;
      continue;
    }
    const gt = tagEnd(text, lt + 1, 0);
    if (gt < 0) throw new StreamXmlError("a tag not closed");
    if (next === SLASH) {
      const closed = open.pop();
      if (closed === undefined || !isName(text, closed.name, lt + 2, gt)) {
        throw new StreamXmlError("an end tag that matches no start tag");
      }
      nodes = open.length === 0 ? top : open[open.length - 1].children;
      i = gt + 1;
      continue;
    }
    const empty = text.charCodeAt(gt - 1) === SLASH;
    const attrsEnd = empty ? gt - 1 : gt;
    const nameEnd = nameEndAt(text, lt + 1, attrsEnd);
    if (nameEnd === lt + 1) throw new StreamXmlError("a tag without a name");
    const name = text.slice(lt + 1, nameEnd);
    const children: Array<E | string> = [];
    const within = open.length === 0 ? parent : open[open.length - 1].element;
    const element = make(name, parseAttrs(text, nameEnd, attrsEnd), children, within);
    nodes.push(element);
    if (!empty) {
      open.push({ name, element, children });
      nodes = children;
    }
    i = gt + 1;
  }
  if (open.length > 0) throw new StreamXmlError(`<${open[open.length - 1].name}> not closed`);
  return top;
}

/** Character data as a parser reads it: references replaced. */
function readText(raw: string): string {
  return raw.indexOf("&") < 0 ? raw : replaceReferences(raw);
}

/**
 * Reading one tag of the component stream (XML 1.0): where it ends, its
 * name, its attributes with their references replaced. The pieces the
 * stream scanner (xml_scan.ts) is made of; pure, so the core may use them.
 */

export const LT = 60; // <
export const GT = 62; // >
export const SLASH = 47; // /
export const BANG = 33; // !
export const QUESTION = 63; // ?
const QUOT = 34; // "
const APOS = 39; // '

/** Returned by the scanners when the element goes on in the next chunk. */
export const INCOMPLETE = -1;

/** Why the stream is not acceptable XML; the connection closes it (bad-format). */
export class StreamXmlError extends Error {
  override name = "XMLError";
}

/**
 * The `>` that ends the tag whose name starts at `from` (quoted values
 * skipped); `quote`: the quote `from` is inside of, when a scan goes on.
 * When the text ends first: a negative number, which {@link cutQuote} reads.
 */
export function tagEnd(text: string, from: number, quote: number): number {
  let i = from;
  if (quote !== 0) {
    i = quoteEnd(text, i, quote);
    if (i >= text.length) return INCOMPLETE - quote;
    i++;
  }
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === GT) return i;
    if (c === QUOT || c === APOS) {
      i = quoteEnd(text, i + 1, c);
      if (i >= text.length) return INCOMPLETE - c;
    } else if (c === LT) {
      throw new StreamXmlError("< inside a tag");
    }
  }
  return INCOMPLETE;
}

/** The quote a tag cut short was inside of (0: none), from {@link tagEnd}'s negative answer. */
export function cutQuote(end: number): number {
  return INCOMPLETE - end;
}

/**
 * Where the last whole attribute of a start tag cut short ends, looking
 * from `from` (just after its name): `from` when none is whole yet.
 */
export function wholeAttrsEnd(text: string, from: number): number {
  let end = from;
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== QUOT && c !== APOS) continue;
    const close = quoteEnd(text, i + 1, c);
    if (close >= text.length) break;
    i = close;
    end = close + 1;
  }
  return end;
}

/** The `quote` that ends an attribute value, from `from` (the text's length: not there yet). */
function quoteEnd(text: string, from: number, quote: number): number {
  for (let i = from; i < text.length; i++) {
    const v = text.charCodeAt(i);
    if (v === quote) return i;
    // XML 1.0 §3.1: no "<" in an attribute value either.
    if (v === LT) throw new StreamXmlError("< in an attribute value");
  }
  return text.length;
}

/** Where the name starting at `from` ends: whitespace, `/` or `>`. */
export function nameEndAt(text: string, from: number, gt: number): number {
  let i = from;
  while (i < gt) {
    const c = text.charCodeAt(i);
    if (c <= 32 || c === SLASH) break;
    i++;
  }
  return i;
}

/** Whether the end tag's name (from `at` up to `gt`, spaces allowed) is the open one. */
export function sameName(
  text: string,
  open: number,
  length: number,
  at: number,
  gt: number,
): boolean {
  let end = gt;
  while (end > at && text.charCodeAt(end - 1) <= 32) end--;
  if (end - at !== length) return false;
  for (let i = 0; i < length; i++) {
    if (text.charCodeAt(open + i) !== text.charCodeAt(at + i)) return false;
  }
  return true;
}

/** Whether the end tag's name (from `at` up to `gt`, spaces allowed) is `name`. */
export function isName(text: string, name: string, at: number, gt: number): boolean {
  let end = gt;
  while (end > at && text.charCodeAt(end - 1) <= 32) end--;
  return end - at === name.length && text.startsWith(name, at);
}

/** The text of a start tag's attributes, as received, less the addresses. */
export interface AttrsText {
  /** Every attribute but `to`, `from` and `xmlns`, each with its leading space. */
  others: string;
}

/** Attributes whose values the proxy rewrites or drops (JAT). */
function isAddressing(text: string, at: number, length: number): boolean {
  return (length === 2 && text.startsWith("to", at)) ||
    (length === 4 && text.startsWith("from", at)) ||
    (length === 5 && text.startsWith("xmlns", at));
}

/**
 * The attributes between the tag's name and `end` (its `>` or `/>`); with
 * `raw`, also their text less the addressing attributes, so that a stanza
 * forwarded with new addresses is written by copying the rest.
 */
export function parseAttrs(
  text: string,
  from: number,
  end: number,
  raw?: AttrsText,
): Record<string, string> {
  const attrs: Record<string, string> = {};
  let others = "";
  let kept = from;
  let i = from;
  for (;;) {
    const space = i;
    while (i < end && text.charCodeAt(i) <= 32) i++;
    if (i >= end) {
      if (raw) raw.others = kept === from ? text.slice(from, end) : others + text.slice(kept, end);
      return attrs;
    }
    if (i === space && i !== from) throw new StreamXmlError("attributes without a space between");
    const eq = text.indexOf("=", i);
    if (eq < 0 || eq >= end) throw new StreamXmlError("an attribute without a value");
    const nameAt = i;
    const name = text.slice(i, eq).trim();
    i = eq + 1;
    while (i < end && text.charCodeAt(i) <= 32) i++;
    const quote = text.charCodeAt(i);
    if ((quote !== QUOT && quote !== APOS) || name === "") {
      throw new StreamXmlError("an attribute value without quotes");
    }
    const close = text.indexOf(quote === QUOT ? '"' : "'", i + 1);
    const value = normalizeSpaces(text.slice(i + 1, close));
    attrs[name] = value.indexOf("&") < 0 ? value : replaceReferences(value);
    i = close + 1;
    if (raw && isAddressing(text, nameAt, name.length)) {
      others += text.slice(kept, space);
      kept = i;
    }
  }
}

const ENTITY = /&(?:#x([0-9a-fA-F]+)|#([0-9]+)|(lt|gt|amp|quot|apos));|&/g;
const NAMED: Readonly<Record<string, string>> = {
  lt: "<",
  gt: ">",
  amp: "&",
  quot: '"',
  apos: "'",
};

const RAW_SPACE = /[\t\n\r]/;

/**
 * XML 1.0 §2.11 and §3.3.3: a tab, line feed, carriage return or CR LF
 * written as such in an attribute value reads as one space (a reference
 * like `&#10;` keeps its character). The server, the implementing client
 * and every other parser read it so: an id must mean here what it means
 * there, or its reply would not match.
 */
function normalizeSpaces(value: string): string {
  return RAW_SPACE.test(value) ? value.replace(/\r\n|[\t\n\r]/g, " ") : value;
}

/** XML 1.0 §2.2: the characters a document may hold at all. */
function isXmlChar(code: number): boolean {
  return code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
}

/** Replaces the character and predefined entity references (XML 1.0 §4.6); throws on others. */
export function replaceReferences(raw: string): string {
  return raw.replace(ENTITY, (match, hex?: string, dec?: string, named?: string) => {
    if (named) return NAMED[named];
    const code = hex ? parseInt(hex, 16) : dec ? parseInt(dec, 10) : NaN;
    if (!isXmlChar(code) || match === "&") {
      throw new StreamXmlError(`bad reference ${match}`);
    }
    return String.fromCodePoint(code);
  });
}

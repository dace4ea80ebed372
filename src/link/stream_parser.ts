/**
 * The component stream's parser: a drop-in for `@xmpp/xml`'s Parser (the
 * same events: "start" with the stream header, "element" with each
 * top-level element, "end", "error") that reads only what routing needs.
 *
 * Each stanza's start tag is parsed into a name and attributes; its content
 * is only checked (tags balance and match, nothing XMPP forbids) and kept as
 * text in a lazy element (src/core/xml.ts), parsed if and when someone asks for
 * its children. The proxy forwards nearly every stanza without looking
 * inside, so the payload costs a scan instead of a tree and a second
 * serialisation: this was the largest item of the profile after the socket
 * (bench/README.md).
 */
import { EventEmitter } from "node:events";
import { type LazyContent, lazyElement, xml, type XmlElement } from "../core/xml.ts";

const LT = 60; // <
const GT = 62; // >
const SLASH = 47; // /
const BANG = 33; // !
const QUESTION = 63; // ?
const QUOT = 34; // "
const APOS = 39; // '

/** Returned by the scanners when the element goes on in the next chunk. */
const INCOMPLETE = -1;

/** What the content scan stopped inside of, when a chunk ended there. */
const CDATA = 1;
const TAG = 2;

/**
 * How much of an incomplete stanza is scanned before its text is set aside
 * (spilled) instead of being carried into the next chunk's text.
 */
const SPILL_AT = 16 * 1024;

/** Why the stream is not acceptable XML; the connection closes it (bad-format). */
export class StreamXmlError extends Error {
  override name = "XMLError";
}

/** Stream text in (any chunking), the stream's elements out, as events. */
export class StreamParser extends EventEmitter {
  #buffer = "";
  #root: XmlElement | undefined;
  #done = false;
  /** Start offsets and lengths of the names of open tags inside a stanza. */
  readonly #open: number[] = [];
  /**
   * Where the scan of a stanza cut short by the end of a chunk goes on (-1:
   * from its start), so that a stanza arriving in many chunks is scanned
   * once in all, not once per chunk.
   */
  #resume = -1;
  /** What #resume is inside of: 0 (nothing: text, or a `<` to read again), CDATA or TAG. */
  #within = 0;
  /** In a start tag (TAG, and a stanza's own when spilled): where tagEnd goes on, in which quote. */
  #tagAt = 0;
  #tagQuote = 0;
  /** In a start tag whose beginning was spilled: its name. */
  #tagName: string | undefined;
  /**
   * A big stanza arriving in pieces (see #cut): its text before #buffer,
   * its length (0: none), and the names of the tags open in it, outermost
   * first (#open holds those of #buffer's text, innermost last).
   */
  #parts: string[] = [];
  #spilled = 0;
  readonly #names: string[] = [];
  readonly #spillAt: number;
  /** The next element's content; parseAttrs fills in `others`. */
  readonly #next: LazyContent & AttrsText = { inner: "", parent: null, others: "" };
  /**
   * The event the last scan completed, emitted by write() outside its
   * `try`: what a listener throws is its own failure, not bad XML.
   */
  #event: "start" | "element" | "end" | undefined;
  #element: XmlElement | undefined;

  /** `spillAt`: for tests, the size from which an incomplete stanza is spilled. */
  constructor(options?: { spillAt?: number }) {
    super();
    this.#spillAt = options?.spillAt ?? SPILL_AT;
  }

  /** Reads a chunk of the stream; what it does not complete waits for the next. */
  write(data: string): void {
    if (this.#done) return;
    let text = this.#buffer === "" ? data : this.#buffer + data;
    if (this.#spilled > 0) {
      const whole = this.#rest(text);
      if (whole === undefined) return;
      text = whole;
    }
    let pos = 0;
    while (pos < text.length && !this.#done) {
      const lt = text.indexOf("<", pos);
      // Between stanzas only whitespace (keepalives) is expected; other text
      // at this level carries nothing, as for xmpp.js.
      if (lt < 0) {
        pos = text.length;
        break;
      }
      let next: number;
      try {
        next = this.#top(text, lt);
      } catch (error) {
        this.#done = true;
        this.emit("error", error);
        return;
      }
      const event = this.#event;
      if (event !== undefined) {
        const element = this.#element;
        this.#event = this.#element = undefined;
        this.emit(event, element);
      }
      if (next === INCOMPLETE) {
        pos = this.#cut(text, lt);
        break;
      }
      pos = next;
    }
    this.#buffer = pos < text.length ? text.slice(pos) : "";
  }

  /**
   * Where the buffer starts when the element at `lt` goes on in the next
   * chunk. Usually at `lt`, the text carried over whole (offsets kept move
   * with it). A big stanza's scanned text is spilled instead: set aside in
   * #parts, joined once when the stanza ends, so that one arriving in many
   * small chunks is not copied again with each (quadratic).
   */
  #cut(text: string, lt: number): number {
    const spillAt = this.#spillAt;
    if (this.#resume < 0) {
      // A big start tag (another element is small, or waits for a few characters).
      const second = lt + 1 < text.length ? text.charCodeAt(lt + 1) : QUESTION;
      if (text.length - lt < spillAt || second === QUESTION || second === SLASH) return lt;
      this.#parts.push(text.slice(lt));
      this.#spilled = text.length - lt;
      this.#tagQuote = cutQuote;
      return text.length;
    }
    const keep = this.#keep(text);
    if (keep - lt >= spillAt) {
      this.#spill(text, lt, keep);
      return keep;
    }
    if (lt > 0) {
      this.#resume -= lt;
      this.#tagAt -= lt;
      const open = this.#open;
      for (let i = 0; i < open.length; i += 2) open[i] -= lt;
    }
    return lt;
  }

  /** Where the text the content scan still needs starts (all before is scanned). */
  #keep(text: string): number {
    const resume = this.#resume;
    if (this.#within !== TAG) return resume;
    // A start tag needs its name and the character before its `>` (`/`?).
    if (this.#tagName !== undefined) return text.length - 1;
    return nameEndAt(text, resume + 1, text.length) < text.length ? text.length - 1 : resume;
  }

  /** Sets aside the scanned text from `from` to `keep`; the buffer will start at `keep`. */
  #spill(text: string, from: number, keep: number): void {
    if (keep > from) {
      this.#parts.push(text.slice(from, keep));
      this.#spilled += keep - from;
    }
    const open = this.#open;
    const names = this.#names;
    for (let i = 0; i < open.length; i += 2) names.push(text.slice(open[i], open[i] + open[i + 1]));
    open.length = 0;
    const resume = this.#resume;
    if (this.#within === TAG && this.#tagName === undefined && keep > resume) {
      this.#tagName = text.slice(resume + 1, nameEndAt(text, resume + 1, text.length));
    }
    // #keep is never before #resume: the scan goes on at the buffer's start.
    this.#resume = 0;
    this.#tagAt -= keep;
  }

  /**
   * The next chunk of a spilled stanza (`text`: the buffer and the chunk):
   * scans it on; at the stanza's end, returns its whole text joined with
   * the rest of the chunk, for write() to read as usual (the end found
   * already: only the start tag is read again). Otherwise spills and
   * returns undefined.
   */
  #rest(text: string): string | undefined {
    try {
      if (this.#resume < 0) {
        // The stanza's own start tag goes on.
        const gt = tagEnd(text, 0, this.#tagQuote);
        if (gt === INCOMPLETE) {
          this.#parts.push(text);
          this.#spilled += text.length;
          this.#tagQuote = cutQuote;
          this.#buffer = "";
          return undefined;
        }
      } else {
        const stanza = this.#names[0];
        const close = this.#content(text, 0, 0, 0);
        if (close === INCOMPLETE) {
          const keep = this.#keep(text);
          this.#spill(text, 0, keep);
          this.#buffer = text.slice(keep);
          return undefined;
        }
        // Read again by #top, in the whole text: the stanza's end tag.
        this.#resume = this.#spilled + close;
        this.#names.push(stanza);
      }
    } catch (error) {
      this.#done = true;
      this.emit("error", error);
      return undefined;
    }
    const whole = this.#parts.join("") + text;
    this.#parts = [];
    this.#spilled = 0;
    return whole;
  }

  /** For the Parser interface: the stream ends with the socket. */
  end(data?: string): void {
    if (data) this.write(data);
  }

  /** One thing at the stream's top level at `lt`; returns where it ends. */
  #top(text: string, lt: number): number {
    if (lt + 1 >= text.length) return INCOMPLETE;
    const second = text.charCodeAt(lt + 1);
    if (second === QUESTION) {
      // The XML declaration before the stream header.
      const end = text.indexOf("?>", lt + 2);
      if (this.#root) throw new StreamXmlError("processing instruction in the stream");
      return end < 0 ? INCOMPLETE : end + 2;
    }
    if (second === BANG) throw new StreamXmlError("comment or DTD in the stream");
    if (second === SLASH) {
      const gt = text.indexOf(">", lt + 2);
      if (gt < 0) return INCOMPLETE;
      const root = this.#root;
      if (!root || text.slice(lt + 2, gt).trim() !== root.name) {
        throw new StreamXmlError(`unexpected end tag ${text.slice(lt, gt + 1)}`);
      }
      this.#done = true;
      this.#ready("end", root);
      return gt + 1;
    }
    const gt = tagEnd(text, lt + 1, 0);
    if (gt === INCOMPLETE) return INCOMPLETE;
    const nameEnd = nameEndAt(text, lt + 1, gt);
    const name = text.slice(lt + 1, nameEnd);
    if (name === "") throw new StreamXmlError("a tag without a name");
    const empty = text.charCodeAt(gt - 1) === SLASH;
    if (!this.#root) {
      const root = xml(name, parseAttrs(text, nameEnd, empty ? gt - 1 : gt));
      this.#root = root;
      this.#ready("start", root);
      return gt + 1;
    }
    let inner = "";
    let next = gt + 1;
    if (!empty) {
      const close = this.#content(text, gt + 1, lt + 1, name.length);
      if (close === INCOMPLETE) return INCOMPLETE;
      inner = text.slice(gt + 1, close);
      next = text.indexOf(">", close) + 1;
    }
    const content = this.#next;
    const attrs = parseAttrs(text, nameEnd, empty ? gt - 1 : gt, content);
    content.inner = inner;
    content.parent = this.#root;
    this.#ready("element", lazyElement(name, attrs, content));
    return next;
  }

  #ready(event: "start" | "element" | "end", element: XmlElement): void {
    this.#event = event;
    this.#element = element;
  }

  /**
   * Scans a stanza's content from `from` to its end tag (that of the name at
   * `nameAt`, `nameLength` long); returns the end tag's offset. Checks what
   * forwarding the text as it is needs: tags balance and match, and nothing
   * XMPP forbids (RFC 6120 §11.1: no comments, processing instructions or
   * DTDs) — the server re-checks everything we send.
   */
  #content(text: string, from: number, nameAt: number, nameLength: number): number {
    const open = this.#open;
    let pos = this.#resume;
    if (pos < 0) {
      open.length = 0;
      open.push(nameAt, nameLength);
      pos = from;
    } else if (this.#within !== 0) {
      pos = this.#goOn(text, pos);
      if (pos === INCOMPLETE) return INCOMPLETE;
    }
    // Every tag before `pos` is accounted for in `open` (and #names).
    for (;;) {
      const lt = text.indexOf("<", pos);
      if (lt < 0) return this.#stop(text.length, 0);
      if (lt + 1 >= text.length) return this.#stop(lt, 0);
      const second = text.charCodeAt(lt + 1);
      if (second === SLASH) {
        const gt = text.indexOf(">", lt + 2);
        if (gt < 0) return this.#stop(lt, 0);
        if (open.length === 0) {
          // It closes a tag of a big stanza's spilled text.
          const names = this.#names;
          const name = names.pop() as string;
          if (!isName(text, name, lt + 2, gt)) {
            throw new StreamXmlError(`${text.slice(lt, gt + 1)} closes <${name}>`);
          }
          if (names.length === 0) {
            this.#resume = -1;
            return lt;
          }
        } else {
          const length = open.pop() as number;
          const at = open.pop() as number;
          if (!sameName(text, at, length, lt + 2, gt)) {
            throw new StreamXmlError(
              `${text.slice(lt, gt + 1)} closes <${text.slice(at, at + length)}>`,
            );
          }
          if (open.length === 0 && this.#names.length === 0) {
            this.#resume = -1;
            return lt;
          }
        }
        pos = gt + 1;
      } else if (second === BANG) {
        if (text.length - lt < 9) return this.#stop(lt, 0);
        if (!text.startsWith("<![CDATA[", lt)) {
          throw new StreamXmlError("comment or DTD in a stanza");
        }
        const end = text.indexOf("]]>", lt + 9);
        if (end < 0) return this.#stop(Math.max(lt + 9, text.length - 2), CDATA);
        pos = end + 3;
      } else if (second === QUESTION) {
        throw new StreamXmlError("processing instruction in a stanza");
      } else {
        const gt = tagEnd(text, lt + 1, 0);
        if (gt === INCOMPLETE) {
          this.#tagAt = text.length;
          this.#tagQuote = cutQuote;
          return this.#stop(lt, TAG);
        }
        if (text.charCodeAt(gt - 1) !== SLASH) {
          const nameEnd = nameEndAt(text, lt + 1, gt);
          if (nameEnd === lt + 1) throw new StreamXmlError("a tag without a name");
          open.push(lt + 1, nameEnd - lt - 1);
        }
        pos = gt + 1;
      }
    }
  }

  /** The scan stops at `at`, inside `within`, until the next chunk. */
  #stop(at: number, within: number): number {
    this.#resume = at;
    this.#within = within;
    return INCOMPLETE;
  }

  /**
   * Goes on with the CDATA section or start tag at `pos` that the last
   * chunk cut; returns where the scan goes on after it.
   */
  #goOn(text: string, pos: number): number {
    if (this.#within === CDATA) {
      const end = text.indexOf("]]>", pos);
      if (end < 0) return this.#stop(Math.max(pos, text.length - 2), CDATA);
      this.#within = 0;
      return end + 3;
    }
    const gt = tagEnd(text, this.#tagAt, this.#tagQuote);
    if (gt === INCOMPLETE) {
      this.#tagAt = text.length;
      this.#tagQuote = cutQuote;
      return INCOMPLETE;
    }
    this.#within = 0;
    const name = this.#tagName;
    this.#tagName = undefined;
    if (text.charCodeAt(gt - 1) !== SLASH) {
      if (name === undefined) {
        const nameEnd = nameEndAt(text, pos + 1, gt);
        if (nameEnd === pos + 1) throw new StreamXmlError("a tag without a name");
        this.#open.push(pos + 1, nameEnd - pos - 1);
      } else {
        // The tag's start was spilled: so was every tag before (#open is empty).
        if (name === "") throw new StreamXmlError("a tag without a name");
        this.#names.push(name);
      }
    }
    return gt + 1;
  }
}

/** The quote tagEnd was inside of when the text ran out (0: none). */
let cutQuote = 0;

/**
 * The `>` that ends the tag whose name starts at `from` (quotes skipped);
 * `quote`: the quote `from` is inside of, when a scan goes on.
 */
function tagEnd(text: string, from: number, quote: number): number {
  let i = from;
  if (quote !== 0) {
    i = quoteEnd(text, i, quote);
    if (i >= text.length) {
      cutQuote = quote;
      return INCOMPLETE;
    }
    i++;
  }
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === GT) return i;
    if (c === QUOT || c === APOS) {
      i = quoteEnd(text, i + 1, c);
      if (i >= text.length) {
        cutQuote = c;
        return INCOMPLETE;
      }
    } else if (c === LT) {
      throw new StreamXmlError("< inside a tag");
    }
  }
  cutQuote = 0;
  return INCOMPLETE;
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
function nameEndAt(text: string, from: number, gt: number): number {
  let i = from;
  while (i < gt) {
    const c = text.charCodeAt(i);
    if (c <= 32 || c === SLASH) break;
    i++;
  }
  return i;
}

/** Whether the end tag's name (from `at` up to `gt`, spaces allowed) is the open one. */
function sameName(text: string, open: number, length: number, at: number, gt: number): boolean {
  let end = gt;
  while (end > at && text.charCodeAt(end - 1) <= 32) end--;
  if (end - at !== length) return false;
  for (let i = 0; i < length; i++) {
    if (text.charCodeAt(open + i) !== text.charCodeAt(at + i)) return false;
  }
  return true;
}

/** Whether the end tag's name (from `at` up to `gt`, spaces allowed) is `name`. */
function isName(text: string, name: string, at: number, gt: number): boolean {
  let end = gt;
  while (end > at && text.charCodeAt(end - 1) <= 32) end--;
  return end - at === name.length && text.startsWith(name, at);
}

/** The text of a start tag's attributes, as received, less the addresses. */
interface AttrsText {
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
function parseAttrs(
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
    attrs[name] = value.indexOf("&") < 0 ? value : unescapeAttr(value);
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

/** Replaces the character and predefined entity references (XML 1.0 §4.6). */
function unescapeAttr(raw: string): string {
  return raw.replace(ENTITY, (match, hex?: string, dec?: string, named?: string) => {
    if (named) return NAMED[named];
    const code = hex ? parseInt(hex, 16) : dec ? parseInt(dec, 10) : NaN;
    if (!isXmlChar(code) || match === "&") {
      throw new StreamXmlError(`bad reference ${match} in an attribute value`);
    }
    return String.fromCodePoint(code);
  });
}

/**
 * One stanza from its text, as the stream would read it (a lazy element:
 * the start tag parsed, the content kept as text): how a failover reads the
 * request it kept, however deeply its payload nests. Throws on bad XML.
 */
export function parseStanza(text: string): XmlElement {
  const parser = new StreamParser();
  let stanza: XmlElement | undefined;
  let failure: unknown;
  parser.on("element", (el: XmlElement) => (stanza ??= el));
  parser.on("error", (error: unknown) => (failure = error));
  parser.write(`<s>${text}</s>`);
  if (failure !== undefined) throw failure;
  if (!stanza) throw new StreamXmlError("no stanza in the text");
  stanza.parent = null;
  return stanza;
}

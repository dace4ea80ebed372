/**
 * The component stream's scanner: stream text in, however it is cut into
 * chunks; the stream header, each stanza and the stream's end out. It reads
 * only what routing needs.
 *
 * Each stanza's start tag is parsed into a name and attributes; its content
 * is only checked (tags balance and match, nothing XMPP forbids: see
 * xml_content.ts) and kept as text in a lazy element (xml.ts), parsed if
 * and when someone asks for its children. The proxy forwards nearly every stanza without looking inside,
 * so the payload costs a scan instead of a tree and a second serialisation.
 * A stanza over the size limit (in bytes of UTF-8, as on the wire) is
 * handed to a skipper (xml_skip.ts) at the first chunk's end past the
 * limit, and comes out with its start tag only.
 * Pure: the link's stream parser feeds it socket reads, the router reads a
 * kept request with {@link parseStanza}.
 */
import { utf8Length } from "./byte_length.ts";
import { type LazyContent, lazyElement, oversizedElement, xml, type XmlElement } from "./xml.ts";
import { StanzaScan } from "./xml_content.ts";
import { type Head, readHead, type Skipper } from "./xml_skip.ts";
import {
  type AttrsText,
  BANG,
  cutQuote,
  INCOMPLETE,
  nameEndAt,
  parseAttrs,
  QUESTION,
  SLASH,
  StreamXmlError,
  tagEnd,
} from "./xml_tags.ts";

export { StreamXmlError };

/**
 * How much of an incomplete stanza is scanned before its text is set aside
 * (spilled) instead of being carried into the next chunk's text.
 */
const SPILL_AT = 16 * 1024;

/** What the scanner reads, in stream order. */
export interface ScanListener {
  /** The stream header (the root's start tag). */
  start(header: XmlElement): void;
  /** A top-level element (a stanza), as a lazy element. */
  element(stanza: XmlElement): void;
  /** The stream's end tag: nothing more is read. */
  end(header: XmlElement): void;
  /** The text is not acceptable XML: nothing more is read. */
  error(error: unknown): void;
}

/** Options of {@link StreamScanner}. */
export interface ScanOptions {
  /** For tests: the size from which an incomplete stanza is spilled. */
  readonly spillAt?: number;
  /**
   * The size limit of a stanza, in bytes of UTF-8 (as on the wire), read at
   * each chunk: a stanza over it is skipped, not kept, and handed on as an
   * oversized element (xml.ts). Default: none.
   */
  readonly maxStanza?: () => number;
}

/** Stream text in (any chunking), the stream's elements out, to a listener. */
export class StreamScanner {
  readonly #listener: ScanListener;
  #buffer = "";
  #root: XmlElement | undefined;
  #done = false;
  /** Where the scan of the stanza cut short by a chunk's end stands. */
  readonly #scan: StanzaScan;
  readonly #maxStanza: () => number;
  /** Skipping a stanza over the limit: the skip, and what is kept of the stanza. */
  #skipper: Skipper | undefined;
  #head: Head | undefined;
  /** The next element's content; parseAttrs fills in `others`. */
  readonly #next: LazyContent & AttrsText = { inner: "", parent: null, others: "" };
  /**
   * The event the last scan completed, reported by write() outside its
   * `try`: what a listener throws is its own failure, not bad XML.
   */
  #event: "start" | "element" | "end" | undefined;
  #element: XmlElement | undefined;

  constructor(listener: ScanListener, options?: ScanOptions) {
    this.#listener = listener;
    this.#scan = new StanzaScan(options?.spillAt ?? SPILL_AT);
    this.#maxStanza = options?.maxStanza ?? (() => Infinity);
  }

  /** How much of the stream's text is held, waiting for the rest of a stanza. */
  get held(): number {
    return this.#buffer.length + this.#scan.spilled;
  }

  /** Reads a chunk of the stream; what it does not complete waits for the next. */
  write(data: string): void {
    if (this.#done) return;
    let text = this.#buffer === "" ? data : this.#buffer + data;
    let pos = 0;
    if (this.#skipper !== undefined) {
      pos = this.#skip(text, 0);
      if (pos === INCOMPLETE) return void (this.#buffer = "");
    } else if (this.#scan.spilled > 0) {
      let rest;
      try {
        rest = this.#scan.rest(text);
      } catch (error) {
        this.#done = true;
        return this.#listener.error(error);
      }
      if ("kept" in rest) {
        this.#buffer = rest.kept;
        return this.#limit();
      }
      text = rest.whole;
    }
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
        this.#listener.error(error);
        return;
      }
      const event = this.#event;
      if (event !== undefined) {
        const element = this.#element;
        this.#event = this.#element = undefined;
        this.#listener[event](element as XmlElement);
      }
      if (next === INCOMPLETE) {
        pos = this.#scan.cut(text, lt);
        break;
      }
      pos = next;
    }
    this.#buffer = pos < text.length ? text.slice(pos) : "";
    this.#limit();
  }

  /**
   * A stanza held past the limit (the buffer, and what was spilled) is let
   * go, but for its head, and a skipper goes on from where its scan stood.
   */
  #limit(): void {
    const text = this.#buffer;
    const scan = this.#scan;
    if (this.#done || !this.#root || !this.#over(text, 0, text.length)) return;
    // Not a stanza: the stream's end tag, whose `>` is that far (spaces may come before it).
    if (scan.parts.length === 0 && text.charCodeAt(1) === SLASH) {
      this.#done = true;
      this.#buffer = "";
      return this.#listener.error(new StreamXmlError("an end tag over max_stanza_size"));
    }
    // A stanza's own start tag is held a little longer, for the addresses its refusal needs.
    if (
      scan.resume < 0 &&
      scan.spilledBytes() + utf8Length(text, 0, text.length) <= this.#maxStanza() + START_TAG_GRACE
    ) return;
    let from: number;
    try {
      let skipper: Skipper;
      ({ head: this.#head, skipper, from } = scan.overflow(text));
      this.#skipper = skipper;
    } catch (error) {
      this.#done = true;
      return this.#listener.error(error);
    }
    this.#buffer = "";
    const end = this.#skip(text, from);
    // (The scan stood at a chunk's end, inside something unfinished: never.)
    if (end !== INCOMPLETE) this.write(text.slice(end));
  }

  /** Skips on from `from`; at the stanza's end hands it on, and returns where it ended. */
  #skip(text: string, from: number): number {
    let end: number;
    try {
      end = (this.#skipper as Skipper).skip(text, from);
    } catch (error) {
      this.#done = true;
      this.#listener.error(error);
      return INCOMPLETE;
    }
    if (end === INCOMPLETE) return INCOMPLETE;
    const { name, attrs } = this.#head as Head;
    this.#skipper = this.#head = undefined;
    this.#listener.element(oversizedElement(name, attrs, this.#root ?? null));
    return end;
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
    if (gt < 0) {
      this.#scan.tagQuote = cutQuote(gt);
      return INCOMPLETE;
    }
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
      const close = this.#scan.content(text, gt + 1, lt + 1, name.length);
      if (close === INCOMPLETE) return INCOMPLETE;
      inner = text.slice(gt + 1, close);
      next = text.indexOf(">", close) + 1;
    }
    if (this.#over(text, lt, next)) {
      // Whole in this text, and over the limit all the same.
      const head = readHead(text, lt, true);
      this.#ready("element", oversizedElement(head.name, head.attrs, this.#root));
      return next;
    }
    const content = this.#next;
    const attrs = parseAttrs(text, nameEnd, empty ? gt - 1 : gt, content);
    content.inner = inner;
    content.parent = this.#root;
    this.#ready("element", lazyElement(name, attrs, content));
    return next;
  }

  /**
   * Whether a stanza (what was spilled of it, then `text` from `from` to
   * `to`) is over the size limit, in UTF-8. n UTF-16 code units are n to 3n
   * bytes: only a stanza between a third of the limit and the limit, in
   * code units, is measured (what was spilled, each part once).
   */
  #over(text: string, from: number, to: number): boolean {
    const scan = this.#scan;
    const limit = this.#maxStanza();
    const chars = scan.spilled + to - from;
    if (chars * 3 <= limit) return false;
    return chars > limit || scan.spilledBytes() + utf8Length(text, from, to) > limit;
  }

  #ready(event: "start" | "element" | "end", element: XmlElement): void {
    this.#event = event;
    this.#element = element;
  }
}

/**
 * How far past max_stanza_size a stanza's start tag cut short is held, in
 * bytes of UTF-8 as the limit is: room for `from` and `to` at 3,071 bytes
 * each (RFC 7622 §3.1), an id and the rest. Past it only its whole
 * attributes are kept.
 */
const START_TAG_GRACE = 16_384;

/**
 * One stanza from its text, as the stream would read it (a lazy element:
 * the start tag parsed, the content kept as text): how a failover reads the
 * request it kept, however deeply its payload nests. Throws on bad XML.
 */
export function parseStanza(text: string): XmlElement {
  let stanza: XmlElement | undefined;
  let failure: unknown;
  const scanner = new StreamScanner({
    start() {},
    element: (el) => (stanza ??= el),
    end() {},
    error: (error) => (failure = error),
  });
  scanner.write(`<s>${text}</s>`);
  if (failure !== undefined) throw failure;
  if (!stanza) throw new StreamXmlError("no stanza in the text");
  stanza.parent = null;
  return stanza;
}

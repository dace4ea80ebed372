/**
 * The component stream's scanner: stream text in, however it is cut into
 * chunks; the stream header, each stanza and the stream's end out. It reads
 * only what routing needs.
 *
 * Each stanza's start tag is parsed into a name and attributes; its content
 * is only checked (tags balance and match, nothing XMPP forbids) and kept as
 * text in a lazy element (xml.ts), parsed if and when someone asks for its
 * children. The proxy forwards nearly every stanza without looking inside,
 * so the payload costs a scan instead of a tree and a second serialisation.
 * Pure: the link's stream parser feeds it socket reads, the router reads a
 * kept request with {@link parseStanza}.
 */
import { type LazyContent, lazyElement, xml, type XmlElement } from "./xml.ts";
import {
  type AttrsText,
  BANG,
  cutQuote,
  INCOMPLETE,
  isName,
  nameEndAt,
  parseAttrs,
  QUESTION,
  sameName,
  SLASH,
  StreamXmlError,
  tagEnd,
} from "./xml_tags.ts";

export { StreamXmlError };

/** What the content scan stopped inside of, when a chunk ended there. */
const CDATA = 1;
const TAG = 2;

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

/** Stream text in (any chunking), the stream's elements out, to a listener. */
export class StreamScanner {
  readonly #listener: ScanListener;
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
   * The event the last scan completed, reported by write() outside its
   * `try`: what a listener throws is its own failure, not bad XML.
   */
  #event: "start" | "element" | "end" | undefined;
  #element: XmlElement | undefined;

  /** `spillAt`: for tests, the size from which an incomplete stanza is spilled. */
  constructor(listener: ScanListener, options?: { spillAt?: number }) {
    this.#listener = listener;
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
      // (#top left the quote the tag was cut in, if any, in #tagQuote.)
      this.#parts.push(text.slice(lt));
      this.#spilled = text.length - lt;
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
        if (gt < 0) {
          this.#parts.push(text);
          this.#spilled += text.length;
          this.#tagQuote = cutQuote(gt);
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
      this.#listener.error(error);
      return undefined;
    }
    const whole = this.#parts.join("") + text;
    this.#parts = [];
    this.#spilled = 0;
    return whole;
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
      this.#tagQuote = cutQuote(gt);
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
        if (gt < 0) {
          this.#tagAt = text.length;
          this.#tagQuote = cutQuote(gt);
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
    if (gt < 0) {
      this.#tagAt = text.length;
      this.#tagQuote = cutQuote(gt);
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

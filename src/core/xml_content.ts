/**
 * The scan of one stanza's content, however many chunks it comes in: where
 * it stands (which tags are open, whether a chunk ended inside a tag or a
 * CDATA section) so that each chunk is scanned once, and the setting aside
 * (spilling) of a big stanza's text so that it is not copied again with
 * each chunk. Used by the stream scanner (xml_scan.ts), which reads the
 * stanza's start tag and hands over the rest; also where a stanza over the
 * size limit is handed to a skipper (xml_skip.ts).
 */
import { utf8Length } from "./byte_length.ts";
import { type Head, readHead, Skipper } from "./xml_skip.ts";
import {
  BANG,
  cutQuote,
  INCOMPLETE,
  isName,
  nameEndAt,
  QUESTION,
  sameName,
  SLASH,
  StreamXmlError,
  tagEnd,
} from "./xml_tags.ts";

/** What the content scan stopped inside of, when a chunk ended there. */
const CDATA = 1;
const TAG = 2;

/** The state of one stanza's scan, from chunk to chunk; reset by each new stanza. */
export class StanzaScan {
  readonly spillAt: number;
  /** Start offsets and lengths of the names of open tags inside a stanza. */
  readonly open: number[] = [];
  /**
   * Where the scan of a stanza cut short by the end of a chunk goes on (-1:
   * from its start), so that a stanza arriving in many chunks is scanned
   * once in all, not once per chunk.
   */
  resume = -1;
  /** What `resume` is inside of: 0 (nothing: text, or a `<` to read again), CDATA or TAG. */
  within = 0;
  /** In a start tag (TAG, and a stanza's own when spilled): where tagEnd goes on, in which quote. */
  tagAt = 0;
  tagQuote = 0;
  /** In a start tag whose beginning was spilled: its name. */
  tagName: string | undefined;
  /**
   * A big stanza arriving in pieces (see cut()): its text before the
   * buffer, its length (0: none), and the names of the tags open in it,
   * outermost first (`open` holds those of the buffer's text, innermost last).
   */
  parts: string[] = [];
  spilled = 0;
  readonly names: string[] = [];
  /** The UTF-8 length of the first `#measured` parts (see spilledBytes()). */
  #measured = 0;
  #measuredBytes = 0;

  /** @param spillAt the size from which an incomplete stanza is spilled */
  constructor(spillAt: number) {
    this.spillAt = spillAt;
  }

  /**
   * Where the buffer starts when the element at `lt` goes on in the next
   * chunk. Usually at `lt`, the text carried over whole (offsets kept move
   * with it). A big stanza's scanned text is spilled instead: set aside in
   * `parts`, joined once when the stanza ends, so that one arriving in many
   * small chunks is not copied again with each (quadratic).
   */
  cut(text: string, lt: number): number {
    const spillAt = this.spillAt;
    if (this.resume < 0) {
      // A big start tag (another element is small, or waits for a few characters).
      const second = lt + 1 < text.length ? text.charCodeAt(lt + 1) : QUESTION;
      if (text.length - lt < spillAt || second === QUESTION || second === SLASH) return lt;
      // (The caller left the quote the tag was cut in, if any, in tagQuote.)
      this.parts.push(text.slice(lt));
      this.spilled = text.length - lt;
      return text.length;
    }
    const keep = this.#keep(text);
    if (keep - lt >= spillAt) {
      this.#spill(text, lt, keep);
      return keep;
    }
    if (lt > 0) {
      this.resume -= lt;
      this.tagAt -= lt;
      const open = this.open;
      for (let i = 0; i < open.length; i += 2) open[i] -= lt;
    }
    return lt;
  }

  /** Where the text the content scan still needs starts (all before is scanned). */
  #keep(text: string): number {
    const resume = this.resume;
    if (this.within !== TAG) return resume;
    // A start tag needs its name and the character before its `>` (`/`?).
    if (this.tagName !== undefined) return text.length - 1;
    return nameEndAt(text, resume + 1, text.length) < text.length ? text.length - 1 : resume;
  }

  /** Sets aside the scanned text from `from` to `keep`; the buffer will start at `keep`. */
  #spill(text: string, from: number, keep: number): void {
    if (keep > from) {
      this.parts.push(text.slice(from, keep));
      this.spilled += keep - from;
    }
    const open = this.open;
    const names = this.names;
    for (let i = 0; i < open.length; i += 2) names.push(text.slice(open[i], open[i] + open[i + 1]));
    open.length = 0;
    const resume = this.resume;
    if (this.within === TAG && this.tagName === undefined && keep > resume) {
      this.tagName = text.slice(resume + 1, nameEndAt(text, resume + 1, text.length));
    }
    // keep() is never before resume: the scan goes on at the buffer's start.
    this.resume = 0;
    this.tagAt -= keep;
  }

  /**
   * The next chunk of a spilled stanza (`text`: the buffer and the chunk):
   * scans it on; at the stanza's end, returns its whole text joined with
   * the rest of the chunk, for the stream scanner to read as usual (the
   * end found already: only the start tag is read again). Otherwise spills,
   * and returns what the buffer keeps. Throws on bad XML.
   */
  rest(text: string): { readonly whole: string } | { readonly kept: string } {
    if (this.resume < 0) {
      // The stanza's own start tag goes on.
      const gt = tagEnd(text, 0, this.tagQuote);
      if (gt < 0) {
        this.parts.push(text);
        this.spilled += text.length;
        this.tagQuote = cutQuote(gt);
        return { kept: "" };
      }
    } else {
      const stanza = this.names[0];
      const close = this.content(text, 0, 0, 0);
      if (close === INCOMPLETE) {
        const keep = this.#keep(text);
        this.#spill(text, 0, keep);
        return { kept: text.slice(keep) };
      }
      // Read again in the whole text: the stanza's end tag.
      this.resume = this.spilled + close;
      this.names.push(stanza);
    }
    const whole = this.parts.join("") + text;
    this.#unspill();
    return { whole };
  }

  /**
   * The UTF-8 length of the spilled text. Each part is measured once, when
   * first asked for: a stanza growing near the size limit is not measured
   * again from its start with each chunk.
   */
  spilledBytes(): number {
    const parts = this.parts;
    for (; this.#measured < parts.length; this.#measured++) {
      this.#measuredBytes += utf8Length(parts[this.#measured]);
    }
    return this.#measuredBytes;
  }

  /** The spilled text is let go (joined, or skipped). */
  #unspill(): void {
    this.parts = [];
    this.spilled = this.#measured = this.#measuredBytes = 0;
  }

  /**
   * Scans a stanza's content from `from` to its end tag (that of the name at
   * `nameAt`, `nameLength` long); returns the end tag's offset. Checks what
   * forwarding the text as it is needs: tags balance and match, and nothing
   * XMPP forbids (RFC 6120 §11.1: no comments, processing instructions or
   * DTDs) — the server re-checks everything we send.
   */
  content(text: string, from: number, nameAt: number, nameLength: number): number {
    const open = this.open;
    let pos = this.resume;
    if (pos < 0) {
      open.length = 0;
      open.push(nameAt, nameLength);
      pos = from;
    } else if (this.within !== 0) {
      pos = this.#goOn(text, pos);
      if (pos === INCOMPLETE) return INCOMPLETE;
    }
    // Every tag before `pos` is accounted for in `open` (and `names`).
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
          const names = this.names;
          const name = names.pop() as string;
          if (!isName(text, name, lt + 2, gt)) {
            throw new StreamXmlError(`${text.slice(lt, gt + 1)} closes <${name}>`);
          }
          if (names.length === 0) {
            this.resume = -1;
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
          if (open.length === 0 && this.names.length === 0) {
            this.resume = -1;
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
          this.tagAt = text.length;
          this.tagQuote = cutQuote(gt);
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
    this.resume = at;
    this.within = within;
    return INCOMPLETE;
  }

  /**
   * Goes on with the CDATA section or start tag at `pos` that the last
   * chunk cut; returns where the scan goes on after it.
   */
  #goOn(text: string, pos: number): number {
    if (this.within === CDATA) {
      const end = text.indexOf("]]>", pos);
      if (end < 0) return this.#stop(Math.max(pos, text.length - 2), CDATA);
      this.within = 0;
      return end + 3;
    }
    const gt = tagEnd(text, this.tagAt, this.tagQuote);
    if (gt < 0) {
      this.tagAt = text.length;
      this.tagQuote = cutQuote(gt);
      return INCOMPLETE;
    }
    this.within = 0;
    const name = this.tagName;
    this.tagName = undefined;
    if (text.charCodeAt(gt - 1) !== SLASH) {
      if (name === undefined) {
        const nameEnd = nameEndAt(text, pos + 1, gt);
        if (nameEnd === pos + 1) throw new StreamXmlError("a tag without a name");
        this.open.push(pos + 1, nameEnd - pos - 1);
      } else {
        // The tag's start was spilled: so was every tag before (`open` is empty).
        if (name === "") throw new StreamXmlError("a tag without a name");
        this.names.push(name);
      }
    }
    return gt + 1;
  }

  /**
   * The stanza held so far (`text`: what the buffer keeps, after what was
   * spilled) goes over the size limit: what is kept of it (its head), and
   * the skipper that goes on from where the scan stood at the end of
   * `text`, with where in `text` it starts. The scan is then reset.
   * Throws on bad XML in the start tag.
   */
  overflow(text: string): { head: Head; skipper: Skipper; from: number } {
    const spilled = this.parts.length > 0;
    const last = text !== "" ? text : this.parts[this.parts.length - 1];
    const slash = this.tagQuote === 0 && last.charCodeAt(last.length - 1) === SLASH;
    const depth = this.open.length / 2 + this.names.length;
    let skipper: Skipper;
    let from = this.resume;
    if (this.resume < 0 || (this.within === TAG && this.tagName !== undefined)) {
      // In a start tag, the stanza's own or one whose `<` was spilled.
      skipper = Skipper.inStartTag(this.resume < 0 ? 0 : depth, this.tagQuote, slash);
      from = text.length;
    } else if (this.within === CDATA) skipper = Skipper.inCdata(depth);
    // (A start tag cut short is read again from its `<`.)
    else skipper = Skipper.inText(depth);
    const start = !spilled ? text : this.parts.length === 1 ? this.parts[0] : this.parts.join("");
    const head = readHead(start, 0, this.resume >= 0);
    this.#unspill();
    this.names.length = this.open.length = 0;
    this.resume = -1;
    this.within = 0;
    this.tagName = undefined;
    return { head, skipper, from };
  }
}

/**
 * Skipping the rest of a stanza too big to keep (`max_stanza_size`): the
 * scanner (xml_scan.ts) hands it over here, and only what finding the
 * stanza's end needs is kept — how deep the scan is, and whether it is in
 * a tag, a quoted value or a CDATA section — never the text. Linear in the
 * text, constant in memory, however the stream is cut into chunks.
 *
 * End tags are counted, not matched against their start tags (that would
 * mean keeping every open name): the server checked the stanza is
 * well-formed, and nothing of it is forwarded. What XMPP forbids anywhere
 * (comments, processing instructions) is still an error.
 */
import { copyString } from "./xml.ts";
import {
  BANG,
  GT,
  INCOMPLETE,
  LT,
  nameEndAt,
  parseAttrs,
  QUESTION,
  SLASH,
  StreamXmlError,
  tagEnd,
  wholeAttrsEnd,
} from "./xml_tags.ts";

const QUOT = 34; // "
const APOS = 39; // '
const BRACKET = 93; // ]
const CDATA_OPEN = "<![CDATA[";
/** A name longer than this is cut: an oversized stanza keeps nothing big. */
const NAME_MAX = 1_024;

/** What is kept of a stanza over the limit: its name, and its start tag's attributes. */
export interface Head {
  readonly name: string;
  readonly attrs: Record<string, string>;
}

/**
 * The head of the stanza whose `<` is at `at` in `text`: its name, and its
 * attributes (`complete`: its start tag ends in `text`; else those whole so
 * far, so that one cut short by a big value can still be answered), copied
 * so that they keep no text alive. Throws on bad XML in the start tag.
 */
export function readHead(text: string, at: number, complete: boolean): Head {
  const end = complete ? tagEnd(text, at + 1, 0) : text.length;
  const nameEnd = nameEndAt(text, at + 1, Math.min(end, at + 1 + NAME_MAX));
  const name = copyString(text.slice(at + 1, nameEnd));
  const attrsAt = nameEndAt(text, at + 1, end);
  const attrsEnd = !complete
    ? wholeAttrsEnd(text, attrsAt)
    : text.charCodeAt(end - 1) === SLASH
    ? end - 1
    : end;
  const attrs = parseAttrs(text, attrsAt, attrsEnd);
  for (const key in attrs) attrs[key] = copyString(attrs[key]);
  return { name, attrs };
}

/** Where the skip is. */
const Mode = {
  /** Character data: up to the next `<`. */
  Text: 0,
  /** Just after a `<`. */
  Markup: 1,
  /** In a start or end tag, up to its `>` (quoted values skipped). */
  Tag: 2,
  /** In `<!`, which must go on as `<![CDATA[`. */
  Bang: 3,
  /** In a CDATA section, up to `]]>`. */
  Cdata: 4,
} as const;
type Mode = typeof Mode[keyof typeof Mode];

/** The rest of one stanza, skipped. */
export class Skipper {
  #mode: Mode;
  /** Elements open, the stanza's own included once its start tag is read. */
  #depth: number;
  /** In a tag: a start tag (else an end tag). */
  #opening = true;
  /** In a tag: the quote of the value it is in (0: none). */
  #quote = 0;
  /** In a tag: whether the last character outside quotes was `/`. */
  #slash = false;
  /** In `<!`: characters of `<![CDATA[` matched; in CDATA: `]` just read (0 to 2). */
  #matched = 0;

  private constructor(mode: Mode, depth: number) {
    this.#mode = mode;
    this.#depth = depth;
  }

  /** In character data, `depth` elements open. */
  static inText(depth: number): Skipper {
    return new Skipper(Mode.Text, depth);
  }

  /** In a CDATA section, `depth` elements open. */
  static inCdata(depth: number): Skipper {
    return new Skipper(Mode.Cdata, depth);
  }

  /**
   * In a start tag (`depth` elements open before it: 0 for the stanza's
   * own), inside the value quoted by `quote` (0: none), `slash`: just
   * after a `/` outside quotes.
   */
  static inStartTag(depth: number, quote: number, slash: boolean): Skipper {
    const skipper = new Skipper(Mode.Tag, depth);
    skipper.#quote = quote;
    skipper.#slash = slash;
    return skipper;
  }

  /**
   * Skips `text` from `from`: where the stanza ends (just after its end
   * tag, or its own start tag if empty), or INCOMPLETE when it goes on in
   * the next chunk. Throws what XMPP forbids.
   */
  skip(text: string, from: number): number {
    let i = from;
    while (i < text.length) {
      switch (this.#mode) {
        case Mode.Text: {
          const lt = text.indexOf("<", i);
          if (lt < 0) return INCOMPLETE;
          this.#mode = Mode.Markup;
          i = lt + 1;
          break;
        }
        case Mode.Markup:
          i = this.#markup(text, i);
          break;
        case Mode.Bang:
          i = this.#bang(text, i);
          break;
        case Mode.Cdata:
          i = this.#cdata(text, i);
          break;
        case Mode.Tag:
          i = this.#tag(text, i);
          // Its `>` read: the stanza ends when nothing is open any more.
          if ((this.#mode as Mode) === Mode.Text && this.#depth === 0) return i;
          break;
      }
    }
    return INCOMPLETE;
  }

  /** The character after a `<`. */
  #markup(text: string, i: number): number {
    const c = text.charCodeAt(i);
    if (c === QUESTION) throw new StreamXmlError("processing instruction in a stanza");
    if (c === BANG) {
      this.#mode = Mode.Bang;
      this.#matched = 2;
      return i + 1;
    }
    if (c !== SLASH && (c <= 32 || c === GT || c === LT)) {
      throw new StreamXmlError("a tag without a name");
    }
    this.#mode = Mode.Tag;
    this.#opening = c !== SLASH;
    this.#quote = 0;
    this.#slash = false;
    return c === SLASH ? i + 1 : i;
  }

  #bang(text: string, i: number): number {
    while (i < text.length && this.#matched < CDATA_OPEN.length) {
      if (text.charCodeAt(i) !== CDATA_OPEN.charCodeAt(this.#matched)) {
        throw new StreamXmlError("comment or DTD in a stanza");
      }
      this.#matched++;
      i++;
    }
    if (this.#matched === CDATA_OPEN.length) {
      this.#mode = Mode.Cdata;
      this.#matched = 0;
    }
    return i;
  }

  #cdata(text: string, i: number): number {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === BRACKET) {
        if (this.#matched < 2) this.#matched++;
        i++;
      } else if (c === GT && this.#matched === 2) {
        this.#mode = Mode.Text;
        this.#matched = 0;
        return i + 1;
      } else {
        this.#matched = 0;
        const next = text.indexOf("]", i + 1);
        i = next < 0 ? text.length : next;
      }
    }
    return i;
  }

  /** Up to the tag's `>`; there, the depth changes and the mode is text again. */
  #tag(text: string, i: number): number {
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (this.#quote !== 0) {
        if (c === this.#quote) this.#quote = 0;
        // XML 1.0 §3.1: no "<" in an attribute value.
        else if (c === LT) throw new StreamXmlError("< in an attribute value");
      } else if (c === GT) {
        this.#mode = Mode.Text;
        if (!this.#opening) this.#depth--;
        else if (!this.#slash) this.#depth++;
        return i + 1;
      } else if (c === QUOT || c === APOS) {
        this.#quote = c;
        this.#slash = false;
      } else if (c === LT) {
        throw new StreamXmlError("< inside a tag");
      } else {
        this.#slash = c === SLASH;
      }
    }
    return i;
  }
}

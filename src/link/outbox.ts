/**
 * What the stream could not send while it was down, in order, bounded by
 * count and by size: when full, the oldest entries go. Sent again, in
 * order, once the stream is back.
 */

/** Entries held at most, and characters held at most, by default. */
export const OUTBOX_LIMIT = 10_000;
export const OUTBOX_CHARS = 32 * 1024 * 1024;

export class Outbox {
  readonly #limit: number;
  readonly #maxChars: number;
  #items: string[] = [];
  /** Index of the oldest entry still held: dropping is O(1), not a shift. */
  #head = 0;
  #chars = 0;
  #dropped = 0;

  /**
   * @param limit entries held at most (default 10000)
   * @param maxChars characters held at most, all entries together (default 32 Mi)
   */
  constructor(limit = OUTBOX_LIMIT, maxChars = OUTBOX_CHARS) {
    this.#limit = limit;
    this.#maxChars = maxChars;
  }

  /** How many entries are held. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** How many characters are held. */
  get chars(): number {
    return this.#chars;
  }

  /** How many entries were dropped since the last {@link drain}. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Holds `text`; when full, drops the oldest first (and an entry larger
   * than the whole outbox, itself). Returns whether one was dropped.
   */
  push(text: string): boolean {
    if (text.length > this.#maxChars) {
      this.#dropped++;
      return true;
    }
    let dropped = false;
    while (this.size >= this.#limit || this.#chars + text.length > this.#maxChars) {
      this.#chars -= this.#items[this.#head].length;
      this.#items[this.#head] = "";
      this.#head++;
      this.#dropped++;
      dropped = true;
    }
    // Compact now and then, so that the array does not grow for ever.
    if (this.#head >= this.#limit || (this.#head > 0 && this.#head === this.#items.length)) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    this.#items.push(text);
    this.#chars += text.length;
    return dropped;
  }

  /** Takes every entry held, oldest first, and resets the dropped count. */
  drain(): string[] {
    const items = this.#head === 0 ? this.#items : this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    this.#chars = 0;
    this.#dropped = 0;
    return items;
  }
}

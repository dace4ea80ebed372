/**
 * What the stream could not send while it was down, in order, bounded: when
 * full, the oldest entry goes. Sent again, in order, once the stream is back.
 */
export class Outbox {
  readonly #limit: number;
  #items: string[] = [];
  /** Index of the oldest entry still held: dropping is O(1), not a shift. */
  #head = 0;
  #dropped = 0;

  /** @param limit entries held at most (default 10000). */
  constructor(limit = 10_000) {
    this.#limit = limit;
  }

  /** How many entries are held. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** How many entries were dropped since the last {@link drain}. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Holds `text`; when full, drops the oldest first. Returns whether one was dropped. */
  push(text: string): boolean {
    let dropped = false;
    if (this.size >= this.#limit) {
      this.#head++;
      this.#dropped++;
      dropped = true;
      // Compact now and then, so that dropped entries do not stay referenced.
      if (this.#head >= this.#limit) {
        this.#items = this.#items.slice(this.#head);
        this.#head = 0;
      }
    }
    this.#items.push(text);
    return dropped;
  }

  /** Takes every entry held, oldest first, and resets the dropped count. */
  drain(): string[] {
    const items = this.#head === 0 ? this.#items : this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    this.#dropped = 0;
    return items;
  }
}

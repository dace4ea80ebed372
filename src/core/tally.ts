/**
 * Counts by key, for the per-requester and per-domain caps. A key at zero
 * is forgotten, so memory follows the keys that hold something. Each add
 * returns the key's cell, so the matching release needs no lookup.
 */

/** The count of one key. */
export interface Count {
  readonly key: string;
  n: number;
}

/** Counts by key. */
export class Tally {
  readonly #counts = new Map<string, Count>();

  /** The count of `key` (0 if none). */
  get(key: string): number {
    return this.#counts.get(key)?.n ?? 0;
  }

  /** One more for `key`; its cell, for {@link release}. */
  add(key: string): Count {
    let count = this.#counts.get(key);
    if (count === undefined) this.#counts.set(key, count = { key, n: 0 });
    count.n++;
    return count;
  }

  /** One less on a cell {@link add} returned. */
  release(count: Count): void {
    if (--count.n === 0) this.#counts.delete(count.key);
  }

  /** One less for `key`, if it has any. */
  remove(key: string): void {
    const count = this.#counts.get(key);
    if (count !== undefined) this.release(count);
  }

  clear(): void {
    this.#counts.clear();
  }
}

/** Counts by key, for the per-requester and per-domain caps; a key at zero is forgotten. */
export class Tally {
  readonly #counts = new Map<string, number>();

  /** The count of `key` (0 if none). */
  get(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  add(key: string): void {
    this.#counts.set(key, this.get(key) + 1);
  }

  remove(key: string): void {
    const left = this.get(key) - 1;
    // Deleted at zero, so memory follows the keys that hold something.
    if (left > 0) this.#counts.set(key, left);
    else this.#counts.delete(key);
  }

  clear(): void {
    this.#counts.clear();
  }
}

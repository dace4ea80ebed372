/**
 * Which resource has each user's conversation (`balance: sticky`, and
 * users' messages): a user stays there while that resource is online, so a
 * resource that comes online takes only users who have none yet.
 * Rendezvous hashing (src/core/balance.ts) places the others.
 */

/** Users' resources by bare JID, the most recently used last; bounded. */
export class Stickiness {
  readonly #byBare = new Map<string, string>();
  readonly #limit: number;

  /** @param limit users remembered at most (default 10000); the least recent go first. */
  constructor(limit = 10_000) {
    this.#limit = limit;
  }

  /** The resource name this user was last placed on, if remembered. */
  get(bare: string): string | undefined {
    const name = this.#byBare.get(bare);
    if (name !== undefined) {
      // Most recent last: the oldest is the first in the map's order.
      this.#byBare.delete(bare);
      this.#byBare.set(bare, name);
    }
    return name;
  }

  /** Places this user on the resource `name`. */
  set(bare: string, name: string): void {
    this.#byBare.delete(bare);
    this.#byBare.set(bare, name);
    if (this.#byBare.size > this.#limit) {
      this.#byBare.delete(this.#byBare.keys().next().value as string);
    }
  }

  /** How many users are remembered. */
  get size(): number {
    return this.#byBare.size;
  }
}

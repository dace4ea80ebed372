/**
 * Affinity pins (`affinity`): which resource serves each key (a room, say)
 * that requests carry (src/core/affinity_key.ts). A key stays on the
 * resource that first served it while that resource is online, while it is
 * used at least every `affinity_idle`, and while it is among the
 * `max_affinity_keys` most recently used. Not to be confused with
 * stickiness (src/core/stickiness.ts), which keeps a requester on a
 * resource under `balance: sticky`.
 *
 * Pins are kept in the order of their last use, so the least recently used
 * is both the first to evict and the first to expire.
 */
/** `affinity_idle`'s default: a pin unused this long ends. */
export const DEFAULT_AFFINITY_IDLE_MS = 3_600_000;
/** `max_affinity_keys`'s default. */
export const DEFAULT_MAX_AFFINITY_KEYS = 100_000;

/** One key pinned to one resource. */
export interface Pin {
  readonly key: string;
  /** The resource's name (its resourcepart). */
  readonly resource: string;
  /** When a request with this key last went to the resource. */
  lastUsed: number;
}

/** A pin in the order of use: its neighbours, the less and the more recently used. */
interface Node extends Pin {
  older: Node | undefined;
  newer: Node | undefined;
}

/** The pins, by key and by resource, and in the order of their last use. */
export class AffinityPins {
  readonly #byKey = new Map<string, Node>();
  readonly #byResource = new Map<string, Set<Node>>();
  /** The least and the most recently used (a list through the pins: a use moves no table entry). */
  #oldest: Node | undefined;
  #newest: Node | undefined;

  /** How many keys are pinned. */
  get size(): number {
    return this.#byKey.size;
  }

  /** Every pin as `[key, resource]`, the least recently used first. */
  entries(): Array<[string, string]> {
    const all: Array<[string, string]> = [];
    for (let node = this.#oldest; node; node = node.newer) all.push([node.key, node.resource]);
    return all;
  }

  /** The pin of `key`, if any (not a use: see {@link touch}). */
  get(key: string): Pin | undefined {
    return this.#byKey.get(key);
  }

  /** A request with the pin's key went to its resource. */
  touch(pin: Pin, now: number): void {
    const node = pin as Node;
    node.lastUsed = now;
    if (node === this.#newest) return;
    this.#unlink(node);
    this.#append(node);
  }

  /**
   * Pins a key that has no pin to `resource`; returns the keys evicted to
   * keep at most `max` (the least recently used).
   */
  add(key: string, resource: string, now: number, max: number): string[] {
    const node: Node = { key, resource, lastUsed: now, older: undefined, newer: undefined };
    this.#byKey.set(key, node);
    this.#append(node);
    let pins = this.#byResource.get(resource);
    if (pins === undefined) this.#byResource.set(resource, pins = new Set());
    pins.add(node);
    return this.trim(max);
  }

  /** Ends the least recently used pins beyond `max`; returns their keys. */
  trim(max: number): string[] {
    const evicted: string[] = [];
    while (this.#byKey.size > max) {
      const oldest = this.#oldest as Node;
      this.remove(oldest);
      evicted.push(oldest.key);
    }
    return evicted;
  }

  /** How many keys are pinned to `resource`. */
  countFor(resource: string): number {
    return this.#byResource.get(resource)?.size ?? 0;
  }

  /** Ends one pin. */
  remove(pin: Pin): void {
    const node = pin as Node;
    if (this.#byKey.get(node.key) !== node) return;
    this.#byKey.delete(node.key);
    this.#unlink(node);
    const pins = this.#byResource.get(node.resource);
    pins?.delete(node);
    if (pins?.size === 0) this.#byResource.delete(node.resource);
  }

  /** Ends every pin of a resource; returns their keys. */
  release(resource: string): string[] {
    const pins = this.#byResource.get(resource);
    if (pins === undefined) return [];
    const keys: string[] = [];
    for (const node of pins) {
      this.#byKey.delete(node.key);
      this.#unlink(node);
      keys.push(node.key);
    }
    this.#byResource.delete(resource);
    return keys;
  }

  /** Ends the pins of every resource for which `online` is false; returns their keys. */
  releaseAbsent(online: (resource: string) => boolean): string[] {
    const keys: string[] = [];
    for (const resource of [...this.#byResource.keys()]) {
      if (!online(resource)) keys.push(...this.release(resource));
    }
    return keys;
  }

  /**
   * Ends the pins unused for `idleMs` or more at `now`, but for those of a
   * `draining` resource: they count as used now (the most recently used, so
   * the last to evict, and kept another `idleMs` if it stops draining).
   * Returns the keys ended.
   */
  expire(now: number, idleMs: number, draining: (resource: string) => boolean): string[] {
    const keys: string[] = [];
    for (let node = this.#oldest; node && node.lastUsed + idleMs <= now; node = this.#oldest) {
      if (draining(node.resource)) this.touch(node, now);
      else {
        this.remove(node);
        keys.push(node.key);
      }
    }
    return keys;
  }

  /** When the least recently used pin expires, or undefined with none. */
  nextExpiry(idleMs: number): number | undefined {
    const oldest = this.#oldest;
    return oldest === undefined ? undefined : oldest.lastUsed + idleMs;
  }

  /**
   * Replaces every pin with `stored` (oldest first), each as used at `now`:
   * the store keeps no time of use.
   */
  restore(stored: Iterable<readonly [key: string, resource: string]>, now: number): void {
    this.clear();
    for (const [key, resource] of stored) {
      const known = this.#byKey.get(key);
      if (known) this.remove(known);
      this.add(key, resource, now, Infinity);
    }
  }

  /** Forgets every pin (another instance serves them now). */
  clear(): void {
    this.#byKey.clear();
    this.#byResource.clear();
    this.#oldest = this.#newest = undefined;
  }

  #append(node: Node): void {
    node.older = this.#newest;
    node.newer = undefined;
    if (this.#newest) this.#newest.newer = node;
    else this.#oldest = node;
    this.#newest = node;
  }

  #unlink(node: Node): void {
    if (node.older) node.older.newer = node.newer;
    else this.#oldest = node.newer;
    if (node.newer) node.newer.older = node.older;
    else this.#newest = node.older;
    node.older = node.newer = undefined;
  }
}

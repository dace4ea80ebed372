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

/** The pins, by key and by resource. */
export class AffinityPins {
  /** By key, the least recently used first. */
  readonly #byKey = new Map<string, Pin>();
  readonly #byResource = new Map<string, Set<Pin>>();

  /** How many keys are pinned. */
  get size(): number {
    return this.#byKey.size;
  }

  /** The pin of `key`, if any (not a use: see {@link touch}). */
  get(key: string): Pin | undefined {
    return this.#byKey.get(key);
  }

  /** A request with the pin's key went to its resource. */
  touch(pin: Pin, now: number): void {
    pin.lastUsed = now;
    this.#byKey.delete(pin.key);
    this.#byKey.set(pin.key, pin);
  }

  /**
   * Pins a key that has no pin to `resource`; returns the keys evicted to
   * keep at most `max` (the least recently used).
   */
  add(key: string, resource: string, now: number, max: number): string[] {
    const pin: Pin = { key, resource, lastUsed: now };
    this.#byKey.set(key, pin);
    let pins = this.#byResource.get(resource);
    if (pins === undefined) this.#byResource.set(resource, pins = new Set());
    pins.add(pin);
    const evicted: string[] = [];
    while (this.#byKey.size > max) {
      const oldest = this.#byKey.values().next().value as Pin;
      this.remove(oldest);
      evicted.push(oldest.key);
    }
    return evicted;
  }

  /** Ends one pin. */
  remove(pin: Pin): void {
    if (this.#byKey.get(pin.key) !== pin) return;
    this.#byKey.delete(pin.key);
    const pins = this.#byResource.get(pin.resource);
    pins?.delete(pin);
    if (pins?.size === 0) this.#byResource.delete(pin.resource);
  }

  /** Ends every pin of a resource; returns their keys. */
  release(resource: string): string[] {
    const pins = this.#byResource.get(resource);
    if (pins === undefined) return [];
    const keys: string[] = [];
    for (const pin of pins) {
      this.#byKey.delete(pin.key);
      keys.push(pin.key);
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

  /** Ends the pins unused for `idleMs` or more at `now`; returns their keys. */
  expire(now: number, idleMs: number): string[] {
    const keys: string[] = [];
    for (const pin of this.#byKey.values()) {
      if (pin.lastUsed + idleMs > now) break;
      keys.push(pin.key);
    }
    for (const key of keys) this.remove(this.#byKey.get(key) as Pin);
    return keys;
  }

  /** When the least recently used pin expires, or undefined with none. */
  nextExpiry(idleMs: number): number | undefined {
    if (this.#byKey.size === 0) return undefined;
    return (this.#byKey.values().next().value as Pin).lastUsed + idleMs;
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
  }
}

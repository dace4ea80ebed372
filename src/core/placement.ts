/**
 * Which resource gets a request or a user's message: the balancing policy
 * (src/core/balance.ts) over the resources online, and with `sticky` (and
 * for messages) the user's place kept while its resource stays online
 * (src/core/stickiness.ts). A request with an affinity key goes where its
 * key is pinned (src/core/affinity.ts), or, the first time, to the key's
 * rendezvous choice, where it is then pinned.
 */
import {
  AffinityPins,
  DEFAULT_AFFINITY_IDLE_MS,
  DEFAULT_MAX_AFFINITY_KEYS,
  type Pin,
} from "./affinity.ts";
import { affinityKey } from "./affinity_key.ts";
import { type Balance, type Choice, choose } from "./balance.ts";
import { earliest } from "./effects.ts";
import type { Resource, ResourceSet } from "./resources.ts";
import type { Effects, UnpinReason } from "./router_events.ts";
import type { RouterSettings } from "./settings.ts";
import { Stickiness } from "./stickiness.ts";
import { copyString } from "./xml.ts";

const NONE: Choice = Object.freeze({ kind: "none" });
const FULL: Choice = Object.freeze({ kind: "full" });

/** The choice of a resource, with what it remembers between choices. */
export class Placement {
  readonly #resources: ResourceSet;
  readonly #random: () => number;
  readonly #settings: () => RouterSettings;
  /** Where each user's conversation is (sticky, and messages). */
  readonly #stickiness = new Stickiness();
  /** Where each affinity key is served. */
  readonly #pins = new AffinityPins();
  /** After a reconnect: when pins whose resource was not announced again end. */
  #sweepAt: number | undefined;
  #turn = 0;

  /**
   * @param resources the resources online (read at each choice)
   * @param random uniform in [0, 1): random choices and least-pending's ties
   * @param settings the settings in force (read at each choice)
   */
  constructor(resources: ResourceSet, random: () => number, settings: () => RouterSettings) {
    this.#resources = resources;
    this.#random = random;
    this.#settings = settings;
  }

  /** How many affinity keys are pinned. */
  get affinityKeys(): number {
    return this.#pins.size;
  }

  /** How many affinity keys are pinned to the resource named `name`. */
  keysOf(name: string): number {
    return this.#pins.countFor(name);
  }

  /**
   * The policy's choice; with `sticky`, a user already placed on a resource
   * that can take the stanza stays there.
   */
  choose(
    policy: Balance,
    requesterBare: string,
    maxPerResource: number,
    exclude?: Resource,
  ): Choice {
    const resources = this.#resources.list();
    let pinned: Resource | undefined;
    if (policy === "sticky" && this.#stickiness.size > 0) {
      const name = this.#stickiness.get(requesterBare);
      pinned = name === undefined ? undefined : this.#resources.get(name);
      if (pinned === exclude || pinned?.draining) pinned = undefined;
      if (
        pinned && pinned.pending.size < maxPerResource &&
        // A negative priority is a last resort (RFC 6121 §4.7.2.3), even here.
        (pinned.priority >= 0 ||
          !resources.some((r) =>
            r.priority >= 0 && r !== exclude && !r.draining && r.pending.size < maxPerResource
          ))
      ) return { kind: "chosen", resource: pinned };
    }
    const choice = choose(policy, resources, {
      rendezvousKey: requesterBare,
      // Only round-robin reads it: each of its choices is the next turn.
      turn: policy === "round-robin" ? this.#turn++ : 0,
      random: this.#random,
      maxPerResource,
      exclude,
    });
    // A resource full for the moment lends this one stanza to another: the
    // user stays with it (it is still online) and comes back once it has room.
    const overflow = pinned !== undefined && pinned.pending.size >= maxPerResource;
    if (policy === "sticky" && choice.kind === "chosen" && !overflow) {
      this.#stickiness.set(copyString(requesterBare), choice.resource.name);
    }
    return choice;
  }

  /**
   * Where a request with the affinity key written `written` goes: to the
   * resource its key is pinned to, even when that one is full (`full`: a key
   * never moves while its resource is online) or draining; else to the key's
   * rendezvous choice among the resources that take new work, where it is
   * then pinned. The key is prepared (src/core/affinity_key.ts) only when
   * not found as written: a pinned key is prepared already.
   *
   * @param waitForPinned just after a reconnect: a key whose resource is not
   *   announced again yet waits for it (`none`) rather than move
   * @param exclude the resource a failover left
   */
  chooseByKey(
    fx: Effects,
    written: string,
    now: number,
    waitForPinned: boolean,
    exclude?: Resource,
  ): Choice {
    const settings = this.#settings();
    const maxPerResource = settings.maxPendingPerResource;
    let key = written;
    let pin = this.#pins.get(written);
    if (pin === undefined) {
      key = affinityKey(written);
      if (key !== written) pin = this.#pins.get(key);
    }
    if (pin !== undefined) {
      const resource = this.#resources.get(pin.resource);
      if (pin.lastUsed + this.#idleMs(settings) <= now && !this.#draining(pin.resource)) {
        this.#unpin(fx, pin, "expired");
      } else if (resource !== undefined && resource !== exclude) {
        // A request refused as busy still uses its key: the room runs, and must not expire.
        this.#pins.touch(pin, now);
        if (resource.pending.size >= maxPerResource) return FULL;
        return { kind: "chosen", resource, key: pin.key };
      } else if (resource === undefined && (waitForPinned || this.#resources.size === 0)) {
        // Not back yet, or nowhere to go: the key keeps its place.
        return NONE;
      } else this.#unpin(fx, pin, "resource_left");
    }
    const choice = choose("sticky", this.#resources.list(), {
      rendezvousKey: key,
      turn: 0,
      random: this.#random,
      maxPerResource,
      exclude,
    });
    if (choice.kind !== "chosen") return choice;
    const stored = copyString(key);
    const resource = choice.resource;
    const max = settings.maxAffinityKeys ?? DEFAULT_MAX_AFFINITY_KEYS;
    fx.events.push({ type: "pinned", key: stored, resource: resource.name });
    evicted(fx, this.#pins.add(stored, resource.name, now, max));
    return { kind: "chosen", resource, key: stored };
  }

  /** Keeps at most `max_affinity_keys` pins (lowered by a reload, or more in the store). */
  trim(fx: Effects): void {
    evicted(fx, this.#pins.trim(this.#settings().maxAffinityKeys ?? DEFAULT_MAX_AFFINITY_KEYS));
  }

  /** The pins as `[key, resource]`, the least recently used first. */
  get pins(): Array<[string, string]> {
    return this.#pins.entries();
  }

  /** A resource went away: its keys are pinned no more (their next request places them). */
  resourceLeft(fx: Effects, resource: Resource): void {
    const keys = this.#pins.release(resource.name);
    if (keys.length > 0) fx.events.push({ type: "unpinned", keys, reason: "resource_left" });
  }

  /**
   * The stream is (again) online, serving: with `stored` (the pins a store
   * kept, oldest first), those replace the ones in memory. Pins whose
   * resource is not announced again by `learnUntil` then end.
   */
  online(
    fx: Effects,
    now: number,
    learnUntil: number,
    stored?: Iterable<readonly [string, string]>,
  ): void {
    if (stored !== undefined) {
      this.#pins.restore(stored, now);
      this.trim(fx);
    }
    this.#sweepAt = this.#pins.size > 0 ? learnUntil : undefined;
  }

  /**
   * Pins in memory are forgotten (the store keeps them): another instance
   * serves the domain now, or this one stops.
   */
  forgetPins(): void {
    this.#pins.clear();
    this.#sweepAt = undefined;
  }

  /**
   * The passing of time: pins unused for `affinity_idle` end (but for a
   * draining resource's); after a
   * reconnect's first second, if the server has said which resources are
   * online (`heard`), so do those of the resources it did not announce.
   */
  tick(fx: Effects, now: number, heard: boolean): void {
    if (this.#sweepAt !== undefined && this.#sweepAt <= now) {
      this.#sweepAt = undefined;
      if (heard) {
        const keys = this.#pins.releaseAbsent((name) => this.#resources.get(name) !== undefined);
        if (keys.length > 0) fx.events.push({ type: "unpinned", keys, reason: "resource_left" });
      }
    }
    if (this.#pins.size === 0) return;
    // A draining resource's rooms never move while it is online: they are what it drains.
    const expired = this.#pins.expire(
      now,
      this.#idleMs(this.#settings()),
      (name) => this.#draining(name),
    );
    if (expired.length > 0) fx.events.push({ type: "unpinned", keys: expired, reason: "expired" });
  }

  /** When {@link tick} has something to do, if ever. */
  nextWake(): number | undefined {
    if (this.#pins.size === 0) return undefined;
    return earliest(this.#sweepAt, this.#pins.nextExpiry(this.#idleMs(this.#settings())));
  }

  #unpin(fx: Effects, pin: Pin, reason: UnpinReason): void {
    this.#pins.remove(pin);
    fx.events.push({ type: "unpinned", keys: [pin.key], reason });
  }

  /** Whether resource `name` drains: it says so, or `drain` names it (even before it is back). */
  #draining(name: string): boolean {
    return this.#resources.get(name)?.draining || (this.#settings().drain?.includes(name) ?? false);
  }

  #idleMs(settings: RouterSettings): number {
    return settings.affinityIdleMs ?? DEFAULT_AFFINITY_IDLE_MS;
  }
}

/** Says which pins were evicted, if any. */
function evicted(fx: Effects, keys: string[]): void {
  if (keys.length > 0) fx.events.push({ type: "unpinned", keys, reason: "evicted" });
}

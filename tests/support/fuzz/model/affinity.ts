/**
 * Affinity as an observer sees it (`affinity`): which key a request
 * carries, which resource each key is pinned to, and when a pin ends. The
 * invariant it keeps: no key is ever served by two resources that were
 * online at the same time while its pin holds. Written from the rules in
 * docs/how-it-works.md#affinity, not from the router's code: it computes
 * no rendezvous choice (any resource that takes new work will do for a new
 * key), only what a pin forbids.
 *
 * A pin holds from the forward that makes it until its resource goes
 * offline, until `affinity_idle` after its last use, or until it is the
 * least recently used beyond `max_affinity_keys`. After a reconnect, pins
 * stay; in the first second a key whose resource is not back waits for it;
 * when that second is over (at the next tick, if the server has spoken, or
 * at the key's next request while some resource is online), a pin whose
 * resource is not back ends.
 */
import type { XmlElement } from "../../../../src/core/xml.ts";
import { earliest, short } from "../helpers.ts";
import type { Model } from "./state.ts";

/** The idle time and bound when a scenario sets none (the documented defaults). */
const IDLE_MS = 3_600_000;
const MAX_KEYS = 100_000;

/** One key's pin. */
export interface ModelPin {
  readonly resource: string;
  lastUse: number;
  /** In the order pins were made (what the store keeps across a restart). */
  readonly seq: number;
}

/** The key of a request: the shape's attribute on its first element, as a JID when it is one. */
export function keyOf(model: Model, el: XmlElement): string | undefined {
  const shapes = model.settings.affinity;
  if (shapes === undefined) return undefined;
  const first = el.children.find((c): c is XmlElement => typeof c !== "string");
  if (first === undefined) return undefined;
  for (const shape of shapes) {
    if (first.name !== shape.element || first.attrs.xmlns !== shape.namespace) continue;
    const value = first.attrs[shape.attribute];
    if (value === undefined || value === "") return undefined;
    return keyFrom(value);
  }
  return undefined;
}

/** The key an attribute's value names: the fuzzer's rooms are ASCII, a JID among them folds to lowercase. */
export function keyFrom(value: string): string {
  return /^[^@/\s]+@[^@/\s]+$/.test(value) ? value.toLowerCase() : value;
}

/** Just after a (re)connect, before the server's second to say which resources are online. */
export function learning(model: Model): boolean {
  return model.learnUntil !== undefined && model.now < model.learnUntil;
}

/** What a key's pin asks of a request now. */
export type PinRule =
  /** To this resource (online), whatever its load. */
  | { readonly kind: "at"; readonly resource: string }
  /** Its resource is not back yet (or none is online): the request waits or is refused. */
  | { readonly kind: "wait" }
  /** No pin holds: any resource that takes new work. */
  | { readonly kind: "free" };

/**
 * The rule of `key`'s pin now. A pin found ended (idle, or its resource
 * gone once the first second is over) ends here, as the router's does
 * when it looks; `failover`: a request re-sent does not wait.
 */
export function pinRule(model: Model, key: string, failover: boolean): PinRule {
  const pin = model.pins.get(key);
  if (pin === undefined) return FREE;
  // A draining resource's pins do not expire: the rooms it still runs stay.
  if (pin.lastUse + idleMs(model) <= model.now && !draining(model, pin.resource)) {
    end(model, [key], "expired");
    return FREE;
  }
  if (model.resources.has(pin.resource)) return { kind: "at", resource: pin.resource };
  if ((learning(model) && !failover) || model.resources.size === 0) return WAIT;
  end(model, [key], "resource_left");
  return FREE;
}

const FREE: PinRule = { kind: "free" };
const WAIT: PinRule = { kind: "wait" };

/** A request with `key` went to `resource`: its pin is used, or made there. */
export function served(model: Model, key: string, resource: string): void {
  const pin = model.pins.get(key);
  if (pin !== undefined) {
    // The invariant: a holding pin's resource, online, is the only one to serve its key.
    model.check(
      pin.resource === resource,
      () =>
        `key ${short(key)} is pinned to ${short(pin.resource)} (online), but went to ${
          short(resource)
        }`,
    );
    pin.lastUse = model.now;
    model.pins.delete(key);
    model.pins.set(key, pin);
    model.stats.affinity.held++;
    return;
  }
  const made = { resource, lastUse: model.now, seq: model.pinSeq++ };
  model.pins.set(key, made);
  model.store.pins.delete(key);
  model.store.pins.set(key, made);
  model.stats.affinity.pinned++;
  const max = model.settings.maxAffinityKeys ?? MAX_KEYS;
  const evicted: string[] = [];
  for (const oldest of model.pins.keys()) {
    if (model.pins.size - evicted.length <= max) break;
    evicted.push(oldest);
  }
  if (evicted.length > 0) end(model, evicted, "evicted");
}

/** A request with `key` was refused as busy at its pinned resource: a use all the same. */
export function touch(model: Model, key: string): void {
  const pin = model.pins.get(key);
  if (pin === undefined) return;
  pin.lastUse = model.now;
  model.pins.delete(key);
  model.pins.set(key, pin);
}

/** A resource went offline: its keys are pinned no more. */
export function released(model: Model, resource: string): void {
  const keys = [...model.pins].filter(([, pin]) => pin.resource === resource).map(([k]) => k);
  if (keys.length > 0) end(model, keys, "resource_left");
}

/** The stream is (again) online: pins whose resource is not back when the first second ends, end. */
export function online(model: Model): void {
  model.pinSweepAt = model.pins.size > 0 ? model.learnUntil : undefined;
}

/** A tick: after a reconnect's first second (if the server spoke), and after `affinity_idle`. */
export function tick(model: Model): void {
  const sweep = model.pinSweepAt;
  if (sweep !== undefined && sweep <= model.now) {
    model.pinSweepAt = undefined;
    if (model.heard) {
      const absent = [...model.pins].filter(([, pin]) => !model.resources.has(pin.resource));
      if (absent.length > 0) end(model, absent.map(([key]) => key), "resource_left");
    }
  }
  const idle = idleMs(model);
  const expired: string[] = [];
  for (const [key, pin] of [...model.pins]) {
    if (pin.lastUse + idle > model.now) continue;
    if (!draining(model, pin.resource)) expired.push(key);
    else {
      // Held as used now, and so the most recently used.
      pin.lastUse = model.now;
      model.pins.delete(key);
      model.pins.set(key, pin);
    }
  }
  if (expired.length > 0) end(model, expired, "expired");
}

/** When a tick has pins to end, if ever. */
export function wake(model: Model): number | undefined {
  if (model.pins.size === 0) return undefined;
  let first: number | undefined;
  for (const pin of model.pins.values()) first = earliest(first, pin.lastUse + idleMs(model));
  return earliest(model.pinSweepAt, first);
}

/**
 * The pins a restarted proxy starts from: those the store kept (every one
 * made and not ended), in the order made, each as used at `now`.
 */
export function restored(pins: ReadonlyMap<string, ModelPin>, now: number): Map<string, ModelPin> {
  const sorted = [...pins].sort(([, a], [, b]) => a.seq - b.seq);
  return new Map(sorted.map(([key, pin]) => [key, { ...pin, lastUse: now }]));
}

/** The store's pins taken (see {@link restored}), the oldest beyond `max_affinity_keys` evicted. */
export function restorePins(model: Model): void {
  model.pins = restored(model.store.pins, model.now);
  trim(model);
}

/** The least recently used pins beyond `max_affinity_keys` end (a reload may lower it). */
export function trim(model: Model): void {
  const over = model.pins.size - (model.settings.maxAffinityKeys ?? MAX_KEYS);
  if (over > 0) end(model, [...model.pins.keys()].slice(0, over), "evicted");
}

function end(model: Model, keys: readonly string[], why: keyof Model["stats"]["affinity"]): void {
  for (const key of keys) {
    model.pins.delete(key);
    model.store.pins.delete(key);
  }
  model.stats.affinity[why] += keys.length;
}

/** Whether a pin's resource drains: it says so, or `drain` names it (also while it is not back). */
function draining(model: Model, name: string): boolean {
  return model.resources.get(name)?.draining || (model.settings.drain?.includes(name) ?? false);
}

function idleMs(model: Model): number {
  return model.settings.affinityIdleMs ?? IDLE_MS;
}

/**
 * The implementing account's available resources, as learnt from presence.
 */
import type { Resource } from "./held.ts";

export type { Resource } from "./held.ts";

/** Available resources by name, in the order they came online. */
export class ResourceSet {
  #byName = new Map<string, Resource>();
  #list: Resource[] | undefined;

  /** Adds a resource, or updates the priority and draining of a known one. */
  upsert(name: string, jid: string, priority: number, dnd = false, draining = dnd): Resource {
    const known = this.#byName.get(name);
    if (known) {
      known.priority = priority;
      known.dnd = dnd;
      known.draining = draining;
      return known;
    }
    const resource: Resource = { name, jid, priority, dnd, draining, pending: new Set() };
    this.#byName.set(name, resource);
    this.#list = undefined;
    return resource;
  }

  /** Removes a resource and returns it, or undefined if it was unknown. */
  remove(name: string): Resource | undefined {
    const known = this.#byName.get(name);
    if (known) {
      this.#byName.delete(name);
      this.#list = undefined;
    }
    return known;
  }

  /** Removes every resource and returns them. */
  clear(): readonly Resource[] {
    const all = this.list();
    this.#byName.clear();
    this.#list = undefined;
    return all;
  }

  /** The resource with this name, if available. */
  get(name: string): Resource | undefined {
    return this.#byName.get(name);
  }

  /** How many resources are available. */
  get size(): number {
    return this.#byName.size;
  }

  /** All available resources in arrival order (cached; do not mutate). */
  list(): readonly Resource[] {
    return this.#list ??= [...this.#byName.values()];
  }
}

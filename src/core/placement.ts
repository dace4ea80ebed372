/**
 * Which resource gets a request or a user's message: the balancing policy
 * (src/core/balance.ts) over the resources online, and with `sticky` (and
 * for messages) the user's place kept while its resource stays online
 * (src/core/stickiness.ts).
 */
import { Stickiness } from "./stickiness.ts";
import { type Balance, type Choice, choose } from "./balance.ts";
import type { Resource, ResourceSet } from "./resources.ts";
import { copyString } from "./xml.ts";

/** The choice of a resource, with what it remembers between choices. */
export class Placement {
  readonly #resources: ResourceSet;
  readonly #random: () => number;
  /** Where each user's conversation is (sticky, and messages). */
  readonly #stickiness = new Stickiness();
  #turn = 0;

  /**
   * @param resources the resources online (read at each choice)
   * @param random uniform in [0, 1): random choices and least-pending's ties
   */
  constructor(resources: ResourceSet, random: () => number) {
    this.#resources = resources;
    this.#random = random;
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
      if (pinned === exclude) pinned = undefined;
      if (
        pinned && pinned.pending.size < maxPerResource &&
        // A negative priority is a last resort (RFC 6121 §4.7.2.3), even here.
        (pinned.priority >= 0 ||
          !resources.some((r) =>
            r.priority >= 0 && r !== exclude && r.pending.size < maxPerResource
          ))
      ) return { kind: "chosen", resource: pinned };
    }
    const choice = choose(policy, resources, {
      requesterBare,
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
}

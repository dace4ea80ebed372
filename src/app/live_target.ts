/**
 * The implementing account as the live check hears of it: the presence it
 * sends to the domain, read into the state of its subscription and its
 * online resources. Pure: the check feeds it every presence that arrives.
 */
import { bareOf } from "../core/jid.ts";
import { errorCondition } from "../core/stanza.ts";
import type { XmlElement } from "../core/xml.ts";

/** The target's subscription as the check has heard of it. */
export type Subscription =
  | { readonly state: "pending" | "approved" | "refused" }
  | { readonly state: "error"; readonly condition: string };

/** What the check has heard of the account `target` (a bare JID, lowercase). */
export class TargetHeard {
  readonly #target: string;
  #subscription: Subscription = { state: "pending" };
  /** Online resources: name → full JID, in the order announced. */
  readonly #resources = new Map<string, string>();
  /** Those whose last presence says `<show>dnd</show>`. */
  readonly #dnd = new Set<string>();

  constructor(target: string) {
    this.#target = target;
  }

  get subscription(): Subscription {
    return this.#subscription;
  }

  /** The names of the online resources, in the order announced. */
  get resources(): string[] {
    return [...this.#resources.keys()];
  }

  /** The online resources that drain: they say `dnd`, or `drain` (the config's) names them. */
  draining(drain: readonly string[] = []): string[] {
    return this.resources.filter((name) => this.#dnd.has(name) || drain.includes(name));
  }

  /** The full JID of resource `name`. */
  address(name: string): string | undefined {
    return this.#resources.get(name);
  }

  /** A presence stanza; one not from the account changes nothing. */
  read(stanza: XmlElement): void {
    const from = stanza.attrs.from ?? "";
    if (stanza.name !== "presence" || bareOf(from) !== this.#target) return;
    const slash = from.indexOf("/");
    const resource = slash < 0 ? undefined : from.slice(slash + 1);
    const pending = this.#subscription.state === "pending";
    switch (stanza.attrs.type) {
      case undefined:
        if (resource === undefined) return;
        this.#resources.set(resource, from);
        if (stanza.getChildText("show")?.trim() === "dnd") this.#dnd.add(resource);
        else this.#dnd.delete(resource);
        // A resource's presence reaches only an approved subscriber.
        this.#subscription = { state: "approved" };
        return;
      case "unavailable":
        if (resource === undefined) {
          this.#resources.clear();
          this.#dnd.clear();
        } else {
          this.#resources.delete(resource);
          this.#dnd.delete(resource);
        }
        return;
      case "subscribed":
        this.#subscription = { state: "approved" };
        return;
      case "unsubscribed":
        if (pending) this.#subscription = { state: "refused" };
        return;
      case "error":
        if (pending) {
          this.#subscription = {
            state: "error",
            condition: errorCondition(stanza) ?? "undefined-condition",
          };
        }
        return;
    }
  }
}

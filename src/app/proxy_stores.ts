/**
 * What one proxy keeps across restarts (src/app/proxy.ts): its service's
 * subscribers (`presence: true`) and its affinity pins, read as its router
 * comes to serve and written as the router's events say. A store that
 * fails costs only what a restart would lose, and the log says so: never
 * the stream and the requests in flight.
 */
import type { RouterEvent } from "../core/router.ts";
import type { Logger } from "../ops/log.ts";
import type { PinChange, PinStore } from "../ops/pins.ts";
import type { SubscriberStore } from "../ops/subscribers.ts";

/** A proxy's stores, either of which may be absent. */
export class ProxyStores {
  readonly #domain: string;
  readonly #log: Logger;
  readonly #subscribers: SubscriberStore | undefined;
  readonly #pins: PinStore | undefined;
  /** The pin changes of the step being applied, written together. */
  #pinChanges: PinChange[] = [];

  /** Pins handed on by the proxy this one succeeds, read once, where no store keeps them. */
  #handedPins: Array<[string, string]> | undefined;

  /** Either store is kept even with its feature off: a reload may turn it on. */
  constructor(
    domain: string,
    log: Logger,
    stores: {
      subscribers?: SubscriberStore;
      pins?: PinStore;
      handedPins?: Array<[string, string]>;
    },
  ) {
    this.#domain = domain;
    this.#log = log;
    this.#subscribers = stores.subscribers;
    this.#pins = stores.pins;
    this.#handedPins = stores.pins ? undefined : stores.handedPins;
  }

  /** The router's readers of what is stored, for those stores there are. */
  readers(): {
    storedSubscribers?: () => string[] | undefined;
    storedPins?: () => Array<[string, string]> | undefined;
  } {
    const subscribers = this.#subscribers;
    const pins = this.#pins;
    return {
      ...(subscribers ? { storedSubscribers: () => this.#read("service", subscribers) } : {}),
      ...(pins ? { storedPins: () => this.#read("affinity", pins) } : {}),
      ...(this.#handedPins ? { storedPins: () => this.#takeHanded() } : {}),
    };
  }

  /** The pins handed on, the first time the router reads them (they are its own after). */
  #takeHanded(): Array<[string, string]> | undefined {
    const pins = this.#handedPins;
    this.#handedPins = undefined;
    return pins;
  }

  /** Takes what an event changes: a subscriber now, pins at {@link flush}. */
  record(event: RouterEvent): void {
    switch (event.type) {
      case "pinned":
        if (this.#pins) this.#pinChanges.push([event.key, event.resource]);
        break;
      case "unpinned":
        if (this.#pins) { for (const key of event.keys) this.#pinChanges.push([key, undefined]); }
        break;
      case "subscriber":
        try {
          if (event.change === "add") this.#subscribers?.add(this.#domain, event.jid);
          else this.#subscribers?.remove(this.#domain, event.jid);
        } catch (error) {
          // A full disk or a locked database: the router still holds the change.
          this.#failed("service", event.change, error);
        }
        break;
    }
  }

  /** Writes the step's pin changes together (the router holds them whatever happens). */
  flush(): void {
    if (this.#pinChanges.length === 0) return;
    const changes = this.#pinChanges;
    this.#pinChanges = [];
    try {
      this.#pins?.apply(this.#domain, changes);
    } catch (error) {
      this.#failed("affinity", changes.length, error);
    }
  }

  /** What a store holds; undefined, said, when it cannot be read: what is in memory stays. */
  #read<T>(
    part: "service" | "affinity",
    store: { list(domain: string): T },
  ): T | undefined {
    try {
      return store.list(this.#domain);
    } catch (error) {
      this.#failed(part, "read", error);
      return undefined;
    }
  }

  #failed(part: "service" | "affinity", change: string | number, error: unknown): void {
    const what = typeof change === "number" ? { changes: change } : { change };
    this.#log.error(`${part}.store_failed`, { domain: this.#domain, ...what, reason: error });
  }
}

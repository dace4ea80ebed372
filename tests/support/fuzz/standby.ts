/**
 * The link's side of a hot standby on ejabberd, as the fuzz run plays it
 * (docs/production.md, "A hot standby"): while the instance stands by,
 * what the server hands it goes to the sibling, never to the router;
 * during a look it is held, then served in order if the look takes over,
 * or passed to the sibling if the look finds it. Meanwhile the sibling
 * writes to the store both share (one `state_dir` on one host). What the
 * router must do through all this is the model's (model/standby.ts).
 */
import type { Effects, Router } from "../../../src/core/router.ts";
import type { XmlElement } from "../../../src/core/xml.ts";
import { keyFrom } from "./model/affinity.ts";
import type { Op } from "./model/checks.ts";
import { siblingWrote, type StoreWrite } from "./model/standby.ts";
import type { Model } from "./model/state.ts";
import {
  type Dt,
  type HandOverAction,
  type HeldAction,
  type Scenario,
  type SiblingWrite,
  subscriberPool,
} from "./scenario.ts";
import { roomOf } from "./stanzas.ts";

/** What the runner lends to play a hand-over. */
export interface Runner {
  readonly step: (op: Op, run: () => Effects | void) => void;
  readonly advance: (dt: Dt) => void;
  /** Time passes by the action's `dt`, then its stanza (or copies) arrives. */
  readonly arrive: (action: HeldAction) => void;
  /** A stanza arrives (already read from the wire). */
  readonly deliver: (el: XmlElement) => void;
  readonly router: () => Router;
  readonly model: () => Model;
}

/** The shell's store (`state_dir`), kept from the router's events and the sibling's writes. */
export interface RunStore {
  /** `[key, resource]` in the order pinned. */
  readonly pins: Map<string, string>;
  readonly subscribers: Set<string>;
}

/** Where the link stands. */
export type LinkState = "serving" | "standby" | "look";

/** The link of one run, through hand-overs and looks. */
export class Standby {
  #state: LinkState = "serving";
  /** Whether the store's subscribers can be read now (a look may find it unreadable). */
  #readable = true;
  #held: XmlElement[] = [];
  readonly #scenario: Scenario;
  readonly #store: RunStore;

  constructor(scenario: Scenario, store: RunStore) {
    this.#scenario = scenario;
    this.#store = store;
  }

  get state(): LinkState {
    return this.#state;
  }

  get readable(): boolean {
    return this.#readable;
  }

  /** A new process (a restart) serves at once. */
  restarted(): void {
    this.#state = "serving";
    this.#readable = true;
  }

  /**
   * A stanza the router does not see now: held by a look, or passed to
   * the sibling while standing by (true); false while serving.
   */
  intercept(el: XmlElement, model: Model): boolean {
    if (this.#state === "serving") return false;
    if (this.#state === "look") this.#held.push(el);
    else model.stats.standby.relayed++;
    return true;
  }

  /** Another instance takes over; then the looks, the last of which may take over. */
  play(action: HandOverAction, run: Runner): void {
    run.advance(action.dt);
    if (this.#state === "serving") {
      run.step("hand-over", () => run.router().handOver(run.model().now));
      run.model().stats.standby.handOvers++;
    }
    this.#state = "standby";
    action.looks.forEach((look, i) => {
      this.#write(look.before, run.model());
      run.advance(look.wait);
      this.#readable = !look.unreadable;
      const start = run.model().now;
      run.step("look", () => run.router().online(run.model().now, true));
      run.model().stats.standby.looks++;
      this.#state = "look";
      for (const item of look.held) run.arrive(item);
      this.#write(look.during, run.model());
      run.advance(Math.max(0, start + look.ms - run.model().now));
      const held = this.#held;
      this.#held = [];
      if (action.takeOver && i === action.looks.length - 1) {
        run.step("take-over", () => run.router().takeOver(run.model().now));
        this.#state = "serving";
        this.#readable = true;
        run.model().stats.standby.held += held.length;
        for (const el of held) run.deliver(el);
      } else {
        run.step("hand-over", () => run.router().handOver(run.model().now));
        this.#state = "standby";
        this.#readable = true;
        run.model().stats.standby.relayed += held.length;
      }
    });
  }

  /** The sibling's writes, to the store and to the model's view of it. */
  #write(writes: readonly SiblingWrite[], model: Model): void {
    const { world, settings } = this.#scenario;
    const { pins, subscribers } = this.#store;
    for (const w of writes) {
      let write: StoreWrite;
      if (w.kind === "pin" || w.kind === "unpin") {
        const key = keyFrom(roomOf(w.room));
        pins.delete(key);
        if (w.kind === "pin") {
          const resource = world.resources[w.resource % world.resources.length];
          pins.set(key, resource);
          write = { kind: "pin", key, resource };
        } else write = { kind: "unpin", key };
      } else {
        const pool = subscriberPool(settings.domain);
        const jid = pool[w.who % pool.length];
        if (w.kind === "subscribe") subscribers.add(jid);
        else subscribers.delete(jid);
        write = { kind: w.kind, jid };
      }
      siblingWrote(model, write);
    }
  }
}

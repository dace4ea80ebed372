/**
 * A hot standby on ejabberd (docs/production.md, "A hot standby"), as an
 * observer sees the router through it. As another instance takes over
 * (a hand-over), every request held is answered once, `service-unavailable`
 * (wait), and nobody else is told anything: the other instance serves the
 * subscribers now. A look from standby that takes over starts from the
 * store (docs/how-it-works.md#affinity): the pins there hold again, as if
 * each had just been used, and the subscribers are those stored, both as
 * the other instance may have written them up to then.
 *
 * What the link does meanwhile (what arrives while standing by goes to the
 * sibling, what a look is handed waits for its end) is the fuzz run's
 * (../standby.ts): the router sees none of it until it serves.
 */
import type { XmlElement } from "../../../../src/core/xml.ts";
import { short, show } from "../helpers.ts";
import { restorePins } from "./affinity.ts";
import { answerAll } from "./lifecycle.ts";
import { firstAnnouncement, restoreSubscribers } from "./service_presence.ts";
import { checkPresence } from "./target_presence.ts";
import type { Model } from "./state.ts";

/** The store as the run keeps it from the router's events (what the router would read). */
export interface StoreSnapshot {
  readonly pins: ReadonlyArray<readonly [string, string]>;
  readonly subscribers: readonly string[];
}

/** One write of the other instance to the store both share, resolved to names. */
export type StoreWrite =
  | { readonly kind: "pin"; readonly key: string; readonly resource: string }
  | { readonly kind: "unpin"; readonly key: string }
  | { readonly kind: "subscribe" | "unsubscribe"; readonly jid: string };

/** `Router.handOver`: everything held answered, nothing else said; the pins in memory go. */
export function handOver(model: Model, out: XmlElement[], stored: StoreSnapshot): void {
  checkStore(model, stored);
  model.stats.standby.answered += answerAll(model, out, "handOver");
  model.reattachBy = undefined;
  // Subscribers hear from the other instance now: nothing is due here.
  model.announced = undefined;
  model.announceAt = undefined;
  // The store keeps the pins; the router reads them again as it comes to serve.
  model.pins.clear();
  model.pinSweepAt = undefined;
  model.serving = false;
}

/**
 * `Router.takeOver`, at the end of a look that found no sibling: with no
 * resource known (what the look was handed reaches the router after), the
 * subscription asked again, since its answer may have gone to the instance
 * that died; the pins are the store's, ending as after the look's
 * (re)connect if their resource is not announced in its first second; the
 * subscribers are the store's if it can be read (`readable`), and told as
 * after a (re)connect.
 */
export function takeOver(
  model: Model,
  out: XmlElement[],
  stored: StoreSnapshot,
  readable: boolean,
): void {
  const asks = model.resources.size === 0;
  model.check(
    out.length === (asks ? 1 : 0),
    () => `takeOver sent ${out.map(show).join(" | ") || "nothing"}`,
  );
  if (asks) checkPresence(model, out[0], "subscribe");
  model.resubscribeAt = undefined;
  model.serving = true;
  // The pins the store holds beyond max_affinity_keys are evicted (from it too) as they are read.
  restorePins(model);
  checkStore(model, stored);
  model.pinSweepAt = model.pins.size > 0 ? model.learnUntil : undefined;
  if (readable) restoreSubscribers(model);
  if (model.settings.presence) firstAnnouncement(model);
  model.stats.standby.takeOvers++;
}

/** The other instance wrote to the store while this one stood by. */
export function siblingWrote(model: Model, write: StoreWrite): void {
  const { pins, subscribers } = model.store;
  switch (write.kind) {
    case "pin":
      pins.delete(write.key);
      pins.set(write.key, { resource: write.resource, lastUse: model.now, seq: model.pinSeq++ });
      break;
    case "unpin":
      pins.delete(write.key);
      break;
    case "subscribe":
      subscribers.add(write.jid);
      break;
    case "unsubscribe":
      subscribers.delete(write.jid);
      break;
  }
  model.stats.standby.siblingWrites++;
}

/**
 * What the router's events stored is what the docs say the store holds:
 * every pin made and not ended, in the order made, and every subscriber
 * added and not removed (with the other instance's writes).
 */
function checkStore(model: Model, stored: StoreSnapshot): void {
  const pins = [...model.store.pins].map(([key, pin]) => `${key} ${pin.resource}`).join(", ");
  const got = stored.pins.map(([key, resource]) => `${key} ${resource}`).join(", ");
  model.check(pins === got, () => `stored pins [${short(got)}], expected [${short(pins)}]`);
  const subscribers = [...model.store.subscribers].sort().join(", ");
  const have = [...stored.subscribers].sort().join(", ");
  model.check(
    subscribers === have,
    () => `stored subscribers [${short(have)}], expected [${short(subscribers)}]`,
  );
}

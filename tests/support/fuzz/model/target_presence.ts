/**
 * The target's presence and its resources: which are online (with a
 * negative priority, or draining), the subscription and its retries, and
 * what happens to the requests and affinity keys a resource held when it
 * goes away.
 */
import type { XmlElement } from "../../../../src/core/xml.ts";
import { show } from "../helpers.ts";
import { released } from "./affinity.ts";
import { forgetInitiated } from "./initiated.ts";
import { failover } from "./requests.ts";
import { availability } from "./service_presence.ts";
import { BACKOFF_MAX_MS, BACKOFF_MIN_MS, type Model } from "./state.ts";
import { unpark } from "./waiting.ts";

/** Presence from the target's account to the bare domain. */
export function targetPresence(model: Model, el: XmlElement, out: XmlElement[]): void {
  const from = el.attrs.from!;
  const slash = from.indexOf("/");
  const name = slash < 0 ? undefined : from.slice(slash + 1);
  switch (el.attrs.type) {
    case undefined:
      if (name !== undefined) {
        const negative = /^\s*-0*[1-9]/.test(el.getChildText("priority") ?? "");
        const dnd = el.getChildText("show")?.trim() === "dnd";
        const draining = dnd || drained(model, name);
        const known = model.resources.get(name);
        model.heard = true;
        model.backoff = BACKOFF_MIN_MS;
        if (draining && !known?.draining) model.stats.draining++;
        if (known) {
          const undrained = known.draining && !draining;
          known.negative = negative;
          known.dnd = dnd;
          known.draining = draining;
          // Back in service: what waits for a resource is tried again.
          if (undrained && (model.parked.length > 0 || model.waitingMessages.length > 0)) {
            return unpark(model, out);
          }
        } else {
          model.resources.set(name, { jid: from, held: 0, negative, dnd, draining });
          // Back after a reconnect: it takes back the requests it held.
          for (const req of model.live.values()) {
            if (req.attached === undefined && req.resourceJid === from) model.attach(req, name);
          }
          availability(model, true);
          if (model.parked.length > 0 || model.waitingMessages.length > 0) {
            return unpark(model, out);
          }
        }
      }
      return model.none(out);
    case "unavailable":
      if (name === undefined) return loseAll(model, out);
      return lose(model, [name], out);
    case "subscribe": {
      model.check(out.length === 1, () => `subscribe got ${out.length} stanzas`);
      checkPresence(model, out[0], "subscribed");
      return;
    }
    case "subscribed":
      // Approved: a probe asks for the resources' presence (ejabberd
      // sends it only when asked).
      model.heard = true;
      model.backoff = BACKOFF_MIN_MS;
      model.check(out.length === 1, () => `subscribed got ${out.length} stanzas`);
      checkPresence(model, out[0], "probe");
      return;
    case "error":
    case "unsubscribed":
      loseAll(model, out);
      model.resubscribeAt = model.now + model.backoff;
      model.backoff = Math.min(model.backoff * 2, BACKOFF_MAX_MS);
      return;
    default:
      return model.none(out);
  }
}

/** `s` is the service's presence of `type` to the target's bare JID. */
export function checkPresence(model: Model, s: XmlElement, type: string): void {
  model.check(
    s.name === "presence" && s.attrs.type === type && s.attrs.to === model.target &&
      s.attrs.from === model.domain && s.children.length === 0,
    () => `expected presence ${type} to the target, sent ${show(s)}`,
  );
}

function loseAll(model: Model, out: XmlElement[]): void {
  const names = [...model.resources.keys()];
  lose(model, names, out);
}

/** Resources went away: each request they held is re-sent or answered, once. */
function lose(model: Model, names: string[], out: XmlElement[]): void {
  const lost = new Set(names.filter((n) => model.resources.has(n)));
  const affected = [...model.live.values()].filter((r) =>
    r.attached !== undefined && lost.has(r.attached)
  );
  for (const name of lost) {
    model.resources.delete(name);
    // Its keys first: a get it held goes where its key goes now.
    released(model, name);
  }
  // Nobody is left to answer: the router forgets them, silently.
  forgetInitiated(model, (name) => lost.has(name));
  if (lost.size > 0) availability(model, model.resources.size > 0);
  const pending = new Set(affected);
  for (const s of out) {
    const req = failover(model, s, [...pending]);
    pending.delete(req);
  }
  model.check(
    pending.size === 0,
    () => `${pending.size} request(s) left on a resource that went away`,
  );
  if (out.length === 0) model.stats.drops++;
}

/** Whether the settings' `drain` names the resource (as the server stamped it). */
export function drained(model: Model, name: string): boolean {
  return model.settings.drain?.includes(name) ?? false;
}

/**
 * A reload: each resource drains as its presence and the new `drain` say;
 * one back in service tries what waits for a resource again (`out`: what
 * the reload sent besides the service's presence).
 */
export function redrain(model: Model, out: XmlElement[]): void {
  let undrained = false;
  for (const [name, r] of model.resources) {
    const draining = r.dnd || drained(model, name);
    if (draining && !r.draining) model.stats.draining++;
    if (r.draining && !draining) undrained = true;
    r.draining = draining;
  }
  if (undrained && (model.parked.length > 0 || model.waitingMessages.length > 0)) {
    return unpark(model, out);
  }
  model.none(out);
}

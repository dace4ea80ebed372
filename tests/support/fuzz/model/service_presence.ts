/**
 * The service's own presence (presence: true): subscriptions and probes
 * from users, and the announcements subscribers are owed exactly when the
 * service's availability changes. What a step owes is checked against what
 * it sent.
 */
import { ANNOUNCE_AFTER_MS } from "../../../../src/core/service_presence.ts";
import type { XmlElement } from "../../../../src/core/xml.ts";
import { bareOf, short, show } from "../helpers.ts";
import { accessAllows, domainKey, passesSendersLimit, saysRateLimited } from "./gate.ts";
import type { Model } from "./state.ts";

/** A user's presence to the service: (un)subscriptions and probes, answered by what is owed. */
export function userPresence(model: Model, el: XmlElement, out: XmlElement[]): void {
  const from = el.attrs.from!;
  const bare = bareOf(from).toLowerCase();
  const available = model.resources.size > 0;
  const type = el.attrs.type;
  const allowed = accessAllows(model.settings.allow, model.settings.deny, bare);
  // What makes the proxy answer or store something passes the rate limit first.
  const costly = type === "subscribe" || type === "unsubscribe" || type === "unsubscribed" ||
    type === "probe";
  if (costly && allowed && !passesSendersLimit(model, bare, saysRateLimited(out[0]))) {
    return model.refusal(el, out, "wait", "resource-constraint");
  }
  if ((type === "subscribe" || type === "probe") && !allowed) {
    // Denied users may not follow the service, and are forgotten if they did.
    model.removeSubscriber(bare);
    model.owed.push({ to: bare, type: "unsubscribed" });
    return model.none(out);
  }
  switch (type) {
    case "subscribe":
      if (
        !model.subscribers.has(bare) &&
        (model.subscribers.size >= (model.settings.maxSubscribers ?? Infinity) ||
          sameDomain(model, bare) >= (model.settings.maxSubscribersPerDomain ?? Infinity))
      ) {
        // Full: refused, and nobody else's subscription changes.
        model.owed.push({ to: bare, type: "unsubscribed" });
        break;
      }
      model.addSubscriber(bare);
      model.owed.push({ to: bare, type: "subscribed" });
      model.owed.push({ to: bare, type: available ? undefined : "unavailable" });
      break;
    case "unsubscribe":
      if (model.removeSubscriber(bare)) model.owed.push({ to: bare, type: "unavailable" });
      break;
    case "unsubscribed":
      model.removeSubscriber(bare);
      break;
    case "probe":
      model.owed.push({ to: from, type: available ? undefined : "unavailable" });
      break;
  }
  model.none(out);
}

/** How many subscribers share the domain of `bare`. */
function sameDomain(model: Model, bare: string): number {
  const domain = domainKey(bare);
  let n = 0;
  for (const jid of model.subscribers) if (domainKey(jid) === domain) n++;
  return n;
}

/** As after (re)connecting: subscribers are told once resources are known, or after a wait. */
export function firstAnnouncement(model: Model): void {
  model.announced = undefined;
  model.announceAt = model.subscribers.size > 0 ? model.now + ANNOUNCE_AFTER_MS : undefined;
}

/** Coming to serve: the subscribers are those stored (another instance may have changed them). */
export function restoreSubscribers(model: Model): void {
  model.subscribers.clear();
  for (const jid of model.store.subscribers) model.subscribers.add(jid);
}

/** Availability may have changed: subscribers are told if it did (ServicePresence.update). */
export function availability(model: Model, available: boolean): void {
  if (!model.settings.presence || available === model.announced) return;
  // While the first announcement after a reconnect waits, "unavailable" is premature.
  if (!available && model.announced === undefined && model.announceAt !== undefined) return;
  model.announced = available;
  model.announceAt = undefined;
  for (const to of model.subscribers) {
    if (!accessAllows(model.settings.allow, model.settings.deny, to)) continue;
    model.owed.push({ to, type: available ? undefined : "unavailable" });
  }
}

/** Whether a stanza is the service's own presence to a user (not the target's business). */
export function isServicePresence(model: Model, s: XmlElement): boolean {
  return s.name === "presence" && s.attrs.type !== "error" && s.attrs.to !== model.target;
}

/** The service presence sent in a step is exactly the presence owed, from the domain. */
export function checkServicePresence(model: Model, service: XmlElement[]): void {
  const owed = new Map<string, number>();
  for (const { to, type } of model.owed) {
    const key = `${to}\0${type}`;
    owed.set(key, (owed.get(key) ?? 0) + 1);
  }
  model.owed = [];
  for (const s of service) {
    const key = `${s.attrs.to}\0${s.attrs.type}`;
    const n = owed.get(key) ?? 0;
    model.check(
      n > 0 && s.attrs.from === model.domain && s.children.length === 0,
      () => `presence nobody is owed: ${show(s)}`,
    );
    owed.set(key, n - 1);
    model.stats.presence++;
  }
  for (const [key, n] of owed) {
    model.check(n === 0, () => `presence owed but not sent: ${short(key.replace("\0", " "))}`);
  }
}

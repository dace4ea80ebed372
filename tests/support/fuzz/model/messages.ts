/**
 * Messages both ways (messages: forward): a user's message to the resource
 * that has the user, the target's to its peer, and each side's errors
 * back to whoever sent the message.
 */
import type { XmlElement } from "../../../../src/core/xml.ts";
import { bareOf, fitsResource, normalize, samePayload, short, show } from "../helpers.ts";
import { accessAllows, domainKey, passesSendersLimit, saysRateLimited } from "./gate.ts";
import type { Model } from "./state.ts";

/** A user's message: through the gate, then to a resource, waiting for one, or refused. */
export function userMessage(model: Model, el: XmlElement, out: XmlElement[]): void {
  const from = el.attrs.from!;
  const bare = bareOf(from).toLowerCase();
  const { allow, deny, hideFromDenied } = model.settings;
  // The gate of a request: access lists, then the bucket it shares with requests.
  if (!accessAllows(allow, deny, bare)) {
    return hideFromDenied
      ? model.refusal(el, out, "cancel", "service-unavailable")
      : model.refusal(el, out, "auth", "forbidden");
  }
  if (!passesSendersLimit(model, bare, saysRateLimited(out[0]))) {
    return model.refusal(el, out, "wait", "resource-constraint");
  }
  if (!fitsResource(from)) return model.refusal(el, out, "modify", "not-acceptable");
  if (!serving(model)) {
    // Just after (re)connecting it waits for the first resource, within
    // the window and as long as max_pending and the user's and the domain's
    // caps (counting the messages waiting) have room; later, refused.
    const { maxPending, maxPendingPerRequester, maxPendingPerDomain } = model.settings;
    const waitingFrom = (same: (bare: string) => boolean) =>
      model.waitingMessages.filter((m) => same(bareOf(m.el.attrs.from!).toLowerCase())).length;
    const domain = domainKey(bare);
    const room = model.inFlight() < maxPending &&
      (maxPendingPerRequester === undefined ||
        waitingFrom((b) => b === bare) < maxPendingPerRequester) &&
      (maxPendingPerDomain === undefined ||
        waitingFrom((b) => domainKey(b) === domain) < maxPendingPerDomain);
    const until = room ? model.learnUntil ?? model.now : model.now;
    if (until <= model.now) return model.refusal(el, out, "cancel", "service-unavailable");
    model.check(out.length === 0, () => `a message waiting for a resource sent ${out.map(show)}`);
    model.waitingMessages.push({ el, until });
    model.stats.waitedMessages++;
    return;
  }
  model.check(out.length === 1, () => `a user's message gave ${out.length} stanzas`);
  forwardedMessage(model, el, out[0]);
}

/** `s` is the user's message `el` forwarded to the resource that has the user. */
export function forwardedMessage(model: Model, el: XmlElement, s: XmlElement): void {
  const from = el.attrs.from!;
  const found = model.resourceByJid(s.attrs.to);
  model.check(
    s.name === "message" && found && s.attrs.from === `${model.domain}/${from}`,
    () => `user's message forwarded wrongly: ${show(s)}`,
  );
  model.check(samePayload(s, el), "forwarded message's payload changed");
  model.checkCopiedAttrs(s, el);
  const [name, chosen] = found;
  model.check(!chosen.draining, () => `a message sent to ${short(name)}, which is draining`);
  for (const [other, r] of model.resources) {
    if (r.draining) continue;
    model.check(
      !chosen.negative || r.negative,
      () => `message to ${short(name)} (negative priority) while ${short(other)} is online`,
    );
  }
  model.stats.messages++;
}

/** Whether some online resource takes new work (a conversation): not draining. */
export function serving(model: Model): boolean {
  for (const r of model.resources.values()) if (!r.draining) return true;
  return false;
}

/** A message from a target's resource to `<domain>/<peer>`: sent on from the bare domain. */
export function targetMessage(
  model: Model,
  el: XmlElement,
  toResource: string,
  out: XmlElement[],
): void {
  const peer = model.peerOf(toResource);
  if (peer === undefined) return model.refusal(el, out, "modify", "jid-malformed");
  model.check(out.length === 1, () => `the target's message gave ${out.length} stanzas`);
  const s = out[0];
  model.check(
    s.name === "message" && s.attrs.to === peer && s.attrs.from === model.domain,
    () => `the target's message forwarded wrongly: ${show(s)}`,
  );
  model.check(samePayload(s, el), "forwarded message's payload changed");
  model.checkCopiedAttrs(s, el);
  const id = el.attrs.id;
  if (id !== undefined) {
    const key = `${normalize(peer)}\0${id}`;
    const before = model.sent.get(key);
    model.sent.delete(key);
    // Two resources, one id, one peer: whose an error is cannot be told ("").
    const by = before === undefined || before.resourceJid === el.attrs.from ? el.attrs.from! : "";
    model.sent.set(key, { peer: normalize(peer), id, resourceJid: by });
  }
  model.stats.messages++;
}

/** A target resource refusing a user's message: its error goes to the user. */
export function targetMessageError(
  model: Model,
  el: XmlElement,
  toResource: string,
  out: XmlElement[],
): void {
  const peer = model.peerOf(toResource);
  if (peer === undefined) return model.none(out);
  model.check(out.length === 1, () => `the target's message error gave ${out.length} stanzas`);
  const s = out[0];
  model.check(
    s.name === "message" && s.attrs.type === "error" && s.attrs.to === peer &&
      s.attrs.from === model.domain,
    () => `the target's message error forwarded wrongly: ${show(s)}`,
  );
  model.check(samePayload(s, el), "forwarded message error's payload changed");
  model.checkCopiedAttrs(s, el);
  model.stats.messages++;
}

/** A peer's error about a message the target sent: back to the resource that sent it, if known. */
export function messageError(model: Model, el: XmlElement, out: XmlElement[]): void {
  const { from, id } = el.attrs;
  const full = normalize(from!);
  const exactKey = `${full}\0${id}`;
  // A message to a bare JID may be refused by one of its resources.
  const bareKey = full.includes("/") ? `${full.split("/")[0]}\0${id}` : undefined;
  const exact = model.sent.get(exactKey);
  const bare = bareKey === undefined ? undefined : model.sent.get(bareKey);
  const key = exact !== undefined ? exactKey : bareKey;
  const sent = id === undefined ? undefined : exact ?? bare;
  if (id !== undefined && key !== undefined) model.sent.delete(key);
  // Sent under one id to the full JID by one resource, to the bare by another.
  const either = exact !== undefined && bare !== undefined &&
    exact.resourceJid !== bare.resourceJid;
  if (!sent || sent.resourceJid === "" || either) return model.none(out);
  model.check(out.length === 1, () => `a message error gave ${out.length} stanzas`);
  const s = out[0];
  model.check(
    s.name === "message" && s.attrs.type === "error" && s.attrs.id === id &&
      s.attrs.to === sent.resourceJid && s.attrs.from === `${model.domain}/${from}`,
    () => `message error relayed wrongly: ${show(s)}`,
  );
  model.check(samePayload(s, el), "relayed error's payload changed");
  model.stats.relays++;
}

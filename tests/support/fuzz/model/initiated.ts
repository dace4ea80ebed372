/**
 * Requests the target starts (allow_target_requests): sent on to the peer
 * under an id of ours, each answered once (by the peer's reply, a timeout
 * or the shutdown), or forgotten with its resource.
 */
import type { XmlElement } from "../../../../src/core/xml.ts";
import { normalize, samePayload, show } from "../helpers.ts";
import type { Initiated, Model } from "./state.ts";

/** A get/set from a target's resource to `<domain>/<peer>`: sent on to the peer, or refused. */
export function targetRequest(
  model: Model,
  el: XmlElement,
  toResource: string,
  out: XmlElement[],
): void {
  const id = el.attrs.id;
  const peer = model.peerOf(toResource);
  if (id === undefined) return model.refusal(el, out, "modify", "bad-request");
  if (!model.accepting) return model.refusal(el, out, "wait", "service-unavailable");
  if (peer === undefined) return model.refusal(el, out, "modify", "jid-malformed");
  if (model.inFlight() >= model.settings.maxPending) {
    return model.refusal(el, out, "wait", "resource-constraint");
  }
  // Carried over from a closed stream: its time runs from its arrival.
  const arrived = model.arrivedAt ?? model.now;
  if (arrived + model.settings.requestTimeoutMs <= model.now) {
    return model.refusal(el, out, "wait", "remote-server-timeout");
  }
  model.check(out.length === 1, () => `a target request gave ${out.length} stanzas`);
  const s = out[0];
  const key = s.attrs.id;
  model.check(
    s.name === "iq" && s.attrs.type === el.attrs.type && s.attrs.to === peer &&
      s.attrs.from === model.domain && key !== undefined && !model.initiated.has(key),
    () => `target request sent on wrongly: ${show(s)}`,
  );
  model.check(samePayload(s, el), "target request's payload changed");
  model.checkCopiedAttrs(s, el, "id");
  const from = el.attrs.from!;
  model.initiated.set(key, {
    key,
    id,
    resourceJid: from,
    resourceName: from.slice(from.indexOf("/") + 1),
    peer,
    deadline: arrived + model.settings.requestTimeoutMs,
  });
  model.initiatedStarted++;
  model.stats.initiated++;
}

/** A peer's reply to the bare domain: relayed to the resource that asked, if it is one. */
export function initiatedReply(model: Model, el: XmlElement, out: XmlElement[]): void {
  const entry = model.initiated.get(el.attrs.id ?? "");
  if (!entry || normalize(el.attrs.from!) !== normalize(entry.peer)) return model.none(out);
  model.check(out.length === 1, () => `a reply to the target's request gave ${out.length}`);
  const s = out[0];
  model.check(
    s.name === "iq" && s.attrs.type === el.attrs.type && s.attrs.id === entry.id &&
      s.attrs.to === entry.resourceJid && s.attrs.from === `${model.domain}/${entry.peer}`,
    () => `reply to the target's request relayed wrongly: ${show(s)}`,
  );
  model.check(samePayload(s, el), "relayed payload is not the reply's");
  model.checkCopiedAttrs(s, el, "id");
  closeInitiated(model, entry);
  model.stats.relays++;
}

/**
 * A peer's reply over max_stanza_size: if it answers one of the target's
 * requests, the resource that asked gets internal-server-error at once.
 */
export function tooBigInitiatedReply(model: Model, el: XmlElement, out: XmlElement[]): void {
  const entry = model.initiated.get(el.attrs.id ?? "");
  if (!entry || normalize(el.attrs.from!) !== normalize(entry.peer)) return model.none(out);
  model.check(out.length === 1, () => `an oversized answer gave ${out.length} stanzas`);
  const s = out[0];
  model.check(
    s.name === "iq" && s.attrs.type === "error" && s.attrs.id === entry.id &&
      s.attrs.to === entry.resourceJid && s.attrs.from === `${model.domain}/${entry.peer}`,
    () => `an oversized answer to the target's request was settled wrongly: ${show(s)}`,
  );
  model.checkError(s, "cancel", "internal-server-error");
  closeInitiated(model, entry);
  model.stats.oversizedAnswers++;
}

/** The router forgets, silently, the target's requests of the resources `gone` says. */
export function forgetInitiated(model: Model, gone: (resourceName: string) => boolean): void {
  for (const entry of [...model.initiated.values()]) {
    if (gone(entry.resourceName)) {
      model.initiated.delete(entry.key);
      model.initiatedClosed++;
    }
  }
}

function closeInitiated(model: Model, entry: Initiated): void {
  model.initiated.delete(entry.key);
  model.initiatedClosed++;
  model.initiatedRecent.push(entry);
  if (model.initiatedRecent.length > 8) model.initiatedRecent.shift();
}

/** An answer the router gave itself to a request the target started. */
export function initiatedAnswer(
  model: Model,
  s: XmlElement,
  accept: (e: Initiated) => boolean,
  condition: string,
): boolean {
  for (const entry of model.initiated.values()) {
    if (
      accept(entry) && s.attrs.to === entry.resourceJid && s.attrs.id === entry.id &&
      s.attrs.from === `${model.domain}/${entry.peer}`
    ) {
      model.checkError(s, "wait", condition);
      closeInitiated(model, entry);
      return true;
    }
  }
  return false;
}

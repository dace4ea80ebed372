/**
 * What the model expects of each stanza the router receives: the rule
 * that applies, by kind, type, sender and address, each handed to the
 * concern that checks it.
 */
import { isOversized, type XmlElement } from "../../../../src/core/xml.ts";
import { initiatedReply, targetRequest, tooBigInitiatedReply } from "./initiated.ts";
import { messageError, targetMessage, targetMessageError, userMessage } from "./messages.ts";
import { reply, request, tooBigReply } from "./requests.ts";
import { userPresence } from "./service_presence.ts";
import type { Model } from "./state.ts";
import { targetPresence } from "./target_presence.ts";

/** Checks what the router sent (`out`) in answer to `el`. */
export function receive(model: Model, el: XmlElement, out: XmlElement[]): void {
  const { to, from, type } = el.attrs;
  // No server stamps an empty `from`, or one without a domain ("/…"): the
  // router drops those (one could collide with its long-address tokens).
  if (to === undefined || from === undefined || from === "" || from.startsWith("/")) {
    return model.none(out);
  }
  if (!model.ours(to)) return model.none(out);
  const slash = to.indexOf("/");
  const toResource = slash < 0 ? undefined : to.slice(slash + 1);
  const fromTarget = model.isTarget(from);
  if (isOversized(el)) {
    // Over max_stanza_size: its payload was never read, so a get/set is
    // refused, an answer to a request settles it with an error, and
    // anything else is dropped, whoever sent it.
    model.stats.oversized++;
    if (el.name !== "iq") return model.none(out);
    if (type === "get" || type === "set") {
      return model.refusal(el, out, "modify", "policy-violation");
    }
    if (type !== "result" && type !== "error") return model.none(out);
    if (fromTarget && toResource !== undefined) return tooBigReply(model, el, toResource, out);
    return toResource === undefined ? tooBigInitiatedReply(model, el, out) : model.none(out);
  }
  switch (el.name) {
    case "iq":
      if (type === "result" || type === "error") {
        if (fromTarget && toResource !== undefined) return reply(model, el, toResource, out);
        if (toResource === undefined && model.initiated.size > 0) {
          return initiatedReply(model, el, out);
        }
        return model.none(out);
      }
      if (type !== "get" && type !== "set") return model.refusal(el, out, "modify", "bad-request");
      if (!fromTarget) return request(model, el, type, out);
      if (toResource !== undefined && model.settings.allowTargetRequests) {
        return targetRequest(model, el, toResource, out);
      }
      return toResource === undefined
        ? model.refusal(el, out, "modify", "bad-request")
        : model.refusal(el, out, "cancel", "feature-not-implemented");
    case "presence":
      if (fromTarget && toResource !== undefined) return model.none(out);
      if (fromTarget) return targetPresence(model, el, out);
      if (type === "error") return model.none(out);
      if (model.settings.presence) return userPresence(model, el, out);
      return model.refusal(el, out, "modify", "bad-request");
    case "message": {
      const forward = model.settings.messages === "forward";
      if (type === "error") {
        if (forward && !fromTarget && toResource === undefined) {
          return messageError(model, el, out);
        }
        if (forward && fromTarget && toResource !== undefined) {
          return targetMessageError(model, el, toResource, out);
        }
        return model.none(out);
      }
      if (fromTarget && toResource === undefined) {
        return model.refusal(el, out, "modify", "bad-request");
      }
      if (!forward) return model.refusal(el, out, "cancel", "feature-not-implemented");
      if (fromTarget) return targetMessage(model, el, toResource!, out);
      return userMessage(model, el, out);
    }
    default:
      return model.none(out);
  }
}

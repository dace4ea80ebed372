/**
 * What waits for the first resource just after (re)connecting: users'
 * requests and messages, sent on in order when a resource comes, or
 * answered when their wait is over.
 */
import type { XmlElement } from "../../../../src/core/xml.ts";
import { ourSpelling, show } from "../helpers.ts";
import { forwardedMessage } from "./messages.ts";
import { anyEligible, forwarded } from "./requests.ts";
import { BACKOFF_MIN_MS, type Model, type Parked, type WaitingMessage } from "./state.ts";

/** The first resource came: the waiting requests go to it, in order (or get busy). */
export function unpark(model: Model, out: XmlElement[]): void {
  model.backoff = BACKOFF_MIN_MS;
  const parked = model.parked;
  const messages = model.waitingMessages;
  model.parked = [];
  model.waitingMessages = [];
  model.check(
    out.length === parked.length + messages.length,
    () =>
      `${parked.length} waiting request(s), ${messages.length} message(s), ` +
      `${out.length} stanza(s) sent`,
  );
  // The requests first, then the messages, each in arrival order.
  messages.forEach((m, i) => forwardedMessage(model, m.el, out[parked.length + i]));
  parked.forEach((p, i) => {
    const s = out[i];
    if (s.attrs.type === "error") {
      model.check(!anyEligible(model, undefined), () => `a waiting request refused: ${show(s)}`);
      checkParkedAnswer(model, p, s, "wait", "resource-constraint");
      return;
    }
    forwarded(model, p.el, p.type, s, p.arrived);
    model.stats.unparked++;
  });
}

/** `s` answers the waiting request `p` with an error; it is answered. */
export function checkParkedAnswer(
  model: Model,
  p: Parked,
  s: XmlElement,
  type: string,
  condition: string,
): void {
  model.check(
    s.name === "iq" && s.attrs.to === p.requester && s.attrs.id === p.id &&
      s.attrs.from === ourSpelling(p.el.attrs.to),
    () => `expected ${condition} to a waiting request, sent ${show(s)}`,
  );
  model.checkError(s, type, condition);
  model.answered++;
  model.stats.refusedRequests++;
}

/** The waiting request that `s` answers, if any, taken out of the list. */
export function takeParked(
  model: Model,
  s: XmlElement,
  accept: (p: Parked) => boolean,
): Parked | undefined {
  const i = model.parked.findIndex((p) =>
    s.attrs.to === p.requester && s.attrs.id === p.id && accept(p)
  );
  return i < 0 ? undefined : model.parked.splice(i, 1)[0];
}

/** The waiting message that `s` answers, if any, taken out of the list. */
export function takeWaitingMessage(
  model: Model,
  s: XmlElement,
  accept: (m: WaitingMessage) => boolean,
): WaitingMessage | undefined {
  const i = model.waitingMessages.findIndex((m) =>
    s.name === "message" && s.attrs.to === m.el.attrs.from && s.attrs.id === m.el.attrs.id &&
    accept(m)
  );
  return i < 0 ? undefined : model.waitingMessages.splice(i, 1)[0];
}

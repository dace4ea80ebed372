/**
 * What waits for the first resource just after (re)connecting: users'
 * requests and messages, sent on in order when a resource comes, or
 * answered when their wait is over.
 */
import type { XmlElement } from "../../../../src/core/xml.ts";
import { ourSpelling, show } from "../helpers.ts";
import { forwardedMessage, serving } from "./messages.ts";
import { redispatch } from "./requests.ts";
import type { Model, Parked, WaitingMessage } from "./state.ts";

/**
 * A resource came (or came back into service): the waiting requests are
 * tried again in order, then the messages: each goes, is refused, or
 * (nothing yet to take it, within its wait) waits on.
 */
export function unpark(model: Model, out: XmlElement[]): void {
  const parked = model.parked;
  const messages = model.waitingMessages;
  model.parked = [];
  model.waitingMessages = [];
  let next = 0;
  for (const p of parked) {
    // Each decided in turn: one that goes may pin the key of the next.
    if (redispatch(model, p, out[next])) next++;
    else model.parked.push(p);
  }
  for (const m of messages) {
    if (!serving(model)) {
      if (m.until > model.now) {
        model.waitingMessages.push(m);
        continue;
      }
      model.check(next < out.length, "a message whose wait is over got no answer");
      model.refusal(m.el, [out[next++]], "cancel", "service-unavailable");
      continue;
    }
    model.check(next < out.length, "a waiting message was not sent on");
    forwardedMessage(model, m.el, out[next++]);
  }
  model.check(
    next === out.length,
    () =>
      `${out.length - next} stanza(s) more than the waiting requests and messages: ${
        out.slice(next).map(show).join(" | ")
      }`,
  );
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

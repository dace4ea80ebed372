/**
 * Time and the stream's life: deadlines and due work on each tick, the
 * stream coming online, a reload of the settings, and the shutdown's
 * `settleAll`, which must leave nothing owed.
 */
import type { RouterSettings } from "../../../../src/core/router.ts";
import type { XmlElement } from "../../../../src/core/xml.ts";
import { fitsResource, show } from "../helpers.ts";
import * as affinity from "./affinity.ts";
import { accessAllows } from "./gate.ts";
import { forgetInitiated, initiatedAnswer } from "./initiated.ts";
import { failover, redispatch, viaOf } from "./requests.ts";
import { availability, firstAnnouncement, restoreSubscribers } from "./service_presence.ts";
import { askedOf, type Model } from "./state.ts";
import { checkPresence } from "./target_presence.ts";
import { checkParkedAnswer, takeParked, takeWaitingMessage } from "./waiting.ts";

/** After (re)connecting, how long a request finding no resource waits (the router's LEARN_MS). */
const LEARN_MS = 1_000;

/** A tick: what is due is answered (timeouts, waits over, failovers, a resubscription), no more. */
export function tick(model: Model, out: XmlElement[]): void {
  const due = model.resubscribeAt !== undefined && model.resubscribeAt <= model.now;
  const expired = new Set([...model.live.values()].filter((r) => r.deadline <= model.now));
  const now = model.now;
  // The first second after a reconnect is over: requests whose resource
  // was not announced again fail over, if the server has spoken since.
  const reattachDue = model.reattachBy !== undefined && model.reattachBy <= now;
  const failing = new Set(
    reattachDue && model.heard
      ? [...model.live.values()].filter((r) => r.attached === undefined && r.deadline > now)
      : [],
  );
  if (reattachDue) model.reattachBy = undefined;
  const initiatedDue = model.initiatedCheckBy !== undefined && model.initiatedCheckBy <= now;
  out.forEach((s, i) => {
    if (s.name === "presence") {
      model.check(due && i === out.length - 1, () => `unexpected presence on tick: ${show(s)}`);
      checkPresence(model, s, "subscribe");
      return;
    }
    if (initiatedAnswer(model, s, (e) => e.deadline <= now, "remote-server-timeout")) {
      model.stats.timeouts++;
      return;
    }
    const waited = takeParked(model, s, (p) => p.until <= now);
    if (waited) {
      // One with a key is placed anew if it can be (within its own time).
      if (waited.key !== undefined && waited.arrived + model.settings.requestTimeoutMs > now) {
        return void redispatch(model, waited, s);
      }
      return checkParkedAnswer(model, waited, s, "cancel", "service-unavailable");
    }
    const forward = s.name === "iq" && (s.attrs.type === "get" || s.attrs.type === "set");
    if (forward && model.live.get(`${viaOf(model, s)}\0${s.attrs.id}`) === undefined) {
      // A request with a key whose wait is over, forwarded: its resource did not come back.
      const via = viaOf(model, s);
      const i = model.parked.findIndex((p) =>
        p.until <= now && p.key !== undefined && p.id === s.attrs.id &&
        p.arrived + model.settings.requestTimeoutMs > now &&
        (fitsResource(p.requester) ? via === p.requester : via.startsWith("/"))
      );
      model.check(i >= 0, () => `tick forwarded a request that was not waiting: ${show(s)}`);
      return void redispatch(model, model.parked.splice(i, 1)[0], s);
    }
    const message = takeWaitingMessage(model, s, (m) => m.until <= now);
    if (message) return model.refusal(message.el, [s], "cancel", "service-unavailable");
    if (failing.size > 0) {
      const resent = s.name === "iq" && (s.attrs.type === "get" || s.attrs.type === "set");
      const settled = resent
        ? model.live.get(`${viaOf(model, s)}\0${s.attrs.id}`)
        : model.findOpen(s.attrs.to, s.attrs.id, (r) => failing.has(r));
      if (settled && failing.has(settled)) {
        failing.delete(failover(model, s, [settled]));
        return;
      }
    }
    const req = model.findOpen(s.attrs.to, s.attrs.id, (r) => expired.has(r));
    model.check(req, () => `tick answered no expired request: ${show(s)}`);
    model.check(
      s.attrs.from === askedOf(req),
      () => `timeout not from the address asked: ${show(s)}`,
    );
    model.checkError(s, "wait", "remote-server-timeout");
    expired.delete(req);
    model.close(req);
    model.stats.timeouts++;
  });
  // The same second over, after the timeouts: the target's requests from a
  // resource not back are forgotten (nobody is left to answer them).
  if (initiatedDue) {
    model.initiatedCheckBy = undefined;
    if (model.heard) forgetInitiated(model, (name) => !model.resources.has(name));
  }
  model.check(expired.size === 0, () => `${expired.size} request(s) past their deadline`);
  model.check(
    failing.size === 0,
    () => `${failing.size} request(s) whose resource did not come back were not failed over`,
  );
  model.check(
    model.parked.every((p) => p.until > now),
    "a request still waits for a resource past its time",
  );
  model.check(
    model.waitingMessages.every((m) => m.until > now),
    "a message still waits for a resource past its time",
  );
  for (const entry of model.initiated.values()) {
    model.check(entry.deadline > now, "a request of the target's past its deadline");
  }
  if (model.announceAt !== undefined && model.announceAt <= now) {
    model.announceAt = undefined;
    availability(model, model.resources.size > 0);
  }
  if (due) {
    model.check(out.at(-1)?.name === "presence", "a due resubscription was not sent");
    model.resubscribeAt = undefined;
  }
  affinity.tick(model);
}

/**
 * The stream (re)connected: a subscribe to the target; resources are
 * learnt again. Coming to serve (at start, after a restart, or as a look
 * from standby), the router starts from the store: its pins (as used now)
 * and, if the store can be read (`readable`), its subscribers. A `look`
 * serves nothing yet: it says nothing to the subscribers until it takes
 * over (docs/production.md, "A hot standby").
 */
export function online(model: Model, out: XmlElement[], readable = true, look = false): void {
  model.check(out.length === 1, () => `online sent ${out.length} stanzas`);
  if (!model.serving) {
    affinity.restorePins(model);
    if (readable) restoreSubscribers(model);
  }
  if (!look) model.serving = true;
  checkPresence(model, out[0], "subscribe");
  for (const req of model.live.values()) model.unattach(req);
  model.resources.clear();
  model.resubscribeAt = undefined;
  model.learnUntil = model.now + LEARN_MS;
  model.heard = false;
  if (model.live.size > 0) model.reattachBy = model.learnUntil;
  model.initiatedCheckBy = model.initiated.size > 0 ? model.learnUntil : undefined;
  affinity.online(model);
  if (model.settings.presence && !look) firstAnnouncement(model);
}

/** New settings (Router.reconfigure): presence turned off or on tells the subscribers. */
export function reload(model: Model, next: RouterSettings): void {
  const before = model.settings.presence ?? false;
  model.settings = next;
  affinity.trim(model);
  // Not online yet: nothing is said (online() schedules the first word).
  if (!model.serving) return;
  if (before && !next.presence) {
    model.announceAt = undefined;
    if (model.announced === false) return;
    model.announced = false;
    for (const to of model.subscribers) {
      if (accessAllows(next.allow, next.deny, to)) model.owed.push({ to, type: "unavailable" });
    }
  } else if (!before && next.presence) {
    // As after a (re)connect: the first announcement may wait for resources.
    firstAnnouncement(model);
    availability(model, model.resources.size > 0);
  }
}

/** The shutdown's `settleAll`: everything owed is answered, then the goodbye presence. */
export function settle(model: Model, out: XmlElement[]): void {
  // Only an instance that serves says goodbye (a standby, or one never
  // online, speaks for nobody).
  const goodbye = model.serving ? 1 : 0;
  model.stats.shutdowns += answerAll(model, out.slice(0, out.length - goodbye), "settleAll");
  if (goodbye) {
    model.check(out.length > 0, "settleAll said no goodbye to the target");
    if (out.length > 0) checkPresence(model, out[out.length - 1], "unavailable");
  }
  // Subscribers hear the service go, unless they were last told just that.
  if (model.serving && model.settings.presence && model.announced !== false) {
    const waiting = model.announced === undefined && model.announceAt !== undefined;
    if (!(waiting && model.tolerated("silentShutdownAfterReconnect"))) {
      model.announceAt = undefined;
      availability(model, false);
    }
  }
  model.reattachBy = undefined;
  model.settled = true;
  // The router forgets its pins (the store keeps them): nothing is due.
  model.pins.clear();
  model.pinSweepAt = undefined;
}

/**
 * Everything held, both ways, answered exactly once with
 * `service-unavailable` (wait), and nothing else sent (`out`): by the
 * shutdown, or as another instance takes over (`by` names which).
 * Returns how many requests (users' or the target's) were answered.
 */
export function answerAll(model: Model, out: XmlElement[], by: "settleAll" | "handOver"): number {
  const all = new Set(model.live.values());
  model.initiatedCheckBy = undefined;
  let requests = 0;
  for (const s of out) {
    if (initiatedAnswer(model, s, () => true, "service-unavailable")) {
      requests++;
      continue;
    }
    const waited = takeParked(model, s, () => true);
    if (waited) {
      checkParkedAnswer(model, waited, s, "wait", "service-unavailable");
      requests++;
      continue;
    }
    const message = takeWaitingMessage(model, s, () => true);
    if (message) {
      model.refusal(message.el, [s], "wait", "service-unavailable");
      continue;
    }
    const req = model.findOpen(s.attrs.to, s.attrs.id, (r) => all.has(r));
    model.check(req, () => `${by} answered no pending request: ${show(s)}`);
    model.check(
      s.attrs.from === askedOf(req),
      () => `${by}'s answer not from the address asked: ${show(s)}`,
    );
    model.checkError(s, "wait", "service-unavailable");
    all.delete(req);
    req.handedOver = by === "handOver";
    model.close(req);
    requests++;
  }
  model.check(all.size === 0, () => `${by} left ${all.size} request(s) unanswered`);
  model.check(model.parked.length === 0, `${by} left requests waiting for a resource`);
  model.check(model.waitingMessages.length === 0, `${by} left messages waiting for a resource`);
  model.check(model.initiated.size === 0, `${by} left requests of the target's unanswered`);
  return requests;
}

/**
 * The checks that hold for every stanza sent and after every step:
 *
 * 1. no exception (checked by the runner);
 * 2. every stanza sent is from the domain or a resource of it;
 * 3. every iq result/error sent to a requester answers a get/set that
 *    requester sent with that id and that was not answered yet; a relayed
 *    reply is the one the target sent for that very forward (same id, sent
 *    to the `from` the router used, from the resource it went to);
 * 4. every get/set is answered exactly once: at once, or when its reply,
 *    failover, timeout or shutdown comes; none is pending after
 *    `settleAll` or after its deadline has been ticked;
 * 5. `pendingCount` equals the model's open requests and never exceeds
 *    max_pending; `resources` and `nextWake()` are what the model expects;
 *    nothing is pending and nothing is due after `settleAll`;
 * 6. what goes to the target's resources is a forwarded request or an
 *    error reply to the target's own stanza; presence goes to its bare JID;
 * 7. nothing is sent in reply to an error or an iq result.
 *
 * Whether each decision was the right one is checked by the concern that
 * makes it (requests.ts, messages.ts, ...).
 */
import type { Router } from "../../../../src/core/router.ts";
import { errorCondition } from "../../../../src/core/stanza.ts";
import { isOversized, serialize, xml, type XmlElement } from "../../../../src/core/xml.ts";
import { bareOf, earliest, isResult, samePayload, short, show } from "../helpers.ts";
import { wake as pinWake } from "./affinity.ts";
import type { Model } from "./state.ts";

/** The router call a step made. */
export type Op =
  | "receive"
  | "tick"
  | "online"
  | "look"
  | "settle"
  | "drain"
  | "reload"
  | "hand-over"
  | "take-over";

/** Checks (2), (6) and (7) for one stanza sent in answer to `incoming` (if any). */
export function checkSent(model: Model, s: XmlElement, incoming: XmlElement | undefined): void {
  const { from, to } = s.attrs;
  model.check(to !== undefined, () => `sent without to: ${show(s)}`);
  model.check(from !== undefined, () => `sent without from: ${show(s)}`);
  // (2) from our domain only.
  if (from !== model.domain && !from.startsWith(`${model.domain}/`)) {
    const variant = bareOf(from).toLowerCase() === model.domain;
    if (!(variant && model.tolerated("refusalFromCaseVariant"))) {
      model.fail(`(2) sent from ${short(from)}, not from ${model.domain}: ${show(s)}`);
    }
  }
  // (6) what reaches the target's resources: requests, refusals of its own
  // stanzas, and (opt-in) what comes from a JAT address or its own messages;
  // never an answer meant for a requester (those come from the bare domain).
  if (model.isTarget(to) && to.includes("/")) {
    const forward = s.name === "iq" && (s.attrs.type === "get" || s.attrs.type === "set");
    const refusal = s.attrs.type === "error" && incoming !== undefined &&
      incoming.attrs.from === to;
    const jat = s.name !== "presence" && from.startsWith(`${model.domain}/`);
    // A message error goes there only passed on from the target itself.
    const message = s.name === "message" &&
      (s.attrs.type !== "error" || model.isTarget(incoming?.attrs.from ?? ""));
    model.check(
      forward || refusal || jat || message,
      () => `(6) sent to the target's resource: ${show(s)}`,
    );
  }
  // (7) nothing in reply to an error or a result. Relaying it (same payload)
  // to whoever asked is no reply, even when the target asked itself; nor is
  // the error that settles a request whose answer was too big to relay.
  if (incoming && (incoming.attrs.type === "error" || isResult(incoming))) {
    const forward = s.name === "iq" && (s.attrs.type === "get" || s.attrs.type === "set");
    const relay = samePayload(s, incoming) && s.attrs.type === incoming.attrs.type;
    const settled = isOversized(incoming) && s.name === "iq" && s.attrs.type === "error" &&
      errorCondition(s) === "internal-server-error";
    model.check(
      forward || relay || settled || to !== incoming.attrs.from,
      () => `(7) answered ${incoming.attrs.type} ${incoming.name}: ${show(s)}`,
    );
  }
  // What goes on the wire is serialize()'s text (src/link/connection.ts).
  if (/[\t\n\r]/.test(serialize(xml(s.name, s.attrs)))) {
    model.check(
      model.tolerated("rawWhitespaceInAttributes"),
      () => `raw tab or newline in an attribute of ${show(s)}: a parser reads it as a space`,
    );
  }
}

/** Checks (4) and (5), after every step. */
export function post(model: Model, router: Router, op: Op): void {
  const stats = model.stats;
  // (4) every request answered at once, or pending; never twice (or lost
  // with the process in a restart).
  model.check(
    stats.requests === model.answered + model.live.size + model.parked.length + model.lost,
    () =>
      `${stats.requests} requests, ${model.answered} answered, ${model.live.size} pending, ` +
      `${model.parked.length} waiting for a resource, ${model.lost} lost in restarts: ` +
      `some request was lost or answered twice`,
  );
  model.check(
    model.initiatedStarted === model.initiatedClosed + model.initiated.size,
    "a request of the target's was lost or answered twice",
  );
  // (5) the state's size.
  model.check(
    router.pendingCount === model.live.size + model.parked.length,
    () =>
      `pendingCount ${router.pendingCount}, but ${
        model.live.size + model.parked.length
      } requests await a reply`,
  );
  model.check(
    router.pendingCount <= model.maxPendingEver,
    () => `pendingCount ${router.pendingCount} over max_pending ${model.maxPendingEver}`,
  );
  const names = router.resources;
  const expected = [...model.resources.keys()];
  model.check(
    names.length === expected.length && names.every((n, i) => n === expected[i]),
    () => `resources ${short(JSON.stringify(names))}, expected ${short(JSON.stringify(expected))}`,
  );
  let wake: number | undefined = model.minDeadline();
  for (const entry of model.initiated.values()) wake = earliest(wake, entry.deadline);
  if (model.initiated.size > 0) wake = earliest(wake, model.initiatedCheckBy);
  const at = earliest(model.resubscribeAt, model.announceAt);
  wake = earliest(earliest(wake, at), pinWake(model));
  if (model.settled) {
    model.check(router.pendingCount === 0, "pending after settleAll");
    if (at !== undefined && model.tolerated("wakeAfterSettle")) {
      // The resubscription (or the first announcement) stays due.
    } else wake = undefined;
  }
  const actual = router.nextWake();
  model.check(
    actual === wake,
    () => `nextWake() ${actual}, expected ${wake} (${op} at ${model.now})`,
  );
  for (const req of model.live.values()) {
    if (req.attached !== undefined) {
      model.check(model.resources.has(req.attached), "a request held by a resource that is gone");
    }
  }
}

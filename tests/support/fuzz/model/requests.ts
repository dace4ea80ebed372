/**
 * Requests from users. A request is refused only for a reason that holds
 * (no id, draining, access lists, the rate limit's bounds, a pending
 * duplicate, max_pending, the per-requester cap, no resource, all resources
 * full, its key's resource full) and forwarded otherwise, from the JAT
 * address, to a resource that is online and not full (negative priority
 * only as a last resort; the least loaded under least-pending), that takes
 * new work (not `<show>dnd</show>`), or to the one its affinity key is
 * pinned to (affinity.ts). The reply is relayed to the requester. When a
 * resource goes away, a get is re-sent at most once and never to the
 * resource it left; a set is answered.
 */
import { serialize, type XmlElement } from "../../../../src/core/xml.ts";
import {
  bareOf,
  conditionOf,
  fitsResource,
  ourSpelling,
  samePayload,
  short,
  show,
} from "../helpers.ts";
import { HOSTILE_REQUESTERS } from "../scenario.ts";
import { keyOf, type PinRule, pinRule, served, touch } from "./affinity.ts";
import { accessAllows, domainKey, passesSendersLimit, saysRateLimited } from "./gate.ts";
import { askedOf, type Model, type ModelResource, type Parked, type Req } from "./state.ts";

const HOSTILE = new Set(HOSTILE_REQUESTERS);

/** A get/set from a user: answered at once, waiting for a resource, or forwarded. */
export function request(
  model: Model,
  el: XmlElement,
  type: "get" | "set",
  out: XmlElement[],
): void {
  const requester = el.attrs.from!;
  const id = el.attrs.id;
  model.stats.requests++;
  const s = out[0] as XmlElement | undefined;
  const one = (): XmlElement => {
    model.check(out.length === 1, () => `a request got ${out.length} stanzas: ${out.map(show)}`);
    return out[0];
  };
  const immediate = (errorType: string, condition: string) => {
    const s = one();
    model.check(
      s.name === "iq" && s.attrs.type === "error" && s.attrs.to === requester &&
        s.attrs.id === id && s.attrs.from === ourSpelling(el.attrs.to),
      () => `expected ${condition} to the requester, sent ${show(s)}`,
    );
    model.checkError(s, errorType, condition);
    model.answered++;
    model.stats.refusedRequests++;
    const by = `${errorType}/${condition}`;
    model.stats.refusedBy[by] = (model.stats.refusedBy[by] ?? 0) + 1;
  };
  // Counted as received; answered at once or pending: see post().
  if (id === undefined) return immediate("modify", "bad-request");
  if (!model.accepting) return immediate("wait", "service-unavailable");
  const bare = bareOf(requester).toLowerCase();
  const { allow, deny, hideFromDenied, maxPendingPerRequester, maxPendingPerDomain } =
    model.settings;
  if (!accessAllows(allow, deny, bare)) {
    return hideFromDenied
      ? immediate("cancel", "service-unavailable")
      : immediate("auth", "forbidden");
  }
  if (!passesSendersLimit(model, bare, saysRateLimited(s))) {
    return immediate("wait", "resource-constraint");
  }
  // Carried over from a closed stream: its time runs from its arrival.
  const arrived = model.arrivedAt ?? model.now;
  if (arrived + model.settings.requestTimeoutMs <= model.now) {
    return immediate("wait", "remote-server-timeout");
  }
  if (
    model.byRequester.has(`${requester}\0${id}`) ||
    model.parked.some((p) => p.requester === requester && p.id === id)
  ) return immediate("cancel", "conflict");
  if (model.inFlight() >= model.settings.maxPending) {
    return immediate("wait", "resource-constraint");
  }
  if (maxPendingPerRequester !== undefined) {
    let held = 0;
    for (const req of model.live.values()) if (req.requesterBare === bare) held++;
    for (const p of model.parked) if (p.bare === bare) held++;
    if (held >= maxPendingPerRequester) return immediate("wait", "resource-constraint");
  }
  if (maxPendingPerDomain !== undefined) {
    const domain = domainKey(bare);
    let held = 0;
    for (const req of model.live.values()) if (domainKey(req.requesterBare) === domain) held++;
    for (const p of model.parked) if (domainKey(p.bare) === domain) held++;
    if (held >= maxPendingPerDomain) return immediate("wait", "resource-constraint");
  }
  const key = keyOf(model, el);
  const expected = expect(model, key, undefined, false);
  if (expected.kind === "wait") {
    // Just after (re)connecting: it waits for the first resource (or its
    // key's), within the window and its own timeout; later it is refused.
    const until = Math.min(
      model.learnUntil ?? model.now,
      arrived + model.settings.requestTimeoutMs,
    );
    if (until <= model.now) return immediate("cancel", "service-unavailable");
    model.check(out.length === 0, () => `a request waiting for a resource sent ${out.map(show)}`);
    model.parked.push({ el, requester, bare, id, type, arrived, until, key });
    model.stats.parked++;
    if (key !== undefined) model.stats.affinity.waited++;
    return;
  }
  if (expected.kind === "full") return immediate("wait", "resource-constraint");
  forwarded(model, el, type, one(), arrived, expected);
}

/** What the router must do with an admitted request (or a get failing over) now. */
export type Expected =
  /** No resource takes it yet: it waits (or, its wait over, gets service-unavailable). */
  | { readonly kind: "wait" }
  /** Every resource it may go to is full: resource-constraint. */
  | { readonly kind: "full" }
  /** Forwarded: to its key's resource, or (free) to any that takes new work, and pinned there. */
  | { readonly kind: "send"; readonly key: string | undefined; readonly rule: PinRule };

/**
 * What placement must do for a request with `key` (if any) now, `exclude`
 * being the resource a failover left. Ends a pin found ended, as the
 * router does when it looks.
 */
export function expect(
  model: Model,
  key: string | undefined,
  exclude: string | undefined,
  failover: boolean,
): Expected {
  const rule = key === undefined ? undefined : pinRule(model, key, failover);
  if (rule?.kind === "wait") return { kind: "wait" };
  if (rule?.kind === "at") {
    const pinned = model.resources.get(rule.resource)!;
    if (pinned.held >= model.settings.maxPendingPerResource) {
      // Refused as busy, the request still uses its key: the room runs.
      touch(model, key!);
      return { kind: "full" };
    }
    return { kind: "send", key, rule };
  }
  // New work goes only to resources that take it: not draining.
  let serving = false;
  for (const [name, r] of model.resources) if (name !== exclude && !r.draining) serving = true;
  if (!serving) return { kind: "wait" };
  if (!anyEligible(model, exclude)) return { kind: "full" };
  return { kind: "send", key, rule: rule ?? { kind: "free" } };
}

/**
 * A request that waited for a resource, decided now: forwarded or refused
 * (`s`, the next stanza sent, answers it: true), or still waiting (false).
 */
export function redispatch(model: Model, p: Parked, s: XmlElement | undefined): boolean {
  const expected = expect(model, p.key, undefined, false);
  if (expected.kind === "wait" && p.until > model.now) return false;
  model.check(s, () => `a waiting request ${short(p.id)} got no answer`);
  if (expected.kind === "send") {
    forwarded(model, p.el, p.type, s, p.arrived, expected);
    model.stats.unparked++;
    return true;
  }
  const [type, condition] = expected.kind === "full"
    ? ["wait", "resource-constraint"]
    : ["cancel", "service-unavailable"];
  model.check(
    s.name === "iq" && s.attrs.to === p.requester && s.attrs.id === p.id &&
      s.attrs.from === ourSpelling(p.el.attrs.to),
    () => `expected ${condition} to a waiting request, sent ${show(s)}`,
  );
  model.checkError(s, type, condition);
  model.answered++;
  model.stats.refusedRequests++;
  return true;
}

/** `s` is `el` forwarded, to an online resource with room, from the JAT address. */
export function forwarded(
  model: Model,
  el: XmlElement,
  type: "get" | "set",
  s: XmlElement,
  arrived: number,
  expected: Extract<Expected, { kind: "send" }>,
): void {
  const requester = el.attrs.from!;
  const id = el.attrs.id!; // a request without one is refused before
  const bare = bareOf(requester).toLowerCase();
  model.check(
    s.name === "iq" && s.attrs.type === type && s.attrs.id === id,
    () => `expected the request forwarded, sent ${show(s)}`,
  );
  model.check(samePayload(s, el), "forwarded payload is not the request's");
  model.checkCopiedAttrs(s, el);
  const via = viaOf(model, s);
  if (fitsResource(requester)) {
    model.check(via === requester, () => `forwarded from ${short(via)}, not the requester's JID`);
  } else {
    model.check(
      via.startsWith("/") && via.length > 1,
      () => `long requester forwarded from ${short(via)}`,
    );
    // A token is never used twice, not even across a restart: a late reply
    // to an old one would reach whoever holds it now.
    model.check(!model.tokens.has(via), () => `token ${short(via)} used again`);
    model.tokens.add(via);
    model.stats.longForwards++;
  }
  const found = model.resourceByJid(s.attrs.to);
  model.check(found, () => `forwarded to ${short(s.attrs.to)}, no online resource`);
  const [name, resource] = found;
  checkChoice(model, name, resource, undefined, expected);
  const req: Req = {
    requester,
    requesterBare: bare,
    id,
    type,
    request: el,
    via,
    deadline: arrived + model.settings.requestTimeoutMs,
    plausible: !HOSTILE.has(requester),
    key: expected.key,
    resourceJid: s.attrs.to!,
    attached: undefined,
    forwards: 1,
    handedOver: false,
  };
  model.open(req);
  model.attach(req, name);
  model.stats.forwards++;
}

/** The resource of our JID a forward comes from: the requester's JID, or a token for a long one. */
export function viaOf(model: Model, s: XmlElement): string {
  const from = s.attrs.from!;
  model.check(
    from.startsWith(`${model.domain}/`),
    () => `forward not from a JAT address: ${show(s)}`,
  );
  return from.slice(model.domain.length + 1);
}

/** A reply from the target to `<domain>/<via>`: relayed to the requester, or a bounce failed over. */
export function reply(model: Model, el: XmlElement, toResource: string, out: XmlElement[]): void {
  const id = el.attrs.id;
  let req = id === undefined ? undefined : model.live.get(`${toResource}\0${id}`);
  if (req && req.resourceJid !== el.attrs.from) req = undefined;
  if (!req && id === undefined && out.length > 0) {
    const undef = model.live.get(`${toResource}\0undefined`);
    if (undef && undef.resourceJid === el.attrs.from && model.tolerated("replyWithoutId")) {
      req = undef;
    }
  }
  if (!req) {
    const late = (r: Req) =>
      r.handedOver && r.via === toResource && r.id === id && r.resourceJid === el.attrs.from;
    if (model.recent.some(late)) model.stats.standby.lateReplies++;
    return model.none(out);
  }
  if (!req.plausible && out.length === 0) return model.none(out);
  const condition = el.attrs.type === "error" ? conditionOf(el) : undefined;
  // A bounce, for a request whose resource is not known to be online;
  // an online resource's own error goes through.
  if (
    req.attached === undefined &&
    (condition === "service-unavailable" || condition === "recipient-unavailable")
  ) {
    model.check(out.length === 1, () => `a bounce gave ${out.length} stanzas`);
    failover(model, out[0], [req]);
    return;
  }
  model.check(out.length === 1, () => `a reply gave ${out.length} stanzas`);
  const s = out[0];
  model.check(
    s.name === "iq" && s.attrs.type === el.attrs.type && s.attrs.to === req.requester &&
      s.attrs.from === askedOf(req),
    () => `reply relayed wrongly: ${show(s)}`,
  );
  model.check(
    s.attrs.id === req.id || (id === undefined && model.tolerate.replyWithoutId),
    () => `reply relayed with id ${short(String(s.attrs.id))}`,
  );
  model.check(samePayload(s, el), "relayed payload is not the reply's");
  model.checkCopiedAttrs(s, el);
  model.close(req);
  model.stats.relays++;
}

/**
 * A reply over max_stanza_size from the target: if it answers a live
 * request, its requester gets internal-server-error (cancel) at once.
 */
export function tooBigReply(
  model: Model,
  el: XmlElement,
  toResource: string,
  out: XmlElement[],
): void {
  const id = el.attrs.id;
  const req = id === undefined ? undefined : model.live.get(`${toResource}\0${id}`);
  if (!req || req.resourceJid !== el.attrs.from) return model.none(out);
  model.check(out.length === 1, () => `an oversized answer gave ${out.length} stanzas`);
  const s = out[0];
  model.check(
    s.name === "iq" && s.attrs.type === "error" && s.attrs.to === req.requester &&
      s.attrs.from === askedOf(req) && s.attrs.id === req.id,
    () => `an oversized answer was settled wrongly: ${show(s)}`,
  );
  model.checkError(s, "cancel", "internal-server-error");
  model.close(req);
  model.stats.oversizedAnswers++;
}

/**
 * One stanza settling one of `candidates` whose resource is gone: the get
 * re-sent elsewhere, or the error answer.
 */
export function failover(model: Model, s: XmlElement, candidates: readonly Req[]): Req {
  model.stats.failovers++;
  if (s.name === "iq" && (s.attrs.type === "get" || s.attrs.type === "set")) {
    const via = viaOf(model, s);
    const req = model.live.get(`${via}\0${s.attrs.id}`);
    model.check(
      req && candidates.includes(req),
      () => `re-sent a request not failing over: ${show(s)}`,
    );
    model.check(req.type === "get", () => `re-sent a set: ${show(s)}`);
    model.check(req.forwards === 1, () => `re-sent a get twice: ${show(s)}`);
    // The payload as received, byte for byte (the router keeps a copy of it).
    const payload = (el: XmlElement) => el.children.map(serialize).join("");
    model.check(
      s.attrs.type === "get" && payload(s) === payload(req.request),
      () => `re-sent payload differs: ${show(s)}`,
    );
    model.checkCopiedAttrs(s, req.request);
    const found = model.resourceByJid(s.attrs.to);
    model.check(found, () => `re-sent to ${short(s.attrs.to)}, no online resource`);
    const [name, resource] = found;
    model.check(name !== req.attached, () => `re-sent to the resource it left: ${show(s)}`);
    const expected = expect(model, req.key, req.attached, true);
    model.check(
      expected.kind === "send",
      () => `re-sent where it could not go (${expected.kind}): ${show(s)}`,
    );
    checkChoice(model, name, resource, req.attached, expected);
    model.unattach(req);
    model.attach(req, name);
    req.resourceJid = s.attrs.to!;
    req.forwards++;
    return req;
  }
  const req = model.findOpen(s.attrs.to, s.attrs.id, (r) => candidates.includes(r));
  model.check(req, () => `failover answered no failing request: ${show(s)}`);
  model.check(
    s.attrs.from === askedOf(req),
    () => `failover answer not from the address asked: ${show(s)}`,
  );
  if (req.type === "get") {
    // Re-sent once at most; a get whose next resource is busy may ask again soon.
    const next = req.forwards > 1 ? undefined : expect(model, req.key, req.attached, true).kind;
    model.check(
      next !== "send",
      () => `a get answered instead of re-sent to another resource: ${show(s)}`,
    );
    if (next === "full") model.checkError(s, "wait", "resource-constraint");
    else model.checkError(s, "cancel", "service-unavailable");
  } else {
    model.checkError(s, "wait", "recipient-unavailable");
  }
  model.close(req);
  return req;
}

/** Whether some online resource other than `exclude` takes new work and has room. */
export function anyEligible(model: Model, exclude: string | undefined): boolean {
  for (const [name, r] of model.resources) {
    if (name !== exclude && !r.draining && r.held < model.settings.maxPendingPerResource) {
      return true;
    }
  }
  return false;
}

/**
 * The chosen resource has room. With a key pinned, it is the pin's;
 * otherwise it takes new work (not draining), it has a negative priority
 * only when no other eligible one has not, and, without a key, under
 * least-pending it holds the fewest. A key goes where it is pinned.
 */
function checkChoice(
  model: Model,
  name: string,
  chosen: ModelResource,
  exclude: string | undefined,
  expected: Extract<Expected, { kind: "send" }>,
): void {
  const max = model.settings.maxPendingPerResource;
  model.check(chosen.held < max, () => `sent to ${short(name)} which holds ${chosen.held}`);
  const { key, rule } = expected;
  if (key !== undefined) served(model, key, name);
  if (rule.kind === "at") return;
  model.check(!chosen.draining, () => `new work sent to ${short(name)}, which is draining`);
  let fewest = Infinity;
  for (const [other, r] of model.resources) {
    if (other === exclude || r.held >= max || r.draining) continue;
    model.check(
      !chosen.negative || r.negative,
      () => `sent to ${short(name)} (negative priority) while ${short(other)} was eligible`,
    );
    if (r.negative === chosen.negative) fewest = Math.min(fewest, r.held);
  }
  if (model.settings.balance === "least-pending" && key === undefined) {
    model.check(
      chosen.held === fewest,
      () => `least-pending chose ${short(name)} holding ${chosen.held}, not ${fewest}`,
    );
  }
}

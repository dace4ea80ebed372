/**
 * The rule for a user's presence to the domain (`presence: true`): a
 * subscription to the service's availability, or a probe of it, after the
 * same gate as a request. The subscribers themselves are service_presence.ts.
 */
import { drop, refuse } from "./effects.ts";
import { type Gate, gateError } from "./gate.ts";
import { bareOf } from "./jid.ts";
import type { Effects } from "./router_events.ts";
import type { ServicePresence } from "./service_presence.ts";
import type { RouterSettings } from "./settings.ts";
import { BUSY, RATE_LIMITED } from "./stanza_errors.ts";
import type { XmlElement } from "./xml.ts";

/** The presence types a user sends that make the proxy answer or store something. */
const COSTLY_PRESENCE = new Set(["subscribe", "unsubscribe", "unsubscribed", "probe"]);

/** What the rule reads of the router. */
export interface UserPresenceContext {
  readonly gate: Gate;
  readonly presence: ServicePresence;
  /** Whether a target resource is online (the service is available). */
  readonly available: boolean;
  readonly settings: RouterSettings;
}

/** A user's presence to the domain. */
export function userPresence(
  fx: Effects,
  stanza: XmlElement,
  now: number,
  ctx: UserPresenceContext,
): void {
  // What makes the proxy answer or store takes a token, as a request does;
  // a denied user is answered below (unsubscribed).
  if (COSTLY_PRESENCE.has(stanza.attrs.type as string)) {
    const refused = ctx.gate.check(bareOf(stanza.attrs.from as string), now);
    if (refused === "rate_limited") return refuse(fx, stanza, RATE_LIMITED, refused);
  }
  const before = fx.send.length;
  const { change, refused } = ctx.presence.receive(stanza, ctx.available, fx.send);
  // Persisted first (a subscriber denied by a reload is forgotten), then
  // reported as a refusal of what a request would have got: the answer
  // is `unsubscribed`, but counted and said as a refused request is.
  if (change) fx.events.push({ type: "subscriber", ...change });
  if (refused) {
    const from = stanza.attrs.from as string;
    const error = refused === "forbidden" ? gateError(refused, ctx.settings) : BUSY;
    const { condition } = error;
    fx.events.push({ type: "refused", reason: refused, condition, stanza: "presence", from });
  } else if (!change && fx.send.length === before) drop(fx, "ignored_presence", stanza);
}

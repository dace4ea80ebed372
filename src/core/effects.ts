/**
 * Building a step's {@link Effects}: the stanzas the router sends and the
 * events it reports, appended in order by the rules that decide them.
 */
import { normalizeJid } from "./jid.ts";
import type {
  DropReason,
  Effects,
  Outcome,
  PlacementKind,
  RefusalReason,
} from "./router_events.ts";
import { errorReply, type StanzaError } from "./stanza.ts";
import type { XmlElement } from "./xml.ts";

/** Nothing to send, nothing happened (yet). */
export function effects(): Effects {
  return { send: [], events: [] };
}

/** Drops a stanza without an answer, and says why. */
export function drop(fx: Effects, reason: DropReason, stanza: XmlElement): Effects {
  const { from, to, id } = stanza.attrs;
  fx.events.push({ type: "dropped", reason, stanza: stanza.name, from, to, id });
  return fx;
}

/** Answers a stanza with an error from the address it was sent to, and says why. */
export function refuse(
  fx: Effects,
  stanza: XmlElement,
  error: StanzaError,
  reason: RefusalReason,
): void {
  const { from, to, id } = stanza.attrs as { from: string; to: string; id?: string };
  // From our domain as the server knows it, whatever case the `to` had:
  // the server checks the `from` of everything we send.
  fx.send.push(errorReply(stanza.name, { to: from, from: normalizeJid(to), id }, error));
  fx.events.push({
    type: "refused",
    reason,
    condition: error.condition,
    stanza: stanza.name,
    from,
  });
}

/** Reports how a request ended (and, with `affinity` on, how it was placed). */
export function outcome(
  fx: Effects,
  what: Outcome,
  requester: string,
  id: string | undefined,
  durationMs: number,
  placement?: PlacementKind,
): void {
  fx.events.push(
    placement === undefined
      ? { type: "outcome", outcome: what, requester, id, durationMs }
      : { type: "outcome", outcome: what, requester, id, durationMs, placement },
  );
}

/** Reports a message passed on from `from` to `to`. */
export function passed(fx: Effects, message: XmlElement, from: string, to: string): void {
  fx.events.push({ type: "passed", stanza: "message", from, to, id: message.attrs.id });
}

/** The earlier of two optional times. */
export function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  return b === undefined || a < b ? a : b;
}

/**
 * Self-pings: XEP-0199 pings from the component's domain to itself, which
 * the server routes back to one of the domain's connections. A ping's id
 * names the instance that sent it and since when its stream is up, and an
 * answer names who answered: the keepalive sends them, and one of another
 * instance arriving here shows a sibling serving the same domain. Each
 * ping and answer carries a proof (proof.ts) on its `<ping/>` child, over
 * its type, id and signature: only an instance holding the secret makes one.
 */
import { serialize, xml, type XmlElement } from "../core/xml.ts";
import type { Proof, Verdict } from "./proof.ts";

const NS_PING = "urn:xmpp:ping";
/** `cp-ping-<instance>-<since>-<count>`; an answer's `by` is the same without the count. */
const PING_ID = /^cp-ping-([0-9a-f]+)-(\d+)-\d*$/;

/** An instance of the proxy, and since when its stream is up (ms since the epoch). */
export interface Instance {
  readonly id: string;
  readonly since: number;
}

/** A self-ping, its answer or its bounce, as it arrived. */
export interface SelfPing {
  /** "get" (a ping), "result" (an answer) or "error" (a bounce: the server could not deliver it). */
  readonly type: string | undefined;
  readonly id: string;
  /** An answer's signature: the answering stream's id prefix. */
  readonly by: string | undefined;
  /** Whether it is a ping to answer (a get with its ping child). */
  readonly asks: boolean;
  /** What its proof shows; a bounce's is never checked ("missing"): nothing is taken from it. */
  readonly verdict: Verdict;
}

/** Checks a proof of `fields` (a Prover's check, proof.ts, at the time of arrival). */
export type CheckProof = (fields: readonly string[], proof: Partial<Proof>) => Verdict;

/** The start of every self-ping id that a stream of `self` sends; a count follows. */
export function pingPrefix(self: Instance): string {
  return `cp-ping-${self.id}-${self.since}-`;
}

/** The instance that a self-ping id, or an answer's `by`, names; undefined for any other text. */
export function pingSender(mark: string | undefined): Instance | undefined {
  const match = mark === undefined ? null : PING_ID.exec(mark);
  return match ? { id: match[1], since: Number(match[2]) } : undefined;
}

/** What the proof of a ping (`by` undefined) or an answer covers. */
export function pingFields(type: "get" | "result", id: string, by: string | undefined): string[] {
  return ["ping", type, id, by ?? ""];
}

/** A self-ping, with its proof, as text for the stream. */
export function pingText(domain: string, id: string, proof: Proof): string {
  return serialize(
    xml(
      "iq",
      { type: "get", id, from: domain, to: domain },
      xml("ping", { xmlns: NS_PING, ...proof }),
    ),
  );
}

/**
 * The answer to the self-ping `id`, signed `by` the answering stream (it
 * may reach another connection), with its proof.
 */
export function answerText(domain: string, id: string, by: string, proof: Proof): string {
  return serialize(
    xml(
      "iq",
      { type: "result", id, from: domain, to: domain },
      xml("ping", { xmlns: NS_PING, by, ...proof }),
    ),
  );
}

/**
 * `el` as a self-ping, answer or bounce (any iq from our domain to
 * itself), its proof checked with `check`; else undefined.
 */
export function readSelfPing(
  el: XmlElement,
  domain: string,
  check: CheckProof,
): SelfPing | undefined {
  if (el.name !== "iq" || el.attrs.from !== domain || el.attrs.to !== domain) return undefined;
  const type = el.attrs.type;
  const id = el.attrs.id ?? "";
  const ping = el.getChild("ping", NS_PING);
  const by = ping?.attrs.by;
  const asks = type === "get" && !!ping;
  if (type !== "get" && type !== "result" || !ping) {
    return { type, id, by, asks, verdict: "missing" };
  }
  const { t, nonce, mac } = ping.attrs;
  return { type, id, by, asks, verdict: check(pingFields(type, id, by), { t, nonce, mac }) };
}

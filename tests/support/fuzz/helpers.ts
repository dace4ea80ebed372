/**
 * Small helpers on JIDs, text and stanzas that the fuzzer's model and runner
 * share. Written here rather than imported from src/, so that the model
 * stays an independent judge of the router.
 */
import { serialize, type XmlElement } from "../../../src/core/xml.ts";

export const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
const MAX_PART_BYTES = 1023;

export function bareOf(jid: string): string {
  const slash = jid.indexOf("/");
  return slash < 0 ? jid : jid.slice(0, slash);
}

/**
 * A JID as the server stamps it: the bare part in its one spelling (see
 * {@link spelledAsServer}), the resource in compatibility form.
 */
export function normalize(jid: string): string {
  const slash = jid.indexOf("/");
  if (slash < 0) return spelledAsServer(jid);
  const resource = jid.slice(slash + 1).replace(NOTHING, "").normalize("NFKC");
  return `${spelledAsServer(jid.slice(0, slash))}/${resource}`;
}

export function domainOf(jid: string): string {
  const bare = bareOf(jid).toLowerCase();
  return bare.slice(bare.indexOf("@") + 1);
}

/** The address a refusal comes from: the `to` it answers, with our domain as configured. */
export function ourSpelling(to: string | undefined): string | undefined {
  if (to === undefined) return undefined;
  const slash = to.indexOf("/");
  return slash < 0 ? to.toLowerCase() : to.slice(0, slash).toLowerCase() + to.slice(slash);
}

const encoder = new TextEncoder();

/** Whether a requester's JID fits a resourcepart (1023 bytes). */
export function fitsResource(jid: string): boolean {
  return jid.length <= MAX_PART_BYTES && encoder.encode(jid).length <= MAX_PART_BYTES;
}

/** The defined condition of an error stanza (RFC 6120 §8.3.3), if any. */
export function conditionOf(el: XmlElement): string | undefined {
  const error = el.getChild("error");
  const child = error?.children.find((c): c is XmlElement =>
    typeof c !== "string" && c.attrs.xmlns === STANZAS && c.name !== "text"
  );
  return child?.name;
}

export function isResult(el: XmlElement): boolean {
  return el.name === "iq" && el.attrs.type === "result";
}

/**
 * Whether `a` carries `b`'s payload: the very same children (built
 * stanzas), or the same content text (stanzas read from the wire, whose
 * children are parsed apart for each copy).
 */
export function samePayload(a: XmlElement, b: XmlElement): boolean {
  if (a.children === b.children) return true;
  const text = (el: XmlElement) => el.children.map((child) => serialize(child)).join("");
  return text(a) === text(b);
}

export function earliest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined || a < b ? a : b;
}

export function short(text: string | undefined): string {
  if (text === undefined) return "undefined";
  return text.length > 120 ? `${text.slice(0, 80)}…(${text.length} chars)` : text;
}

export function show(el: XmlElement): string {
  return short(el.toString()).replace(/[\t\n\r]/g, (c) => JSON.stringify(c).slice(1, -1));
}

/** A small seeded PRNG for the router's `random`: uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  const bits = mulberry32Bits(seed);
  return () => bits() / 4294967296;
}

/** The same PRNG's 32-bit unsigned integers, for the router's `randomBits`. */
export function mulberry32Bits(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/**
 * One spelling per address, written for this model: NFKC, case folded
 * through upper case (ß is ss), IDNA labels in their ASCII form by the
 * URL parser, no trailing dot. A domain the URL parser refuses is
 * compared as written.
 */
export function spelledAsServer(bare: string): string {
  const at = bare.indexOf("@");
  const local = at < 0 ? "" : `${fold(bare.slice(0, at))}@`;
  const written = bare.slice(at + 1);
  return local + (domainAsServer(written) ?? written.toLowerCase());
}

/** A domain in the one spelling of {@link spelledAsServer}, or undefined if no server routes it. */
export function domainAsServer(domain: string): string | undefined {
  if (domain.startsWith("[")) return domain.endsWith("]") ? domain.toLowerCase() : undefined;
  const text = fold(domain).replace(/[\u3002\uff0e\uff61]/g, ".").replace(/\.$/, "");
  // An empty label, but for the root's after the last dot, is no domain.
  if (text === "" || /^\.|\.\.|\.$/.test(text)) return undefined;
  // The URL parser would read an all-ASCII name such as "6" as IPv4.
  // deno-lint-ignore no-control-regex
  if (/^[\x00-\x7f]*$/.test(text) && !text.includes("xn--")) return text;
  if (/[\s%:/?#@\[\]\\]/.test(text)) return undefined;
  try {
    return new URL(`http://${text}/`).hostname;
  } catch {
    return undefined;
  }
}

/** Stringprep's table B.1: characters every profile maps to nothing. */
const NOTHING = /[\u00ad\u034f\u1806\u180b-\u180d\u200b-\u200d\u2060\ufe00-\ufe0f\ufeff]/g;

function fold(text: string): string {
  return text.replace(NOTHING, "").normalize("NFKC").toUpperCase().toLowerCase().replaceAll(
    "\u03c2",
    "\u03c3",
  )
    .normalize("NFKC");
}

/**
 * Just enough JID handling for routing: split, bare, a plausibility check,
 * and preparation close to the server's (stringprep's nodeprep and nameprep,
 * RFC 3491/6122), so that an address compares equal to the form the server
 * will route it as: case folded (ß is ss), compatibility forms folded
 * (NFKC), the domain's trailing dot dropped and its labels in ASCII form
 * (IDNA A-labels and U-labels compare as one). The config holds the domains
 * and JIDs an operator writes to stricter checks ({@link isHostname},
 * {@link isBareJid}).
 */
import { utf8Length } from "./byte_length.ts";

/** The parts of a JID string, as written (no prepping). */
export interface JidParts {
  /** `local@domain` or `domain`, as written. */
  readonly bare: string;
  /** Text after the first `/`, or `undefined` when there is none. */
  readonly resource: string | undefined;
}

/** Splits `local@domain/resource` at the first `/` (RFC 7622 §3.1). */
export function splitJid(jid: string): JidParts {
  const slash = jid.indexOf("/");
  return slash < 0
    ? { bare: jid, resource: undefined }
    : { bare: jid.slice(0, slash), resource: jid.slice(slash + 1) };
}

// RFC 7622 §3.3.1: characters a localpart never has; whitespace and
// controls are never valid in a domainpart either.
// deno-lint-ignore no-control-regex
const BAD_LOCAL = /["&'/:<>@\s\x00-\x1f\x7f]/;
// deno-lint-ignore no-control-regex
const BAD_DOMAIN = /[\s\x00-\x1f\x7f@/"&'<>]/;
// deno-lint-ignore no-control-regex
const BAD_RESOURCE = /[\x00-\x1f\x7f]/;

/** Each part of a JID is limited to 1023 bytes (RFC 7622 §3.2-3.4). */
export const MAX_PART_BYTES = 1023;

/**
 * Whether `jid` is a plausible full or bare JID: non-empty parts, no
 * characters that prepping would reject outright, each part within
 * {@link MAX_PART_BYTES}. Used on addresses decoded from resources, which
 * nobody has prepped.
 */
export function isPlausibleJid(jid: string): boolean {
  const { bare, resource } = splitJid(jid);
  if (resource !== undefined) {
    if (resource === "" || BAD_RESOURCE.test(resource)) return false;
    if (utf8Length(resource) > MAX_PART_BYTES) return false;
  }
  const at = bare.indexOf("@");
  const domain = at < 0 ? bare : bare.slice(at + 1);
  if (at >= 0) {
    const local = bare.slice(0, at);
    if (local === "" || BAD_LOCAL.test(local)) return false;
    if (utf8Length(local) > MAX_PART_BYTES) return false;
  }
  if (domain === "" || domain.endsWith(".") && domain.length === 1) {
    return false;
  }
  return !BAD_DOMAIN.test(domain) && utf8Length(domain) <= MAX_PART_BYTES;
}

/**
 * The bare part of a JID, lowercase: how rate limits, stickiness and
 * subscribers key a user. The server stamps one spelling per address, and
 * this is the form stanzas go back to.
 */
export function bareOf(jid: string): string {
  // Cut the resource first: it may itself contain an `@`.
  const slash = jid.indexOf("/");
  return (slash < 0 ? jid : jid.slice(0, slash)).toLowerCase();
}

/**
 * A JID in the form the server stamps it: local and domain parts lowercase
 * (nodeprep and nameprep fold case; RFC 7622 §3.2-3.3), the resource as is.
 * The form our own `from` takes when we answer from the address written.
 */
export function normalizeJid(jid: string): string {
  const { bare, resource } = splitJid(jid);
  return resource === undefined ? bare.toLowerCase() : `${bare.toLowerCase()}/${resource}`;
}

/**
 * A JID prepared for comparison (see {@link prepBare}), so that an address a
 * client wrote matches the one the server stamps. Never sent: only compared.
 */
export function jidKey(jid: string): string {
  const { bare, resource } = splitJid(jid);
  // No JID (an empty localpart, say): still without what every profile maps to nothing.
  const prepped = prepBare(bare) ?? bare.replace(MAPPED_TO_NOTHING, "").toLowerCase();
  return resource === undefined ? prepped : `${prepped}/${prepResource(resource)}`;
}

/** The domain of a bare JID (`local@domain` or `domain`). */
export function domainOf(bare: string): string {
  return bare.slice(bare.indexOf("@") + 1);
}

/**
 * The prepared domain of a bare JID as {@link bareOf} gives it: what the
 * per-domain limits count by. On the hot path: a lowercase ASCII name
 * without a trailing dot, what a server stamps, is its own key.
 */
export function domainKey(bare: string): string {
  const domain = domainOf(bare);
  return isPlainName(domain) ? domain : prepDomain(domain) ?? domain;
}

/** Lowercase printable ASCII, not ending with a dot. */
function isPlainName(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || (c >= 0x41 && c <= 0x5a)) return false;
  }
  return text.length > 0 && text.charCodeAt(text.length - 1) !== 0x2e;
}

// deno-lint-ignore no-control-regex
const ASCII = /^[\x00-\x7f]*$/;
/** RFC 3454 B.1: mapped to nothing by nodeprep, nameprep and resourceprep. */
const MAPPED_TO_NOTHING =
  /[\u00ad\u034f\u1806\u180b-\u180d\u200b-\u200d\u2060\ufe00-\ufe0f\ufeff]/g;
/** IDNA's other label separators (RFC 3490 §3.1). */
const DOTS = /[\u3002\uff0e\uff61]/g;
/** Characters a URL would read as syntax around a host, which no IDN has. */
const NOT_IN_DOMAIN = /[\s%/?#:@[\]\\]/;

/** A bare JID prepared as the server would, or undefined when it cannot be. */
export function prepBare(bare: string): string | undefined {
  const at = bare.indexOf("@");
  const domain = prepDomain(at < 0 ? bare : bare.slice(at + 1));
  if (domain === undefined || at < 0) return domain;
  const local = prepLocal(bare.slice(0, at));
  return local === "" ? undefined : `${local}@${domain}`;
}

/**
 * A bare JID as a server stamps it on what it routes: the localpart as
 * nodeprep maps it, the domain lower-cased without its trailing dot. An
 * IDN keeps the form written (servers stamp the one they are configured
 * with); {@link prepBare} compares the two forms.
 */
export function stampedBare(bare: string): string {
  const at = bare.indexOf("@");
  let domain = at < 0 ? bare : bare.slice(at + 1);
  domain = ASCII.test(domain) ? domain.toLowerCase() : foldCase(domain.normalize("NFKC"));
  if (domain.endsWith(".")) domain = domain.slice(0, -1);
  return at < 0 ? domain : `${prepLocal(bare.slice(0, at))}@${domain}`;
}

/** A localpart as nodeprep maps it (case folded, ß is ss, NFKC). */
export function prepLocal(local: string): string {
  if (ASCII.test(local)) return local.toLowerCase();
  return foldCase(local.replace(MAPPED_TO_NOTHING, "").normalize("NFKC")).normalize("NFKC");
}

/** A resourcepart as resourceprep maps it: no case folding, NFKC. */
export function prepResource(resource: string): string {
  return ASCII.test(resource)
    ? resource
    : resource.replace(MAPPED_TO_NOTHING, "").normalize("NFKC");
}

/**
 * A domainpart as nameprep maps it, in ASCII (A-label) form, without a
 * trailing dot; undefined when it is no domain at all.
 */
export function prepDomain(domain: string): string | undefined {
  let text = domain;
  if (text.startsWith("[")) return text.endsWith("]") ? text.toLowerCase() : undefined;
  if (!ASCII.test(text)) {
    const mapped = foldCase(text.replace(MAPPED_TO_NOTHING, "").normalize("NFKC"));
    text = mapped.normalize("NFKC").replace(DOTS, ".");
  } else text = text.toLowerCase();
  if (text.endsWith(".")) text = text.slice(0, -1);
  // Only one trailing dot is the root's (RFC 7622 §3.2); any other empty label is no domain.
  if (text === "" || text.startsWith(".") || text.endsWith(".") || text.includes("..")) {
    return undefined;
  }
  if (ASCII.test(text) && !text.includes("xn--")) return text;
  if (NOT_IN_DOMAIN.test(text)) return undefined;
  try {
    // WHATWG URL's host parser is UTS #46: U-labels to A-labels, and
    // A-labels checked.
    return new URL(`http://${text}/`).hostname;
  } catch {
    return undefined;
  }
}

/** Case folding as stringprep's table B.2 does it, near enough. */
function foldCase(text: string): string {
  // Upper then lower folds ß to ss and ſ to s; B.2 maps final sigma too.
  return text.toUpperCase().toLowerCase().replaceAll("\u03c2", "\u03c3");
}

// The config's checks are stricter than isPlausibleJid: no C1 controls,
// separators, format characters (bidi controls, zero-width joiners) or private
// use in a localpart (nodeprep prohibits them, RFC 3920 Appendix A.5), and a
// domain made of DNS-style labels.
const CONFIG_BAD_LOCAL = /["&'/:<>@\s\p{Cc}\p{Cf}\p{Co}\p{Z}]/u;
// One label; Unicode letters allowed for IDNs.
const LABEL = /^[\p{L}\p{N}](?:[\p{L}\p{M}\p{N}_-]*[\p{L}\p{M}\p{N}])?$/u;

/**
 * A plausible host name: dot-separated labels of at most 63 characters,
 * none empty, within {@link MAX_PART_BYTES} (Prosody refuses longer parts).
 */
export function isHostname(text: string): boolean {
  if (text === "" || utf8Length(text) > MAX_PART_BYTES) return false;
  return text.split(".").every((label) => label.length <= 63 && LABEL.test(label));
}

/** `local@domain` with no resource, as an operator writes one. */
export function isBareJid(text: string): boolean {
  const at = text.indexOf("@");
  if (at <= 0 || text.includes("/")) return false;
  const local = text.slice(0, at);
  const domain = text.slice(at + 1);
  return !CONFIG_BAD_LOCAL.test(local) && utf8Length(local) <= MAX_PART_BYTES &&
    isHostname(domain);
}

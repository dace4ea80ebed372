/**
 * Just enough JID handling for routing: split, bare, and a plausibility
 * check. The server has already prepped every address it stamps (RFC 7622),
 * so no stringprep happens here; comparisons of bare JIDs are lowercase.
 * The config holds the domains and JIDs an operator writes to stricter
 * checks ({@link isHostname}, {@link isBareJid}).
 */

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

const encoder = new TextEncoder();

/** Byte length of a string in UTF-8. */
export function utf8Length(text: string): number {
  // Fast path: pure ASCII strings are as long as they look.
  // deno-lint-ignore no-control-regex
  return /^[\x00-\x7f]*$/.test(text) ? text.length : encoder.encode(text).length;
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
 * The bare part of a JID, lowercase: how access lists, rate limits,
 * stickiness and subscribers key a user.
 */
export function bareOf(jid: string): string {
  // Cut the resource first: it may itself contain an `@`.
  const slash = jid.indexOf("/");
  return (slash < 0 ? jid : jid.slice(0, slash)).toLowerCase();
}

/**
 * A JID in the form the server stamps it: local and domain parts lowercase
 * (nodeprep and nameprep fold case; RFC 7622 §3.2-3.3), the resource as is.
 * Used to match a reply's `from` against the address a request was sent to.
 */
export function normalizeJid(jid: string): string {
  const { bare, resource } = splitJid(jid);
  return resource === undefined ? bare.toLowerCase() : `${bare.toLowerCase()}/${resource}`;
}

// The config's checks are stricter than isPlausibleJid: no C1 controls or
// separators in a localpart, and a domain made of DNS-style labels.
const CONFIG_BAD_LOCAL = /["&'/:<>@\s\p{Cc}\p{Z}]/u;
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

/**
 * Who may use a proxy: `allow` / `deny` lists of address patterns compiled
 * into one predicate over the requester's bare JID.
 *
 * The patterns, prepared as the server prepares addresses (src/core/jid.ts:
 * case, ß and ss, full-width forms, IDNA A- and U-labels, a trailing dot):
 *
 * - `user@example.org`: exactly that account.
 * - `@example.org`: everything whose domainpart is exactly `example.org`:
 *   its users and the domain itself (the server, or a component of that
 *   name). Not its subdomains.
 * - `*.example.org`: everything on a strict subdomain of `example.org`
 *   (`muc.example.org`, `u@a.b.example.org`), but not `example.org` itself;
 *   list `@example.org` too to cover both.
 *
 * Deny wins over allow; an absent or empty allow list allows everyone not
 * denied. The config refuses `allow: []` because an operator writing it
 * might mean "nobody".
 */
import { prepBare, prepDomain, splitJid } from "./jid.ts";

/** Whether a requester (its bare JID) may use the proxy. */
export type AccessCheck = (requesterBareJid: string) => boolean;

/** A pattern, taken apart: which set it goes to and the text matched there. */
export type AccessPattern =
  | { readonly kind: "jid"; readonly jid: string }
  | { readonly kind: "domain"; readonly domain: string }
  | { readonly kind: "subdomains"; readonly parent: string };

/**
 * Classifies a pattern by its shape (src/config/values.ts validates the JID
 * or domain inside, with the same rules as every other address there), and
 * prepares its address as the server would prepare a requester's.
 *
 * @returns the prepared parts, or undefined when the text has none of the
 *   three shapes (`example.org`, `*`, `a@b@c`, `*.@x` …) or its address
 *   cannot be prepared
 */
export function classifyPattern(pattern: string): AccessPattern | undefined {
  if (pattern.startsWith("*.")) {
    const parent = pattern.slice(2);
    const prepped = /[@*/]/.test(parent) ? undefined : prepDomain(parent);
    return prepped === undefined ? undefined : { kind: "subdomains", parent: prepped };
  }
  if (pattern.startsWith("@")) {
    const domain = pattern.slice(1);
    const prepped = /[@*/]/.test(domain) ? undefined : prepDomain(domain);
    return prepped === undefined ? undefined : { kind: "domain", domain: prepped };
  }
  const at = pattern.indexOf("@");
  if (at <= 0 || at === pattern.length - 1 || pattern.indexOf("@", at + 1) >= 0) {
    return undefined;
  }
  const prepped = /[*/]/.test(pattern) ? undefined : prepBare(pattern);
  return prepped === undefined ? undefined : { kind: "jid", jid: prepped };
}

/**
 * Compiles allow and deny lists into one fast predicate: two Set lookups
 * plus one per dot in the requester's domain, whatever the list sizes.
 *
 * @param allow patterns allowed; `undefined` or empty allows everyone
 * @param deny patterns refused, even when also allowed; default none
 * @returns a predicate over a bare JID (`user@domain` or `domain`; a
 *   resource, if one is passed by mistake, is ignored), case-insensitive
 * @throws TypeError for a pattern of none of the three shapes
 */
export function compileAccess(
  allow: readonly string[] = [],
  deny: readonly string[] = [],
): AccessCheck {
  const allowed = compileList(allow, "allow");
  const denied = compileList(deny, "deny");
  const everyone = allow.length === 0;
  if (everyone && deny.length === 0) return () => true;
  return (requesterBareJid) => {
    const { bare, domain } = split(requesterBareJid);
    if (denied.matches(bare, domain)) return false;
    return everyone || allowed.matches(bare, domain);
  };
}

/** One list's patterns, sorted into the three lookup sets. */
interface CompiledList {
  matches(bare: string, domain: string): boolean;
}

function compileList(patterns: readonly string[], name: string): CompiledList {
  const jids = new Set<string>();
  const domains = new Set<string>();
  const parents = new Set<string>();
  for (const pattern of patterns) {
    const parsed = classifyPattern(pattern);
    switch (parsed?.kind) {
      case "jid":
        jids.add(parsed.jid);
        break;
      case "domain":
        domains.add(parsed.domain);
        break;
      case "subdomains":
        parents.add(parsed.parent);
        break;
      default:
        throw new TypeError(
          `${name}: expected a pattern like user@example.org, @example.org or *.example.org, got ${
            JSON.stringify(pattern)
          }`,
        );
    }
  }
  return {
    matches(bare, domain) {
      if (jids.has(bare) || domains.has(domain)) return true;
      if (parents.size === 0) return false;
      // Every proper suffix after a dot: a.b.example.org tries
      // b.example.org, example.org, org.
      for (let dot = domain.indexOf("."); dot >= 0; dot = domain.indexOf(".", dot + 1)) {
        if (parents.has(domain.slice(dot + 1))) return true;
      }
      return false;
    },
  };
}

/** Prepared bare JID and its domainpart. */
function split(jid: string): { bare: string; domain: string } {
  const written = splitJid(jid).bare;
  const bare = prepBare(written) ?? written.toLowerCase();
  const at = bare.indexOf("@");
  return { bare, domain: at < 0 ? bare : bare.slice(at + 1) };
}

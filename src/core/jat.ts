/**
 * Jabber Address Translation: how a requester's address is carried in the
 * resource of the component's JID, and read back from a reply's `to`.
 *
 * Wire format (mod_client_proxy's, which Jitsi's Jicofo parses): the
 * forwarded request is sent from `<domain>/<requester full JID, verbatim>`.
 *
 * Long addresses: when that resource would exceed the 1023-byte limit of a
 * resourcepart (RFC 7622 §3.4), the request is sent from
 * `<domain>//<token>` instead: a resource that starts with `/` can never be
 * a JID (its domain would be empty), so the two forms never collide. The
 * token is opaque and valid only while its request is pending, and never
 * repeats: a 64-bit prefix drawn once per run from a secure source
 * (src/core/run_prefix.ts), then a counter, so a late reply from before a
 * restart (or to another instance of the same domain) can match no request
 * of this run.
 */
import { domainOf, isPlausibleJid, MAX_PART_BYTES, prepDomain, splitJid } from "./jid.ts";
import { utf8Length } from "./byte_length.ts";
import { runPrefix } from "./run_prefix.ts";

/** The character that starts a long-address token resource. */
export const TOKEN_PREFIX = "/";

/** What a resource of the component's JID stands for. */
export type Translated =
  | { readonly kind: "jid"; readonly requester: string }
  | { readonly kind: "token"; readonly token: string }
  | { readonly kind: "invalid" };

/** Whether `requester` fits the mod_client_proxy form as a resourcepart. */
export function fitsResource(requester: string): boolean {
  // A UTF-16 code unit is at most 3 bytes of UTF-8: short strings fit
  // without counting.
  if (requester.length <= MAX_PART_BYTES / 3) return true;
  return requester.length <= MAX_PART_BYTES && utf8Length(requester) <= MAX_PART_BYTES;
}

/** Reads the resource of a reply's `to` back into what it stands for. */
export function decodeResource(resource: string): Translated {
  if (resource.startsWith(TOKEN_PREFIX)) {
    return resource.length > 1 ? { kind: "token", token: resource.slice(1) } : { kind: "invalid" };
  }
  return isPlausibleJid(resource) ? { kind: "jid", requester: resource } : { kind: "invalid" };
}

/**
 * The JID the target addresses through `<domain>/<JID>` (its own requests
 * and messages), or undefined when the resource is no JID, or names our
 * domain (or a user or resource of it) in any spelling the server would
 * route back to us: the proxy never sends to itself.
 */
export function peerAddress(toResource: string, domain: string): string | undefined {
  const translated = decodeResource(toResource);
  if (translated.kind !== "jid") return undefined;
  const bare = splitJid(translated.requester).bare;
  const theirs = prepDomain(domainOf(bare));
  return theirs === undefined || theirs === prepDomain(domain) ? undefined : translated.requester;
}

/** The long-address tokens of one run: see the module doc. */
export class Tokens {
  readonly #randomBits: () => number;
  #prefix: string | undefined;
  #next = 0;

  /**
   * @param randomBits uniform 32-bit unsigned integers from a source no
   *   other run can repeat; drawn from at the first token only
   */
  constructor(randomBits: () => number) {
    this.#randomBits = randomBits;
  }

  /** The next token, with {@link TOKEN_PREFIX}: `/<prefix><counter>`. */
  next(): string {
    // Drawn at the first use: a run that never needs a token draws nothing.
    this.#prefix ??= runPrefix(this.#randomBits);
    return TOKEN_PREFIX + this.#prefix + (this.#next++).toString(36);
  }
}

/**
 * A reload's new secret, tried before the running stream is given up for
 * it: a second connection authenticates with it and closes again, so that a
 * mistyped or not yet rotated secret fails the reload instead of the link.
 * Prosody checks the secret before it refuses a second connection for the
 * domain (`conflict`); ejabberd takes the second connection beside the
 * first, so what reaches it goes on to the serving instance, as for the
 * live check (src/link/guest.ts).
 */
import type { ProxyConfig } from "../config/types.ts";
import { requestError, type StanzaError } from "../core/stanza.ts";
import type { XmlElement } from "../core/xml.ts";
import { type Guest, GuestError, type GuestOptions, openGuest } from "../link/guest.ts";

/** What the server said of the new secret. */
export type SecretVerdict =
  /** `lostAtClose`: stanzas that reached the check's connection as it closed, and went nowhere. */
  | { readonly kind: "accepted"; readonly lostAtClose?: number }
  /** Refused with a stream error (`not-authorized`, `host-unknown`): the reload fails. */
  | { readonly kind: "refused"; readonly condition: string }
  /** No answer either way (unreachable, TLS): the reload goes on, as without the check. */
  | { readonly kind: "unknown"; readonly reason: string };

/** How long the check waits for the server, and for its stream to close. */
const CHECK_MS = 5_000;
const CLOSE_MS = 2_000;

/** What a request that reaches the check is answered with when no instance serves. */
const RECONNECTING: StanzaError = {
  type: "wait",
  condition: "service-unavailable",
  text: "the proxy is reconnecting with a new secret",
};

/**
 * Tries `next.secret` on `next.server` for `next.domain`, an instance
 * serving beside it proving with `current.secret`. Never rejects.
 */
export async function checkSecret(
  next: ProxyConfig,
  current: ProxyConfig,
  open: (options: GuestOptions) => Promise<Guest> = openGuest,
): Promise<SecretVerdict> {
  const { domain, server, secret, maxStanzaSize, tls } = next;
  let guest: Guest | undefined;
  try {
    guest = await open({
      url: server.url,
      domain,
      secret,
      proofSecret: current.secret,
      timeoutMs: CHECK_MS,
      maxStanzaSize,
      ...(tls ? { tls } : {}),
      handlers: {
        onStanza: () => false,
        onOrphan: (stanza) => orphan(guest, stanza, domain),
      },
    });
  } catch (error) {
    const condition = error instanceof GuestError ? error.condition : undefined;
    // Prosody checks the secret and the domain before it says a second connection is one too many.
    if (condition === "conflict") return { kind: "accepted" };
    if (condition !== undefined) return { kind: "refused", condition };
    return { kind: "unknown", reason: error instanceof Error ? error.message : String(error) };
  }
  // What reached it before it knows who serves goes on to the serving instance, if one shows.
  await guest.look;
  await guest.close(CLOSE_MS);
  return guest.lostAtClose > 0
    ? { kind: "accepted", lostAtClose: guest.lostAtClose }
    : { kind: "accepted" };
}

/** A request nobody else will see: answered, as the reconnect will be a moment away. */
function orphan(guest: Guest | undefined, stanza: XmlElement, domain: string): void {
  const answer = requestError(stanza, domain, RECONNECTING);
  if (answer) guest?.send(answer);
}

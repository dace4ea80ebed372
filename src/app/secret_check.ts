/**
 * A reload's new secret, tried before the running stream is given up for
 * it: a second connection authenticates with it and closes again, so that a
 * mistyped or not yet rotated secret fails the reload instead of the link.
 * Prosody checks the secret before it refuses a second connection for the
 * domain (`conflict`); ejabberd takes the second connection beside the
 * first, so what reaches it goes to the serving proxy: straight to it when it
 * runs in this process, else through the server, as for the live check
 * (src/link/guest.ts).
 */
import type { ProxyConfig } from "../config/types.ts";
import { requestError, type StanzaError } from "../core/stanza.ts";
import type { XmlElement } from "../core/xml.ts";
import { type Guest, GuestError, type GuestOptions, openGuest } from "../link/guest.ts";

/** What the server said of the new secret. */
export type SecretVerdict =
  /**
   * `lostAtClose`: stanzas that reached the check's connection as it closed,
   * and went nowhere; `siblings`: the instances that proved themselves beside
   * it (with the secret it proved with); `strangers`: those that proved
   * themselves with the old secret while it proved with the new. Each as
   * `[id, since]`, since when its stream is up.
   */
  | {
    readonly kind: "accepted";
    readonly lostAtClose?: number;
    readonly siblings?: readonly (readonly [string, number])[];
    readonly strangers?: readonly (readonly [string, number])[];
  }
  /** Refused with a stream error (`not-authorized`, `host-unknown`): the reload fails. */
  | { readonly kind: "refused"; readonly condition: string }
  /** No answer either way (unreachable, silent, TLS, another stream error): see judgeSecret. */
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
 * Tries `next.secret` on `next.server` for `next.domain`. An instance
 * serving beside it proves with `current.secret`, unless the server refuses
 * that one (`refused`: the running stream's secret is refused): then with
 * the new one, and one still holding the old is asked to show itself too.
 * `local`: the proxy of this process that serves the domain, if it does,
 * which takes what reaches the check (a relay through the server might come
 * back to the check as it closes, and be lost). `own`: that proxy's
 * instance id, whose showing (a look of it) ends no look. Never rejects.
 */
export async function checkSecret(
  next: ProxyConfig,
  current: ProxyConfig,
  refused: boolean,
  local?: (stanza: XmlElement) => void,
  own?: string,
  open: (options: GuestOptions) => Promise<Guest> = openGuest,
): Promise<SecretVerdict> {
  const { domain, server, secret, maxStanzaSize, tls } = next;
  let guest: Guest | undefined;
  try {
    guest = await open({
      url: server.url,
      domain,
      secret,
      ...(refused
        ? { proofSecret: secret, alsoPingWith: current.secret }
        : { proofSecret: current.secret }),
      timeoutMs: CHECK_MS,
      ...(own === undefined ? {} : { ownInstance: own }),
      maxStanzaSize,
      ...(tls ? { tls } : {}),
      handlers: {
        onStanza: (stanza) => {
          local?.(stanza);
          return local !== undefined;
        },
        onOrphan: (stanza) => orphan(guest, stanza, domain),
      },
    });
  } catch (error) {
    const condition = error instanceof GuestError ? error.condition : undefined;
    // Prosody checks the secret and the domain before it says a second connection is one too many.
    if (condition === "conflict") return { kind: "accepted" };
    if (condition !== undefined && REFUSALS.has(condition)) return { kind: "refused", condition };
    // Anything else (a server restarting, a silent one) says nothing about the secret.
    return { kind: "unknown", reason: error instanceof Error ? error.message : String(error) };
  }
  // What reached it before it knows who serves goes on to the serving instance, if one shows.
  await guest.look;
  await guest.close(CLOSE_MS);
  return {
    kind: "accepted",
    ...(guest.lostAtClose > 0 ? { lostAtClose: guest.lostAtClose } : {}),
    ...(guest.siblings.size > 0 ? { siblings: [...guest.siblings.entries()] } : {}),
    ...(guest.strangers.size > 0 ? { strangers: [...guest.strangers.entries()] } : {}),
  };
}

/** The stream errors that refuse a secret (or the domain it is for). */
const REFUSALS: ReadonlySet<string> = new Set(["not-authorized", "host-unknown"]);

/** A request nobody else will see: answered, as the reconnect will be a moment away. */
function orphan(guest: Guest | undefined, stanza: XmlElement, domain: string): void {
  const answer = requestError(stanza, domain, RECONNECTING);
  if (answer) guest?.send(answer);
}

/** Where a proxy's running stream stands, for {@link judgeSecret}. */
export interface StreamStanding {
  /** Authenticated (serving, or looking from standby). */
  readonly online: boolean;
  /** Its secret refused by the server. */
  readonly refused: boolean;
  /** The id it proves itself with to other instances. */
  readonly instance?: string;
  /** Since when its current stream is up (the older of two serves), if it has one. */
  readonly since?: number;
}

/** What a reload does with a secret's verdict: go on (saying what it must), or fail. */
export type SecretDecision =
  | {
    readonly kind: "go";
    readonly warning?: { readonly event: string; readonly fields: Record<string, unknown> };
  }
  | {
    readonly kind: "fail";
    readonly reason: "secret_refused" | "secret_untried" | "sibling_not_rotated";
    readonly message: string;
  };

/**
 * The reload's rule for one proxy's new secret. Pure. A stream that serves
 * is never given up for a secret that could not be tried; a standby does not
 * take a secret the instance it stands by for does not hold yet (the two would
 * not know each other's proofs, and both would serve).
 */
export function judgeSecret(
  domain: string,
  verdict: SecretVerdict,
  standing: StreamStanding,
): SecretDecision {
  switch (verdict.kind) {
    case "refused":
      return {
        kind: "fail",
        reason: "secret_refused",
        message: `the server refused the new secret of ${domain} (${verdict.condition}): the ` +
          "running stream keeps the old one",
      };
    case "unknown":
      if (standing.online) {
        return {
          kind: "fail",
          reason: "secret_untried",
          message: `the new secret of ${domain} could not be tried (${verdict.reason}): the ` +
            "running stream keeps the old one; send SIGHUP again",
        };
      }
      return {
        kind: "go",
        warning: {
          event: "config.secret_untried",
          fields: { domain, reason: verdict.reason, action: "reloading without trying it" },
        },
      };
    case "accepted": {
      // The trial proves with the old secret, or with the new one when the old is refused.
      const holdingOld = (standing.refused ? verdict.strangers : verdict.siblings) ?? [];
      // One older than our stream serves (ours is a look); a younger one is a standby's look.
      const serving = holdingOld.filter(([id, since]) =>
        id !== standing.instance && (standing.since === undefined || since < standing.since)
      );
      if (serving.length > 0) {
        return {
          kind: "fail",
          reason: "sibling_not_rotated",
          message: `another instance serves ${domain} with the old secret: reload it first, ` +
            "then this one",
        };
      }
      return verdict.lostAtClose
        ? {
          kind: "go",
          // XEP-0114 cannot ask the server to stop routing to a connection before it closes.
          warning: {
            event: "config.secret_tried",
            fields: { domain, lost_at_close: verdict.lostAtClose },
          },
        }
        : { kind: "go" };
    }
  }
}

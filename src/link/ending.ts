/**
 * Why a stream ended, in the operator's words: where the link stands then
 * (standing by, refused, offline), the log line that says so, and how long
 * the pause before the next stream is (backoff.ts). Pure: the link
 * (connection.ts) says it and carries it out.
 */
import type { Ending } from "./backoff.ts";
import { TlsFailure } from "./tls.ts";
import type { LinkState } from "./types.ts";

/** The failure that stands for "a sibling serves the domain". */
export const SIBLING = "sibling";

/**
 * Why each stream error is worth a clear word to the operator: the
 * credentials or domain refused (the live check says them too).
 */
export const HINTS: Readonly<Record<string, string>> = {
  // ejabberd also says not-authorized for a component domain it does not have.
  "not-authorized":
    "the server refused the secret or the domain: check the component's secret on both sides, " +
    "and that the server has a component with this domain",
  "host-unknown": "the server has no component with this domain: add it to the server's config",
};

/** Why a stream ended when the server took the connection and never opened a stream. */
export const NO_ANSWER = "no answer from the server";

/** What a server that takes the connection and says nothing may be. */
export const NO_ANSWER_HINT =
  "the server took the connection but opened no XMPP stream: check that this is its component " +
  "port (XEP-0114)";

/**
 * What a stream error that ends a stream already online means, where the
 * operator can do something about it.
 */
export const ONLINE_HINTS: Readonly<Record<string, string>> = {
  // Prosody with component_conflict_resolve = "kick_old" ends the older connection so.
  conflict: "a newer connection for this domain took it from this one: a server that hands a " +
    'domain to the newest connection (Prosody\'s component_conflict_resolve = "kick_old") makes ' +
    "two instances take it from each other in turn; leave that setting at its default",
};

/** A stream's end: why (`failure`, undefined: closed cleanly), and the error that said it. */
export interface StreamEnd {
  readonly failure: string | undefined;
  readonly error?: unknown;
}

/** What the link says and does about a stream's end. */
export interface EndReport {
  readonly state: Exclude<LinkState, "connecting" | "online" | "stopped">;
  /** The log line, if one is due. */
  readonly line?: {
    readonly level: "info" | "warning" | "error";
    readonly event: string;
    readonly fields: Record<string, unknown>;
  };
  /** Whether the owner hears of it as a stream error (counted). */
  readonly streamError: boolean;
}

/** Where the link is, what it needs to say a TLS failure: its url and the name checked. */
export interface EndContext {
  readonly domain: string;
  readonly url: string;
  readonly serverName: string;
}

/**
 * What to say about the end of a stream, before a pause of `delayMs`;
 * `previous`: why the stream before it ended (a standby is said once).
 */
export function reportEnd(
  end: StreamEnd,
  previous: string | undefined,
  delayMs: number,
  context: EndContext,
): EndReport {
  const { failure, error } = end;
  const { domain } = context;
  const fields = { domain, reason: failure ?? "connection closed", retry_in_ms: delayMs };
  const streamError = failure !== undefined && failure !== SIBLING &&
    !(failure === "conflict" && previous === failure);
  if (failure === "conflict" || failure === SIBLING) {
    // Another instance serves the domain: wait for it to go away, and say
    // so once, not at every retry.
    const hint = "another connection serves this domain";
    return {
      state: "standby",
      ...(previous === failure
        ? {}
        : { line: { level: "info", event: "stream.standby", fields: { ...fields, hint } } }),
      streamError,
    };
  }
  if (error instanceof TlsFailure) {
    // A certificate or a port the operator has to fix: retried slowly.
    const { reason, hint, detail } = error;
    return {
      state: "refused",
      line: {
        level: "error",
        event: "stream.tls_failed",
        fields: {
          domain,
          server: context.url,
          server_name: context.serverName,
          reason,
          hint,
          detail,
          retry_in_ms: delayMs,
        },
      },
      streamError,
    };
  }
  if (failure !== undefined && HINTS[failure]) {
    return {
      state: "refused",
      line: {
        level: "error",
        event: "stream.refused",
        fields: { ...fields, hint: HINTS[failure] },
      },
      streamError,
    };
  }
  const hint = (error as { hint?: unknown } | undefined)?.hint ??
    (failure === NO_ANSWER ? NO_ANSWER_HINT : undefined);
  return {
    state: "offline",
    line: {
      level: "warning",
      event: "stream.offline",
      fields: typeof hint === "string" ? { ...fields, hint } : fields,
    },
    streamError,
  };
}

/** What a stream's end means for the wait before the next. */
export function ending(end: StreamEnd): Ending {
  const { failure, error } = end;
  if (failure === SIBLING) return "sibling";
  if (failure === "conflict") return "conflict";
  if (error instanceof TlsFailure) return "refused";
  return failure !== undefined && HINTS[failure] ? "refused" : "offline";
}

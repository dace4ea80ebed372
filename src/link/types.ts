/**
 * The link as its owner sees it: the {@link Link} interface, its options,
 * the handlers it calls and the states it reports. Opened by `openLink`
 * (connection.ts).
 */
import type { XmlElement } from "../core/xml.ts";
import type { Logger } from "../ops/log.ts";
import type { TlsOptions } from "./endpoint.ts";

/** What the stream tells its owner. */
/** `maxStanzaSize`'s default: 1 MB, as the config's. */
export const MAX_STANZA_SIZE = 1024 * 1024;

export interface LinkHandlers {
  /** A stanza arrived. */
  readonly onStanza: (stanza: XmlElement) => void;
  /**
   * The stream is authenticated and ready (again); `look`: it is a look from
   * standby, which serves only once it takes over (onTakeOver).
   */
  readonly onOnline: (look: boolean) => void;
  /** The stream went away; a reconnect follows unless stopped. */
  readonly onOffline: () => void;
  /** A connection attempt failed or the stream ended with this error (not repeated while standing by). */
  readonly onStreamError?: (condition: string) => void;
  /**
   * A sibling instance serves the domain and this one steps back: answer
   * what is held now; the stream closes right after.
   */
  readonly onHandOver?: () => void;
  /**
   * A look from standby found no sibling: this instance serves now. Called
   * before the stanzas the look held are handed on.
   */
  readonly onTakeOver?: () => void;
  /** A stanza the link dropped before the owner saw it (see {@link LinkDrop}), for counting. */
  readonly onDropped?: (reason: LinkDrop) => void;
}

/**
 * Why the link dropped a stanza: shaped like a relay or a sibling's
 * self-ping but without a proof that holds (or, for a relay, with no
 * sibling known to be connected).
 */
export type LinkDrop = "forged_relay" | "forged_ping";

/** The stream's timings and size limit: set at open, changed by {@link Link.retune}. */
export interface LinkTimings {
  /** Ping the server this often (ms) to notice a dead link; 0: never. Default: 30000. */
  readonly keepaliveMs?: number;
  /** A ping unanswered this long (ms) closes the link. Default: 10000. */
  readonly keepaliveTimeoutMs?: number;
  /** While another connection holds the domain, retry this often (ms). Default: 2000. */
  readonly standbyRetryMs?: number;
  /**
   * The largest stanza read, in bytes of UTF-8; a larger one is skipped and
   * handed on with its start tag only. Default: {@link MAX_STANZA_SIZE}.
   */
  readonly maxStanzaSize?: number;
  /**
   * Bytes written to the server and not yet taken by the socket above
   * which the link stops reading from it; if they do not drain within
   * `keepaliveTimeoutMs`, the link is dead. Default: 8 MB.
   */
  readonly maxSendBuffer?: number;
}

/** Options of `openLink`. */
export interface LinkOptions extends LinkTimings {
  /**
   * `xmpp://host:port` (plaintext) or `xmpps://host:port` (direct TLS) of
   * the server's component listener.
   */
  readonly url: string;
  /**
   * How an `xmpps://` server's certificate is checked. Default: against
   * the system's CAs, for the URL's host.
   */
  readonly tls?: TlsOptions;
  readonly domain: string;
  readonly secret: string;
  readonly log: Logger;
  readonly handlers: LinkHandlers;
  /**
   * Asked before each look from standby on a server that shares the domain
   * (ejabberd): while it says the sibling serves, no look. Default: none,
   * a look every 3 × `standbyRetryMs`.
   */
  readonly siblingServes?: () => Promise<boolean>;
  /** Uniform random numbers in [0, 1) for jitter. Default: `Math.random`. */
  readonly random?: () => number;
  /** Stanzas held while offline; the oldest are dropped beyond. Default: 10000. */
  readonly outboxLimit?: number;
  /** Characters held in the outbox at most; the oldest are dropped beyond. Default: 32 Mi. */
  readonly outboxChars?: number;
}

/** Where the stream stands, for readiness reports. */
export type LinkState = "connecting" | "online" | "offline" | "standby" | "refused" | "stopped";

/** The stream, as its owner uses it. */
export interface Link {
  /** Sends a stanza now, or as soon as the stream is back. */
  send(stanza: XmlElement): void;
  /** Where the stream stands. */
  readonly state: LinkState;
  /** The id its streams prove themselves with to other instances of the domain, if any. */
  readonly instance?: string;
  /** Since when its current stream is up (what other instances compare), if it has one. */
  readonly since?: number;
  /** Closes the stream (after what is queued) and stops reconnecting. */
  stop(): Promise<void>;
  /**
   * New timings (a reload), for the running stream: the keepalive restarts
   * at its new period, a new timeout applies from the next ping, a new
   * standby retry from the next wait, a new size limit from the next chunk,
   * a new send buffer limit from the next write.
   */
  retune(timings: LinkTimings): void;
}

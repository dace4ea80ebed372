/**
 * The component stream (XEP-0114) to the XMPP server, kept up for ever:
 * reconnects with exponential backoff and jitter, slowly when the server
 * refuses our credentials (the operator has to act), stands by while
 * another connection holds the domain, notices a silently dead link with
 * pings, and holds stanzas written while offline until it is back. Built on
 * `@xmpp/component-core` rather than `@xmpp/component`, whose automatic IQ
 * answering would reply a second time to every request.
 */
import { Component } from "@xmpp/component-core";
import type { Logger } from "./log.ts";
import { serialize, xml, type XmlElement } from "./xml.ts";

/** What the stream tells its owner. */
export interface LinkHandlers {
  /** A stanza arrived. */
  readonly onStanza: (stanza: XmlElement) => void;
  /** The stream is authenticated and ready (again). */
  readonly onOnline: () => void;
  /** The stream went away; a reconnect follows unless stopped. */
  readonly onOffline: () => void;
  /** A connection attempt failed or the stream ended with this error (not repeated while standing by). */
  readonly onStreamError?: (condition: string) => void;
}

/** Options of {@link openLink}. */
export interface LinkOptions {
  /** `xmpp://host:port` of the server's component listener. */
  readonly url: string;
  readonly domain: string;
  readonly secret: string;
  readonly log: Logger;
  readonly handlers: LinkHandlers;
  /** Ping the server this often (ms) to notice a dead link; 0: never. Default: 30000. */
  readonly keepaliveMs?: number;
  /** A ping unanswered this long (ms) closes the link. Default: 10000. */
  readonly keepaliveTimeoutMs?: number;
  /** While another connection holds the domain, retry this often (ms). Default: 2000. */
  readonly standbyRetryMs?: number;
  /** Uniform random numbers in [0, 1) for jitter. Default: `Math.random`. */
  readonly random?: () => number;
  /** Stanzas held while offline; the oldest are dropped beyond. Default: 10000. */
  readonly outboxLimit?: number;
}

/** Where the stream stands, for readiness reports. */
export type LinkState = "connecting" | "online" | "offline" | "standby" | "refused" | "stopped";

/** The stream, as its owner uses it. */
export interface Link {
  /** Sends a stanza now, or as soon as the stream is back. */
  send(stanza: XmlElement): void;
  /** Where the stream stands. */
  readonly state: LinkState;
  /** Closes the stream (after what is queued) and stops reconnecting. */
  stop(): Promise<void>;
}

/** The part of the xmpp.js entity this module uses. */
interface Entity {
  on(event: "stanza" | "open", listener: (el: XmlElement) => void): void;
  on(
    event: "error",
    listener: (error: Error & { condition?: string; code?: string }) => void,
  ): void;
  on(event: "disconnect", listener: () => void): void;
  start(): Promise<unknown>;
  stop(): Promise<unknown>;
  authenticate(id: string, secret: string): Promise<void>;
  write(text: string): Promise<void>;
  socket: { destroy(): void } | null;
}

const CONNECT_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 2_000;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;
/** Credentials the server refused are retried this slowly. */
const RETRY_REFUSED_MS = 30_000;
const NS_PING = "urn:xmpp:ping";

/** Why each stream error is worth a clear word to the operator. */
const HINTS: Readonly<Record<string, string>> = {
  "not-authorized": "the server refused the secret: check the component's secret on both sides",
  "host-unknown": "the server has no component with this domain: add it to the server's config",
};

/** Opens the stream and keeps it open until stopped. */
export function openLink(options: LinkOptions): Link {
  return new ComponentLink(options);
}

class ComponentLink implements Link {
  readonly #options: LinkOptions;
  readonly #random: () => number;
  readonly #outbox: string[] = [];
  /** Tells our own pings from a sibling's (another instance on the same domain). */
  readonly #instance = crypto.randomUUID().slice(0, 8);
  #entity: Entity | undefined;
  #state: LinkState = "connecting";
  #stopping = false;
  #wake: (() => void) | undefined;
  readonly #done: Promise<void>;

  constructor(options: LinkOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
    this.#done = this.#run();
  }

  get state(): LinkState {
    return this.#state;
  }

  send(stanza: XmlElement): void {
    this.#write(serialize(stanza));
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    const entity = this.#entity;
    const socket = entity?.socket;
    if (entity && this.#state === "online") {
      // Close the stream politely, but a server that does not answer must
      // not hold us: xmpp.js waits up to 2 × 2 s and may leave the socket.
      await Promise.race([entity.stop().catch(() => {}), sleep(STOP_TIMEOUT_MS)]);
    }
    socket?.destroy();
    await this.#done;
  }

  #write(text: string): void {
    if (this.#state === "online" && this.#entity) {
      this.#entity.write(text).catch(() => this.#hold(text));
    } else {
      this.#hold(text);
    }
  }

  #hold(text: string): void {
    const limit = this.#options.outboxLimit ?? 10_000;
    if (this.#outbox.length >= limit) {
      this.#outbox.shift();
      this.#options.log.warning("stream.outbox_full", { domain: this.#options.domain, limit });
    }
    this.#outbox.push(text);
  }

  async #run(): Promise<void> {
    const { log, domain, url } = this.#options;
    let attempt = 0;
    let previous: string | undefined;
    while (!this.#stopping) {
      if (previous !== "conflict") {
        log.info("stream.connecting", { domain, server: url, attempt: attempt + 1 });
      }
      let failure: string | undefined;
      try {
        const closed = await this.#connect();
        attempt = 0;
        await closed;
      } catch (error) {
        failure = describe(error);
      }
      if (this.#state === "online") this.#options.handlers.onOffline();
      this.#entity?.socket?.destroy();
      this.#entity = undefined;
      if (this.#stopping) break;
      const delay = this.#delay(failure, attempt++);
      const fields = { domain, reason: failure ?? "connection closed", retry_in_ms: delay };
      if (failure === "conflict") {
        // Another instance serves the domain: wait for it to go away, and
        // say so once, not at every retry.
        this.#state = "standby";
        if (previous !== "conflict") {
          log.info("stream.standby", { ...fields, hint: "another connection serves this domain" });
        }
      } else if (failure !== undefined && HINTS[failure]) {
        this.#state = "refused";
        log.error("stream.refused", { ...fields, hint: HINTS[failure] });
      } else {
        this.#state = "offline";
        log.warning("stream.offline", fields);
      }
      if (failure !== undefined && !(failure === "conflict" && previous === "conflict")) {
        this.#options.handlers.onStreamError?.(failure);
      }
      previous = failure;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
    this.#state = "stopped";
    log.info("stream.stopped", { domain });
  }

  /** Connects and authenticates; resolves with a promise of the stream's end. */
  async #connect(): Promise<Promise<void>> {
    const { url, domain, secret } = this.#options;
    const entity = new Component({ service: url, domain }) as unknown as Entity;
    this.#entity = entity;
    let lastError: unknown;
    const closed = new Promise<void>((resolve, reject) => {
      entity.on("disconnect", () => (lastError ? reject(lastError) : resolve()));
    });
    // Without an "error" listener the emitter would throw; xmpp.js emits
    // each stream error twice, so only the first one is kept.
    entity.on("error", (error) => (lastError ??= error));
    entity.on("open", (el) => {
      entity.authenticate(el.attrs.id ?? "", secret).catch((error) => (lastError ??= error));
    });
    const keepalive = new Keepalive(this.#options, this.#instance, {
      write: (text) => this.#write(text),
      dead: () => entity.socket?.destroy(),
    });
    entity.on("stanza", (el) => {
      if (!keepalive.intercept(el)) this.#options.handlers.onStanza(el);
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        entity.start(),
        closed.then(() => Promise.reject(lastError ?? new Error("connection closed"))),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error("no answer from the server")),
            CONNECT_TIMEOUT_MS,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    lastError = undefined;
    this.#state = "online";
    this.#options.log.info("stream.online", { domain });
    this.#options.handlers.onOnline();
    for (const text of this.#outbox.splice(0)) this.#write(text);
    keepalive.start();
    return closed.catch((error) => {
      const reason = describe(error);
      this.#options.log.warning("stream.error", { domain, reason });
      this.#options.handlers.onStreamError?.(reason);
    }).finally(() => keepalive.stop());
  }

  #delay(failure: string | undefined, attempt: number): number {
    if (failure === "conflict") return this.#options.standbyRetryMs ?? 2_000;
    if (failure !== undefined && HINTS[failure]) return RETRY_REFUSED_MS;
    const ceiling = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** attempt);
    // "Equal jitter": half fixed, half random, so instances spread out.
    return Math.round(ceiling / 2 + (this.#random() * ceiling) / 2);
  }
}

/** How the keepalive writes, and what it does on a dead link. */
interface KeepaliveIo {
  write(text: string): void;
  dead(): void;
}

/**
 * XEP-0199 pings from the domain to itself: the server routes them back to
 * us, so an answer proves the whole path works. A silently dead TCP link
 * (which xmpp.js never notices) shows as a ping left unanswered.
 */
class Keepalive {
  readonly #options: LinkOptions;
  readonly #prefix: string;
  readonly #io: KeepaliveIo;
  #interval: ReturnType<typeof setInterval> | undefined;
  #deadline: ReturnType<typeof setTimeout> | undefined;
  #count = 0;
  #waiting: string | undefined;

  constructor(options: LinkOptions, instance: string, io: KeepaliveIo) {
    this.#options = options;
    this.#prefix = `cp-ping-${instance}-`;
    this.#io = io;
  }

  start(): void {
    const every = this.#options.keepaliveMs ?? 30_000;
    if (every > 0) this.#interval = setInterval(() => this.#ping(), every);
  }

  stop(): void {
    clearInterval(this.#interval);
    clearTimeout(this.#deadline);
    this.#waiting = undefined;
  }

  /** Handles our own pings and their answers; false for every other stanza. */
  intercept(el: XmlElement): boolean {
    const { domain } = this.#options;
    if (el.name !== "iq" || el.attrs.from !== domain || el.attrs.to !== domain) return false;
    const id = el.attrs.id ?? "";
    if (el.attrs.type === "get" && el.getChild("ping", NS_PING)) {
      this.#io.write(serialize(xml("iq", { type: "result", id, from: domain, to: domain })));
    } else if (id === this.#waiting) {
      this.#waiting = undefined;
      clearTimeout(this.#deadline);
    }
    return true;
  }

  #ping(): void {
    if (this.#waiting !== undefined) return;
    const { domain, log } = this.#options;
    const id = this.#prefix + this.#count++;
    this.#waiting = id;
    this.#io.write(
      xml("iq", { type: "get", id, from: domain, to: domain }, xml("ping", { xmlns: NS_PING }))
        .toString(),
    );
    const timeoutMs = this.#options.keepaliveTimeoutMs ?? 10_000;
    this.#deadline = setTimeout(() => {
      log.warning("stream.dead_link", { domain, unanswered_ms: timeoutMs });
      this.stop();
      this.#io.dead();
    }, timeoutMs);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    // Let the process exit without waiting for this timer.
    Deno.unrefTimer(timer);
  });
}

function describe(error: unknown): string {
  if (error && typeof error === "object") {
    const { condition, code, message } = error as {
      condition?: string;
      code?: string;
      message?: string;
    };
    return condition ?? code ?? message ?? String(error);
  }
  return String(error);
}

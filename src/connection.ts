/**
 * The component stream (XEP-0114) to the XMPP server, kept up for ever:
 * reconnects with exponential backoff and jitter, slowly when the server
 * refuses our credentials (the operator has to act), and holds stanzas
 * written while offline until it is back. Built on `@xmpp/component-core`
 * rather than `@xmpp/component`, whose automatic IQ answering would reply
 * a second time to every request (see ../README.md "Design").
 */
import { Component } from "@xmpp/component-core";
import type { Logger } from "./log.ts";
import type { XmlElement } from "./xml.ts";

/** What the stream tells its owner. */
export interface LinkHandlers {
  /** A stanza arrived. */
  readonly onStanza: (stanza: XmlElement) => void;
  /** The stream is authenticated and ready (again). */
  readonly onOnline: () => void;
  /** The stream went away; a reconnect follows unless stopped. */
  readonly onOffline: () => void;
}

/** Options of {@link openLink}. */
export interface LinkOptions {
  /** `xmpp://host:port` of the server's component listener. */
  readonly url: string;
  readonly domain: string;
  readonly secret: string;
  readonly log: Logger;
  readonly handlers: LinkHandlers;
  /** Uniform random numbers in [0, 1) for jitter. Default: `Math.random`. */
  readonly random?: () => number;
  /** Stanzas held while offline; the oldest are dropped beyond. Default: 10000. */
  readonly outboxLimit?: number;
}

/** The stream, as its owner uses it. */
export interface Link {
  /** Sends a stanza now, or as soon as the stream is back. */
  send(stanza: XmlElement): void;
  /** Whether the stream is online. */
  readonly online: boolean;
  /** Closes the stream (waiting for the queue to be written) and stops reconnecting. */
  stop(): Promise<void>;
}

/** The part of the xmpp.js entity this module uses. */
interface Entity {
  readonly status: string;
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

/** Why each stream error is worth a clear word to the operator. */
const HINTS: Readonly<Record<string, string>> = {
  "not-authorized": "the server refused the secret: check the component's secret on both sides",
  "host-unknown": "the server has no component with this domain: add it to the server's config",
  "conflict": "another connection already serves this domain",
};

/** Opens the stream and keeps it open until stopped. */
export function openLink(options: LinkOptions): Link {
  return new ComponentLink(options);
}

class ComponentLink implements Link {
  readonly #options: LinkOptions;
  readonly #random: () => number;
  readonly #outbox: string[] = [];
  #entity: Entity | undefined;
  #online = false;
  #stopping = false;
  #wake: (() => void) | undefined;
  readonly #done: Promise<void>;

  constructor(options: LinkOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
    this.#done = this.#run();
  }

  get online(): boolean {
    return this.#online;
  }

  send(stanza: XmlElement): void {
    this.#write(stanza.toString());
  }

  #write(text: string): void {
    if (this.#online && this.#entity) {
      this.#entity.write(text).catch(() => this.#hold(text));
    } else {
      this.#hold(text);
    }
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    const entity = this.#entity;
    const socket = entity?.socket;
    if (entity && this.#online) {
      // Close the stream politely, but a server that does not answer must
      // not hold us: xmpp.js waits up to 2 × 2 s and may leave the socket.
      await Promise.race([
        entity.stop().catch(() => {}),
        new Promise((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS)),
      ]);
    }
    socket?.destroy();
    await this.#done;
  }

  #hold(text: string): void {
    const limit = this.#options.outboxLimit ?? 10_000;
    if (this.#outbox.length >= limit) {
      this.#outbox.shift();
      this.#options.log.warning("stream.outbox_full", {
        domain: this.#options.domain,
        limit,
      });
    }
    this.#outbox.push(text);
  }

  async #run(): Promise<void> {
    const { log, domain, url } = this.#options;
    let attempt = 0;
    while (!this.#stopping) {
      log.info("stream.connecting", {
        domain,
        server: url,
        attempt: attempt + 1,
      });
      let failure: string | undefined;
      try {
        const closed = await this.#connect();
        attempt = 0;
        await closed;
      } catch (error) {
        failure = describe(error);
      }
      if (this.#online) {
        this.#online = false;
        this.#options.handlers.onOffline();
      }
      this.#entity?.socket?.destroy();
      this.#entity = undefined;
      if (this.#stopping) break;
      const delay = this.#delay(failure, attempt++);
      const hint = failure === undefined ? undefined : HINTS[failure];
      const fields = {
        domain,
        reason: failure ?? "connection closed",
        retry_in_ms: delay,
        hint,
      };
      if (hint && failure !== "conflict") log.error("stream.refused", fields);
      else log.warning("stream.offline", fields);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
    this.#options.log.info("stream.stopped", { domain });
  }

  /** Connects and authenticates; resolves with a promise of the stream's end. */
  async #connect(): Promise<Promise<void>> {
    const { url, domain, secret, handlers } = this.#options;
    const entity = new Component({ service: url, domain }) as unknown as Entity;
    this.#entity = entity;
    let lastError: unknown;
    const closed = new Promise<void>((resolve, reject) => {
      entity.on(
        "disconnect",
        () => (lastError ? reject(lastError) : resolve()),
      );
    });
    // Without an "error" listener the emitter would throw; xmpp.js emits
    // each stream error twice, so only the first one is kept.
    entity.on("error", (error) => (lastError ??= error));
    entity.on("open", (el) => {
      entity.authenticate(el.attrs.id ?? "", secret).catch((
        error,
      ) => (lastError ??= error));
    });
    entity.on("stanza", handlers.onStanza);
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
    this.#online = true;
    this.#options.log.info("stream.online", { domain });
    handlers.onOnline();
    for (const text of this.#outbox.splice(0)) {
      this.send({ toString: () => text } as XmlElement);
    }
    return closed.catch((error) => {
      this.#options.log.warning("stream.error", {
        domain,
        reason: describe(error),
      });
    });
  }

  #delay(failure: string | undefined, attempt: number): number {
    if (failure === "not-authorized" || failure === "host-unknown") {
      return RETRY_REFUSED_MS;
    }
    const ceiling = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** attempt);
    // "Equal jitter": half fixed, half random, so instances spread out.
    return Math.round(ceiling / 2 + (this.#random() * ceiling) / 2);
  }
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

/**
 * One component stream (XEP-0114) through xmpp.js: `@xmpp/component-core`'s
 * entity (the handshake and the stream) behind a small typed interface,
 * on our own socket (transport.ts: Deno's TCP or TLS, no Node streams)
 * and our stream parser (stream_parser.ts), both given to xmpp.js through
 * the connection class's own choices (`Socket`, `Parser`,
 * `socketParameters`). Built on component-core rather than
 * `@xmpp/component`, whose automatic IQ answering would reply a second
 * time to every request.
 */
import { Component } from "@xmpp/component-core";
import type { XmlElement } from "../core/xml.ts";
import type { Endpoint } from "./endpoint.ts";
import { NO_ANSWER } from "./ending.ts";
import { parserWith } from "./stream_parser.ts";
import { type SendLimits, type Transport, transportFor } from "./transport.ts";
import { wait } from "./wait.ts";

/** Connecting and authenticating takes this long at most. */
const CONNECT_TIMEOUT_MS = 10_000;

/** The part of the xmpp.js entity used here. */
interface Entity {
  on(event: "stanza" | "open", listener: (el: XmlElement) => void): void;
  on(
    event: "error",
    listener: (error: Error & { condition?: string; code?: string }) => void,
  ): void;
  on(event: "disconnect", listener: () => void): void;
  once(event: "online", listener: () => void): void;
  once(event: "error", listener: (error: Error) => void): void;
  connect(service: string): Promise<unknown>;
  open(options: { domain: string }): Promise<unknown>;
  stop(): Promise<unknown>;
  authenticate(id: string, secret: string): Promise<void>;
  write(text: string): Promise<void>;
  /** The socket class each connection instantiates. */
  Socket: new () => unknown;
  /** The parser class each stream opening instantiates. */
  Parser: new () => unknown;
  /** What the socket's `connect` is given for the service URL. */
  socketParameters(service: string): unknown;
}

/** Options of {@link XmppStream}. */
export interface XmppStreamOptions {
  /** `xmpp://host:port` or `xmpps://host:port` of the server's component listener. */
  readonly url: string;
  /** Where it is, and how its TLS is checked. */
  readonly endpoint: Endpoint;
  readonly domain: string;
  readonly secret: string;
  /** The size limit of a stanza, read at each chunk (see the scanner). */
  readonly maxStanza: () => number;
  /** The send buffer's limits (see transport.ts). */
  readonly sendLimits: () => SendLimits;
  /** Reading stopped until the send buffer drains (see transport.ts). */
  readonly onPaused?: (buffered: number) => void;
  /** A stanza arrived. */
  readonly onStanza: (stanza: XmlElement) => void;
}

/** A component stream: opened once, closed once. */
export class XmppStream {
  readonly #options: XmppStreamOptions;
  readonly #entity: Entity;
  /** The connection's socket, once xmpp.js made it. */
  #socket: Transport | undefined;
  /** The first error since the stream was opened, or since it came online. */
  #lastError: unknown;
  /** Resolves when the connection is gone; rejects with the error that ended it. */
  readonly closed: Promise<void>;

  constructor(options: XmppStreamOptions) {
    this.#options = options;
    const { url, domain, endpoint } = options;
    const entity = this.#entity = new Component({ service: url, domain }) as unknown as Entity;
    entity.Socket = transportFor({
      endpoint,
      limits: options.sendLimits,
      paused: options.onPaused,
      created: (socket) => (this.#socket = socket),
    });
    entity.socketParameters = () => endpoint;
    // Stanzas are routed by their start tag: no tree for their payload.
    // After bad XML or the server's </stream:stream>, xmpp.js drops its
    // parser: what the socket reads then is not handed on.
    entity.Parser = parserWith(options.maxStanza, () => this.#socket?.mute());
    this.closed = new Promise<void>((resolve, reject) => {
      entity.on("disconnect", () => (this.#lastError ? reject(this.#lastError) : resolve()));
    });
    // Without an "error" listener the emitter would throw; xmpp.js emits
    // each stream error twice, so only the first one is kept.
    entity.on("error", (error) => (this.#lastError ??= error));
    entity.on("open", (el) => {
      entity.authenticate(el.attrs.id ?? "", options.secret)
        .catch((error) => (this.#lastError ??= error));
    });
    entity.on("stanza", options.onStanza);
  }

  /** Bytes written and not yet taken by the socket. */
  get buffered(): number {
    return this.#socket?.buffered ?? 0;
  }

  /** A mark after everything written so far, for {@link taken}. */
  mark(): number {
    return this.#socket?.written ?? 0;
  }

  /** Whether the socket has taken everything written up to `mark`. */
  taken(mark: number): boolean {
    return this.#socket?.takenUpTo(mark) ?? false;
  }

  /** Connects and authenticates; rejects with why not, or when the server is silent for 10 s. */
  async open(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        start(this.#entity, this.#options.url, this.#options.domain),
        this.closed.then(() => Promise.reject(this.#lastError ?? new Error("connection closed"))),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(NO_ANSWER)),
            CONNECT_TIMEOUT_MS,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    // Reported already, by the rejection: the stream's end reports its own.
    this.#lastError = undefined;
  }

  write(text: string): Promise<void> {
    return this.#entity.write(text);
  }

  /** Closes the stream politely; drops the connection if that fails. */
  close(): void {
    this.#entity.stop().catch(() => this.drop());
  }

  /**
   * Closes the stream politely, but a server that does not answer must not
   * hold us: xmpp.js waits up to 2 × 2 s and may leave the socket. After
   * `ms` at most, the connection is dropped.
   */
  async closeWithin(ms: number): Promise<void> {
    const socket = this.#socket;
    const limit = wait(ms, { unref: true });
    await Promise.race([this.#entity.stop().catch(() => {}), limit.done]);
    limit.cancel();
    socket?.destroy();
  }

  /** Drops the connection, without a word to the server. */
  drop(): void {
    this.#socket?.destroy();
  }
}

/**
 * xmpp.js's `start()`, without its flaw: it creates a promise of "online"
 * and then awaits the stream header, and when the server resets the
 * connection or answers with something that is no XMPP before the header,
 * that promise rejects with nobody awaiting it. In Deno an unhandled
 * rejection ends the process, and every proxy with it.
 */
async function start(entity: Entity, service: string, domain: string): Promise<void> {
  const online = new Promise<void>((resolve, reject) => {
    entity.once("online", resolve);
    entity.once("error", reject);
  });
  // Rejected together with connect() or open() below, which report it.
  online.catch(() => {});
  await entity.connect(service);
  await entity.open({ domain });
  await online;
}

/** What an xmpp.js error says: its stream error condition, its code, or its message. */
export function describe(error: unknown): string {
  if (error && typeof error === "object") {
    const { condition, code, message, name } = error as {
      condition?: string;
      code?: string;
      message?: string;
      name?: string;
    };
    // xmpp.js's wait for the stream's header ends in a TimeoutError without a message.
    if (!condition && !code && !message && name === "TimeoutError") return NO_ANSWER;
    return condition || code || message || String(error);
  }
  return String(error);
}

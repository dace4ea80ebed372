/**
 * The stream's socket, on Deno's own TCP and TLS: what xmpp.js's connection
 * calls a `Socket` (connect, write, end, destroy; "connect", "data",
 * "error" and "close" events), without Node's stream layer. Reads go from
 * the bytes to text in one decoder (a character cut between two reads is
 * joined) and on to the stream's parser; writes are queued and go out one
 * at a time, each as soon as the last is taken by the socket.
 *
 * Backpressure: when the bytes written and not yet taken pass the limit,
 * reading stops (a server that sends and does not read is not fed more
 * work) until half of them drained; if they do not within the stall time,
 * the socket fails with {@link SendStalled}. Past half the limit, what was
 * read is handed on in slices, so that the stop comes within a read.
 */
import { EventEmitter } from "node:events";
import type { Endpoint } from "./endpoint.ts";
import { startTls, TlsFailure } from "./tls.ts";

/** Bytes read at once at most. */
const READ_SIZE = 64 * 1024;
/** Characters handed on at once while the send buffer is past half its limit. */
const SLICE = 4 * 1024;

const encoder = new TextEncoder();

/** The send buffer's limits, read as they are needed (a reload may change them). */
export interface SendLimits {
  /** Bytes written and not yet taken above which reading stops. */
  readonly maxBuffered: number;
  /** How long they may stay above it (ms) before the socket fails. */
  readonly stallMs: number;
}

/** Options of {@link transportFor}. */
export interface TransportOptions {
  readonly endpoint: Endpoint;
  readonly limits: () => SendLimits;
  /** Reading stopped: `buffered` bytes wait to be taken. */
  readonly paused?: (buffered: number) => void;
  /** The socket xmpp.js made, for its owner. */
  readonly created?: (socket: Transport) => void;
}

/** The socket failed because the server took nothing for too long. */
export class SendStalled extends Error {
  readonly code = "send-stalled";

  constructor(readonly buffered: number, readonly limit: number, readonly stalledMs: number) {
    super(`the server took no data for ${stalledMs} ms (${buffered} bytes waiting)`);
    this.name = "SendStalled";
  }
}

/** The server answered a plaintext stream with TLS. */
export class TlsExpected extends TlsFailure {
  constructor() {
    super(
      "the server speaks TLS on this port",
      "use xmpps:// (and tls_ca if its certificate is not from a public CA)",
      "a TLS record where the stream header was expected",
    );
  }
}

/**
 * A plaintext connection the server ended (closed or reset) before it sent
 * a byte: what a TLS port does with a plaintext stream.
 */
export class NoStream extends Error {
  readonly hint = "if this port speaks TLS (ejabberd's tls: true, Prosody's ssl_ports), " +
    "use xmpps://";

  constructor(how: string) {
    super(`the server ${how} the connection before its stream began`);
    this.name = "NoStream";
  }
}

/** A write waiting for the socket, and who wants to know when it is taken. */
interface Queued {
  readonly bytes: Uint8Array;
  readonly done?: (error?: Error) => void;
}

/** The socket class xmpp.js instantiates (without arguments) for one stream. */
export function transportFor(options: TransportOptions): new () => Transport {
  return class extends Transport {
    constructor() {
      super(options);
      options.created?.(this);
    }
  };
}

/** One connection to the server, as xmpp.js's connection uses a socket. */
export class Transport extends EventEmitter {
  readonly #options: TransportOptions;
  #conn: Deno.Conn | undefined;
  #queue: Queued[] = [];
  #writing = false;
  #ending = false;
  #destroyed = false;
  #closed = false;
  /** Data is no longer handed on (the stream's parser is done). */
  #muted = false;
  /** While set, reading waits for it. */
  #paused: PromiseWithResolvers<void> | undefined;
  #stallTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bytes written in all, taken by the socket in all. */
  #written = 0;
  #taken = 0;

  constructor(options: TransportOptions) {
    super();
    this.#options = options;
  }

  /** Bytes written and not yet taken by the socket. */
  get buffered(): number {
    return this.#written - this.#taken;
  }

  /** Bytes written since the connection opened (a mark for {@link takenUpTo}). */
  get written(): number {
    return this.#written;
  }

  /** Whether the socket has taken everything written up to `mark`. */
  takenUpTo(mark: number): boolean {
    return this.#taken >= mark;
  }

  /** Connects (xmpp.js passes what `socketParameters` returned: the endpoint). */
  connect(endpoint: Endpoint = this.#options.endpoint): void {
    this.#open(endpoint).catch((error) => this.#fail(error));
  }

  /** Queues `text`; `done` is called once the socket took it, or with the error that lost it. */
  write(text: string, done?: (error?: Error) => void): boolean {
    if (this.#destroyed || this.#ending || !this.#conn) {
      done?.(new Error("the connection is closed"));
      return false;
    }
    const bytes = encoder.encode(text);
    this.#queue.push({ bytes, done });
    this.#written += bytes.length;
    this.#checkFull();
    if (!this.#writing) this.#pump(this.#conn);
    return true;
  }

  /** Closes our side once what is queued went out; the socket closes when the server's does. */
  end(): void {
    if (this.#ending || this.#destroyed) return;
    this.#ending = true;
    if (!this.#writing) this.#closeWrite();
  }

  /** Closes the connection now; what is queued is lost (and said so to its writers). */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#resume();
    clearTimeout(this.#stallTimer);
    this.#failQueued(new Error("the connection was closed"));
    const conn = this.#conn;
    if (conn) closeQuietly(conn);
    // Without a connection there is no read to end: say it here.
    else queueMicrotask(() => this.#close(false));
  }

  /** Stops handing data on: the stream's parser is done with this connection. */
  mute(): void {
    this.#muted = true;
  }

  async #open(endpoint: Endpoint): Promise<void> {
    const tcp = await Deno.connect({ hostname: endpoint.host, port: endpoint.port });
    // Writes are batched per event-loop turn already; Nagle would only add delay.
    tcp.setNoDelay(true);
    const conn = endpoint.tls ? await startTls(tcp, endpoint.tls) : tcp;
    if (this.#destroyed) return closeQuietly(conn);
    this.#conn = conn;
    this.emit("connect");
    this.#read(conn, !endpoint.tls);
  }

  async #read(conn: Deno.Conn, plaintext: boolean): Promise<void> {
    const buffer = new Uint8Array(READ_SIZE);
    const decoder = new TextDecoder();
    let first = plaintext;
    let failed = false;
    try {
      while (!this.#destroyed) {
        if (this.#paused) await this.#paused.promise;
        const n = await readOrReset(conn, buffer, first);
        if (n === null) {
          if (first && !this.#destroyed) throw new NoStream("closed");
          break;
        }
        // A TLS record (handshake or alert) where the stream should start.
        if (first && n >= 2 && (buffer[0] === 0x15 || buffer[0] === 0x16) && buffer[1] === 3) {
          throw new TlsExpected();
        }
        first = false;
        const text = decoder.decode(buffer.subarray(0, n), { stream: true });
        if (this.#muted || text === "" || this.#destroyed) continue;
        // Near the limit, a read is handed on piece by piece, so that what
        // its stanzas make us write can stop it midway.
        if (this.buffered <= this.#options.limits().maxBuffered / 2) this.emit("data", text);
        else await this.#handOnSlowly(text);
      }
    } catch (error) {
      // A read cut short by destroy() is no failure.
      if (!this.#destroyed) {
        failed = true;
        this.#fail(error);
      }
    }
    if (!failed) {
      this.destroy();
      this.#close(false);
    }
  }

  /**
   * Hands `text` on in slices, each after the writes the last one made
   * reached the socket (a microtask: the writer's batch), waiting while
   * reading is paused.
   */
  async #handOnSlowly(text: string): Promise<void> {
    for (let at = 0; at < text.length;) {
      if (this.#paused) await this.#paused.promise;
      if (this.#muted || this.#destroyed) return;
      let end = Math.min(at + SLICE, text.length);
      // Never between the two halves of a surrogate pair.
      if (end < text.length && isHighSurrogate(text.charCodeAt(end - 1))) end++;
      this.emit("data", text.slice(at, end));
      at = end;
      await Promise.resolve();
    }
  }

  /** Writes what is queued, one batch at a time, until the queue is empty. */
  async #pump(conn: Deno.Conn): Promise<void> {
    this.#writing = true;
    while (this.#queue.length > 0 && !this.#destroyed) {
      const batch = this.#queue;
      this.#queue = [];
      const bytes = batch.length === 1 ? batch[0].bytes : concat(batch);
      try {
        for (let at = 0; at < bytes.length;) {
          const n = await conn.write(bytes.subarray(at));
          at += n;
          this.#taken += n;
          this.#checkDrained();
        }
      } catch (error) {
        const lost = error instanceof Error ? error : new Error(String(error));
        for (const entry of batch) entry.done?.(lost);
        if (!this.#destroyed) this.#fail(lost);
        break;
      }
      for (const entry of batch) entry.done?.();
    }
    this.#writing = false;
    if (this.#ending && !this.#destroyed) this.#closeWrite();
  }

  #closeWrite(): void {
    const conn = this.#conn;
    if (!conn) return this.destroy();
    conn.closeWrite().catch(() => this.destroy());
  }

  /** Over the limit: stop reading, and give the server the stall time to drain. */
  #checkFull(): void {
    if (this.#paused) return;
    const { maxBuffered, stallMs } = this.#options.limits();
    if (this.buffered <= maxBuffered) return;
    this.#paused = Promise.withResolvers();
    this.#options.paused?.(this.buffered);
    this.#stallTimer = setTimeout(() => {
      this.#fail(new SendStalled(this.buffered, maxBuffered, stallMs));
    }, stallMs);
  }

  /** Half drained: read again. */
  #checkDrained(): void {
    if (this.#paused && this.buffered <= this.#options.limits().maxBuffered / 2) this.#resume();
  }

  #resume(): void {
    clearTimeout(this.#stallTimer);
    this.#paused?.resolve();
    this.#paused = undefined;
  }

  /** The connection failed: "error", then "close". */
  #fail(error: unknown): void {
    if (this.#closed) return;
    // An "error" nobody listens to would be thrown by the emitter.
    if (this.listenerCount("error") > 0) this.emit("error", error);
    this.destroy();
    this.#close(true);
  }

  #failQueued(error: Error): void {
    const queue = this.#queue;
    this.#queue = [];
    for (const entry of queue) entry.done?.(error);
  }

  #close(hadError: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.emit("close", hadError);
  }
}

/** A read; on a plaintext connection's first, a reset is {@link NoStream}. */
async function readOrReset(
  conn: Deno.Conn,
  buffer: Uint8Array,
  first: boolean,
): Promise<number | null> {
  if (!first) return conn.read(buffer);
  try {
    return await conn.read(buffer);
  } catch (error) {
    throw error instanceof Deno.errors.ConnectionReset ? new NoStream("reset") : error;
  }
}

function concat(batch: readonly Queued[]): Uint8Array {
  let length = 0;
  for (const entry of batch) length += entry.bytes.length;
  const bytes = new Uint8Array(length);
  let at = 0;
  for (const entry of batch) {
    bytes.set(entry.bytes, at);
    at += entry.bytes.length;
  }
  return bytes;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* closed already */ }
}

/**
 * Writing to the stream: the stanzas written in one turn of the event loop
 * go out in one socket write (a write per stanza was the proxy's largest
 * cost), and what is written while the stream is down is held in the
 * outbox until it is back.
 */
import type { Logger } from "../ops/log.ts";
import { Outbox, OUTBOX_CHARS, OUTBOX_LIMIT } from "./outbox.ts";

/** Stanzas, and characters, written in one socket write at most (a bigger stanza goes alone). */
const BATCH_MAX = 256;
const BATCH_CHARS = 1024 * 1024;

/** Where text goes: the stream's socket. */
export interface Socket {
  write(text: string): Promise<void>;
}

/** Options of {@link StreamWriter}. */
export interface StreamWriterOptions {
  readonly domain: string;
  readonly log: Logger;
  /** Stanzas held while offline; the oldest are dropped beyond. Default: 10000. */
  readonly outboxLimit?: number;
  /** Characters held while offline; the oldest are dropped beyond. Default: 32 Mi. */
  readonly outboxChars?: number;
  /** The socket while the stream is online, else undefined. */
  readonly socket: () => Socket | undefined;
}

/** The link's writes: batched while online, held while not. */
export class StreamWriter {
  readonly #options: StreamWriterOptions;
  readonly #outbox: Outbox;
  /** Stanzas written in this turn of the event loop, not yet on the socket. */
  readonly #batch: string[] = [];
  #batchChars = 0;

  constructor(options: StreamWriterOptions) {
    this.#options = options;
    this.#outbox = new Outbox(options.outboxLimit, options.outboxChars);
  }

  /** Writes `text` in this turn's batch, or holds it while offline. */
  write(text: string): void {
    if (!this.#options.socket()) return this.#hold(text);
    this.#batch.push(text);
    this.#batchChars += text.length;
    if (this.#batch.length === 1) queueMicrotask(() => this.flush());
    // A burst (thousands of timeouts at once, or big answers) goes out in
    // slices, so that no huge string is built and buffered in one piece.
    if (this.#batch.length >= BATCH_MAX || this.#batchChars >= BATCH_CHARS) this.flush();
  }

  /** Writes this turn's batch now. */
  flush(): void {
    if (this.#batch.length === 0) return;
    const text = this.#batch.length === 1 ? this.#batch[0] : this.#batch.join("");
    this.#batch.length = 0;
    this.#batchChars = 0;
    const socket = this.#options.socket();
    if (!socket) return this.#hold(text);
    socket.write(text).catch(() => this.#hold(text));
  }

  /** The stream is online again: what was held goes out first, in order. */
  resume(): void {
    const { domain, log } = this.#options;
    const dropped = this.#outbox.dropped;
    if (dropped > 0) log.warning("stream.outbox_dropped", { domain, dropped });
    for (const text of this.#outbox.drain()) this.write(text);
  }

  #hold(text: string): void {
    // Said once per outage, not per entry: a burst of timeouts while the
    // server is away would flood the log.
    if (this.#outbox.push(text) && this.#outbox.dropped === 1) {
      this.#options.log.warning("stream.outbox_full", {
        domain: this.#options.domain,
        limit: this.#options.outboxLimit ?? OUTBOX_LIMIT,
        limit_chars: this.#options.outboxChars ?? OUTBOX_CHARS,
      });
    }
  }
}

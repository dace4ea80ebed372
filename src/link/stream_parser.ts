/**
 * The component stream's parser, as xmpp.js wants one: a drop-in for
 * `@xmpp/xml`'s Parser (the same events: "start" with the stream header,
 * "element" with each top-level element, "end", "error") over the core's
 * scanner (src/core/xml_scan.ts), which reads only what routing needs.
 */
import { EventEmitter } from "node:events";
import { type ScanOptions, StreamScanner } from "../core/xml_scan.ts";

/** Stream text in (any chunking), the stream's elements out, as events. */
export class StreamParser extends EventEmitter {
  readonly #scanner: StreamScanner;

  /** `options.maxStanza`: the size limit of a stanza (see the scanner). */
  constructor(options?: ScanOptions) {
    super();
    this.#scanner = new StreamScanner({
      start: (header) => this.emit("start", header),
      element: (stanza) => this.emit("element", stanza),
      end: (header) => this.emit("end", header),
      error: (error) => this.emit("error", error),
    }, options);
  }

  /** Reads a chunk of the stream; what it does not complete waits for the next. */
  write(data: string): void {
    this.#scanner.write(data);
  }

  /** For the Parser interface: the stream ends with the socket. */
  end(data?: string): void {
    if (data) this.write(data);
  }
}

/**
 * The parser class for xmpp.js (which makes one per stream, without
 * arguments), with the size limit `maxStanza` reads at each chunk.
 * `done` is called after the stream's end or an error: xmpp.js drops the
 * parser then, and nothing more may be written to it.
 */
export function parserWith(
  maxStanza: () => number,
  done: () => void = () => {},
): new () => StreamParser {
  return class extends StreamParser {
    constructor() {
      super({ maxStanza });
      this.on("end", done);
      this.on("error", done);
    }
  };
}

/**
 * The link: the component stream to the XMPP server, kept up for ever. It
 * reconnects with backoff and jitter (backoff.ts), slowly when the server
 * refuses our credentials (the operator has to act), and stands by while
 * another connection holds the domain (shared_domain.ts reads what comes
 * in first). Each stream goes through xmpp_stream.ts, over transport.ts
 * (TCP, or TLS for `xmpps://`); writes through writer.ts.
 */
import { serialize, type XmlElement } from "../core/xml.ts";
import { Backoff } from "./backoff.ts";
import { type Endpoint, endpointOf, isLoopback } from "./endpoint.ts";
import { ending, ONLINE_HINTS, reportEnd, SIBLING, type StreamEnd } from "./ending.ts";
import { Keepalive } from "./keepalive.ts";
import { Prover } from "./proof.ts";
import { type Instance, pingPrefix } from "./self_ping.ts";
import { SharedDomain } from "./shared_domain.ts";
import { SendStalled } from "./transport.ts";
import {
  type Link,
  type LinkOptions,
  type LinkState,
  type LinkTimings,
  MAX_STANZA_SIZE,
} from "./types.ts";
import { wait } from "./wait.ts";
import { StreamWriter } from "./writer.ts";
import { describe, XmppStream } from "./xmpp_stream.ts";

export type { Link, LinkDrop, LinkHandlers, LinkOptions, LinkState, LinkTimings } from "./types.ts";

const STOP_TIMEOUT_MS = 2_000;
/** The default largest stanza read (1 MB). */
/** The default send buffer limit (8 MB), and keepalive timeout. */
const MAX_SEND_BUFFER = 8 * 1024 * 1024;
const KEEPALIVE_TIMEOUT_MS = 10_000;

/** Opens the stream and keeps it open until stopped. */
export function openLink(options: LinkOptions): Link {
  return new ComponentLink(options);
}

class ComponentLink implements Link {
  readonly #options: LinkOptions;
  readonly #endpoint: Endpoint;
  readonly #backoff: Backoff;
  readonly #writer: StreamWriter;
  /** Tells our own pings from a sibling's (another instance on the same domain). */
  readonly #instance = crypto.randomUUID().slice(0, 8);
  /** Since when the current stream is up, as its pings say. */
  #since: number | undefined;
  /** Proves our relays and pings, checks those that arrive. */
  readonly #prover: Prover;
  /** The current stream's mark (its self-ping prefix), which signs its relays. */
  #mark = "";
  /** Reads relays and self-pings first, carries out the sibling decisions. */
  readonly #shared: SharedDomain;
  /** Streams a step-back closes after its relays, until stop() clears them. */
  readonly #closing = new Set<ReturnType<typeof setTimeout>>();
  #stream: XmppStream | undefined;
  /** The keepalive of the current stream. */
  #keepalive: Keepalive | undefined;
  /**
   * Stanzas that arrive with the server's handshake, in the same read,
   * before the owner has been told the stream is online: kept for it.
   */
  #early: XmlElement[] | undefined;
  #timings: LinkTimings;
  #state: LinkState = "connecting";
  #stopping = false;
  #wake: (() => void) | undefined;
  readonly #done: Promise<void>;

  constructor(options: LinkOptions) {
    this.#options = options;
    this.#timings = options;
    this.#endpoint = endpointOf(options.url, options.tls);
    if (!this.#endpoint.tls && !isLoopback(this.#endpoint.host)) {
      options.log.warning("stream.plaintext", {
        domain: options.domain,
        server: options.url,
        hint: "the secret's handshake and every stanza cross the network readable and " +
          "forgeable: use xmpps:// (TLS) or a private link",
      });
    }
    this.#backoff = new Backoff(options.random ?? Math.random);
    this.#prover = new Prover(options.domain, options.secret);
    this.#writer = new StreamWriter({
      domain: options.domain,
      log: options.log,
      outboxLimit: options.outboxLimit,
      outboxChars: options.outboxChars,
      socket: () => (this.#state === "online" ? this.#stream : undefined),
    });
    this.#shared = new SharedDomain(options, this.#prover, {
      keepalive: () => this.#keepalive,
      online: () => this.#state === "online",
      mark: () => this.#mark,
      maxStanza: () => this.#timings.maxStanzaSize ?? MAX_STANZA_SIZE,
      write: (text) => this.#writer.write(text),
      serve: (el) => {
        if (this.#early) this.#early.push(el);
        else options.handlers.onStanza(el);
      },
      closeIn: (ms) => {
        const stream = this.#stream;
        const timer = setTimeout(() => {
          this.#closing.delete(timer);
          stream?.close();
        }, ms);
        this.#closing.add(timer);
      },
    });
    this.#done = this.#run();
  }

  get state(): LinkState {
    return this.#state;
  }

  retune(timings: LinkTimings): void {
    const before = this.#timings.keepaliveMs;
    this.#timings = timings;
    // Only a new period restarts it: reloads more often than the period
    // must not keep postponing the next ping.
    if (timings.keepaliveMs !== before) this.#keepalive?.restart();
  }

  send(stanza: XmlElement): void {
    this.#writer.write(serialize(stanza));
  }

  /** The id its streams prove themselves with to other instances of the domain. */
  get instance(): string {
    return this.#instance;
  }

  /** Since when its current stream is up, while it is. */
  get since(): number | undefined {
    return this.#state === "online" ? this.#since : undefined;
  }

  async stop(): Promise<void> {
    // What was just written (the last answers) goes before the stream's end.
    this.#writer.flush();
    this.#stopping = true;
    this.#shared.stop();
    for (const timer of this.#closing) clearTimeout(timer);
    this.#closing.clear();
    this.#wake?.();
    const stream = this.#stream;
    if (stream && this.#state === "online") await stream.closeWithin(STOP_TIMEOUT_MS);
    else stream?.drop();
    await this.#done;
  }

  /** Stream after stream until stopped, with a pause between them that says why. */
  async #run(): Promise<void> {
    let attempt = 0;
    let previous: string | undefined;
    while (!this.#stopping) {
      const { upMs, end } = await this.#streamOnce(attempt, previous);
      attempt = upMs === undefined ? attempt + 1 : 0;
      if (this.#stopping) break;
      const delay = this.#backoff.next(ending(end), upMs, this.#timings.standbyRetryMs);
      this.#report(end, previous, delay);
      previous = end.failure;
      await this.#pause(delay);
      if (end.failure === SIBLING) await this.#whileSiblingServes();
    }
    this.#state = "stopped";
    this.#options.log.info("stream.stopped", { domain: this.#options.domain });
  }

  /**
   * One stream, from connecting to its end: how long it was online
   * (undefined: never), and why it ended (undefined: closed cleanly).
   * `previous`: why the last one did.
   */
  async #streamOnce(
    attempt: number,
    previous: string | undefined,
  ): Promise<{ upMs: number | undefined; end: StreamEnd }> {
    const { log, domain, url } = this.#options;
    if (previous !== "conflict" && previous !== SIBLING) {
      log.info("stream.connecting", { domain, server: url, attempt: attempt + 1 });
    }
    let onlineAt: number | undefined;
    let end: StreamEnd = { failure: undefined };
    try {
      // Looking again from standby is not news: keep the log quiet then.
      const stream = await this.#connect(previous === SIBLING);
      onlineAt = performance.now();
      await this.#untilClosed(stream);
    } catch (error) {
      end = { failure: describe(error), error };
    }
    this.#keepalive?.stop();
    if (this.#shared.ended()) end = { failure: SIBLING };
    if (this.#state === "online") this.#options.handlers.onOffline();
    this.#stream?.drop();
    this.#stream = undefined;
    return { upMs: onlineAt === undefined ? undefined : performance.now() - onlineAt, end };
  }

  /** Where the link stands after a stream's end, said to the operator and the owner. */
  #report(end: StreamEnd, previous: string | undefined, delay: number): void {
    const { log, domain, url, handlers } = this.#options;
    const serverName = this.#endpoint.tls?.serverName ?? this.#endpoint.host;
    const report = reportEnd(end, previous, delay, { domain, url, serverName });
    this.#state = report.state;
    if (report.line) log[report.line.level](report.line.event, report.line.fields);
    if (report.streamError && end.failure !== undefined) handlers.onStreamError?.(end.failure);
  }

  /** Waits `ms`, or less if stopped meanwhile. */
  async #pause(ms: number): Promise<void> {
    if (this.#stopping) return;
    const pause = wait(ms);
    this.#wake = pause.cancel;
    await pause.done;
    this.#wake = undefined;
  }

  /**
   * Each look from standby may lose a stanza that the server hands it as
   * it closes again: while the sibling's own word says it serves, do not
   * look. Said once per standby period, so that the operator sees it work.
   */
  async #whileSiblingServes(): Promise<void> {
    const { siblingServes, log, domain } = this.#options;
    if (!siblingServes) return;
    let said = false;
    // Asked again after the answer too: a stop may come while it is awaited.
    while (!this.#stopping && await siblingServes() && !this.#stopping) {
      if (!said) {
        said = true;
        log.info("stream.standby_peer", { domain, peer: "serves", action: "not looking" });
      }
      await this.#pause(this.#backoff.standby(this.#timings.standbyRetryMs));
    }
  }

  /** Opens a stream and waits until it is online; `look`: a look from standby. */
  async #connect(look: boolean): Promise<XmppStream> {
    const { url, domain, secret, log } = this.#options;
    const stream = this.#stream = new XmppStream({
      url,
      endpoint: this.#endpoint,
      domain,
      secret,
      maxStanza: () => this.#timings.maxStanzaSize ?? MAX_STANZA_SIZE,
      sendLimits: () => ({
        maxBuffered: this.#timings.maxSendBuffer ?? MAX_SEND_BUFFER,
        stallMs: this.#timings.keepaliveTimeoutMs ?? KEEPALIVE_TIMEOUT_MS,
      }),
      onPaused: (buffered) =>
        log.debug("stream.send_buffer_full", {
          domain,
          buffered_bytes: buffered,
          action: "not reading until it drains",
        }),
      onStanza: (el) => this.#shared.receive(el),
    });
    const self: Instance = { id: this.#instance, since: Date.now() };
    this.#since = self.since;
    this.#shared.open(self, look);
    this.#mark = pingPrefix(self);
    this.#keepalive = new Keepalive(domain, log, this.#mark, {
      timings: () => this.#timings,
      // Never held for a later stream: a ping of this one would reach the
      // next as if another instance had sent it.
      write: (text) => {
        if (this.#stream === stream && this.#state === "online") this.#writer.write(text);
      },
      mark: () => {
        this.#writer.flush();
        return stream.mark();
      },
      taken: (mark) => stream.taken(mark),
      sign: (fields) => this.#prover.sign(fields, Date.now()),
      dead: () => stream.drop(),
    });
    this.#early = [];
    await stream.open();
    this.#online(look);
    return stream;
  }

  /** The stream is up: the owner hears of it first, then what waited for it. */
  #online(look: boolean): void {
    const { domain, log, handlers } = this.#options;
    this.#state = "online";
    if (look) log.debug("stream.online", { domain });
    else log.info("stream.online", { domain });
    handlers.onOnline(look);
    this.#writer.resume();
    const early = this.#early ?? [];
    this.#early = undefined;
    for (const el of early) handlers.onStanza(el);
    this.#keepalive?.start();
    this.#shared.online();
  }

  /** Waits for the stream's end; the error that ended it, if any, is said and reported. */
  async #untilClosed(stream: XmppStream): Promise<void> {
    try {
      await stream.closed;
    } catch (error) {
      const { log, domain, handlers } = this.#options;
      const reason = describe(error);
      if (error instanceof SendStalled) {
        log.warning("stream.send_stalled", {
          domain,
          buffered_bytes: error.buffered,
          limit_bytes: error.limit,
          stalled_ms: error.stalledMs,
          hint: "the server stopped reading from this stream: it is replaced",
        });
      } else {
        const hint = ONLINE_HINTS[reason];
        log.warning("stream.error", hint ? { domain, reason, hint } : { domain, reason });
      }
      handlers.onStreamError?.(reason);
    }
  }
}

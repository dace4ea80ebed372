/**
 * The link: the component stream to the XMPP server, kept up for ever. It
 * reconnects with backoff and jitter (backoff.ts), slowly when the server
 * refuses our credentials (the operator has to act), stands by while
 * another connection holds the domain, and carries out the sibling
 * decision (sibling.ts) on a server that shares the domain. Each stream
 * goes through xmpp_stream.ts, over transport.ts (TCP, or TLS for
 * `xmpps://`); writes through writer.ts.
 */
import { isOversized, serialize, type XmlElement } from "../core/xml.ts";
import { Backoff } from "./backoff.ts";
import { type Endpoint, endpointOf, isLoopback } from "./endpoint.ts";
import { ending, reportEnd, SIBLING, type StreamEnd } from "./ending.ts";
import { ForgeryLog } from "./forgery_log.ts";
import { Keepalive } from "./keepalive.ts";
import { BROKEN_RULE, Prover } from "./proof.ts";
import { readRelay, relayText } from "./relay.ts";
import { type CheckProof, type Instance, pingPrefix, readSelfPing } from "./self_ping.ts";
import { type SiblingDecision, SiblingWatch } from "./sibling.ts";
import { SendStalled } from "./transport.ts";
import type { Link, LinkOptions, LinkState, LinkTimings } from "./types.ts";
import { wait } from "./wait.ts";
import { StreamWriter } from "./writer.ts";
import { describe, XmppStream } from "./xmpp_stream.ts";

export type { Link, LinkDrop, LinkHandlers, LinkOptions, LinkState, LinkTimings } from "./types.ts";

const STOP_TIMEOUT_MS = 2_000;
/** The default largest stanza read (1 MB). */
const MAX_STANZA_SIZE = 1024 * 1024;
/** The default send buffer limit (8 MB), and keepalive timeout. */
const MAX_SEND_BUFFER = 8 * 1024 * 1024;
const KEEPALIVE_TIMEOUT_MS = 10_000;
/** What a relay's proof vouches for. */
const VOUCHED: CheckProof = () => "valid";

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
  /** Proves our relays and pings, checks those that arrive. */
  readonly #prover: Prover;
  readonly #forgeries: ForgeryLog;
  /** The current stream's mark (its self-ping prefix), which signs its relays. */
  #mark = "";
  readonly #siblings = new SiblingWatch<XmlElement>();
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
    this.#forgeries = new ForgeryLog(options.log, options.domain);
    this.#writer = new StreamWriter({
      domain: options.domain,
      log: options.log,
      outboxLimit: options.outboxLimit,
      outboxChars: options.outboxChars,
      socket: () => (this.#state === "online" ? this.#stream : undefined),
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

  async stop(): Promise<void> {
    // What was just written (the last answers) goes before the stream's end.
    this.#writer.flush();
    this.#stopping = true;
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
    if (this.#siblings.ended()) end = { failure: SIBLING };
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
      onStanza: (el) => this.#receive(el),
    });
    const self: Instance = { id: this.#instance, since: Date.now() };
    this.#siblings.open(self, look);
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
    handlers.onOnline();
    this.#writer.resume();
    const early = this.#early ?? [];
    this.#early = undefined;
    for (const el of early) handlers.onStanza(el);
    this.#keepalive?.start();
    this.#apply(this.#siblings.online());
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
      } else log.warning("stream.error", { domain, reason });
      handlers.onStreamError?.(reason);
    }
  }

  /**
   * A stanza from the stream: ours (a relay, a self-ping) or the owner's.
   * Ours are read here, before the router: only those whose proof holds
   * are taken; anything else from our domain to itself shaped like one is
   * dropped.
   */
  #receive(el: XmlElement): void {
    const { domain } = this.#options;
    const keepalive = this.#keepalive;
    keepalive?.heard();
    // Its payload was skipped: no relay or ping can be read in it.
    if (isOversized(el)) return this.#route(el);
    const now = Date.now();
    const check: CheckProof = (fields, proof) => this.#prover.check(fields, proof, now);
    // A sibling's relay is opened first: it may carry a ping's answer.
    let stanza = el;
    const relay = readRelay(el, domain, check);
    if (relay?.kind === "bounced") return;
    if (relay?.kind === "refused") {
      return this.#refused("relay", BROKEN_RULE[relay.verdict], relay.by);
    }
    if (relay?.kind === "relay") {
      if (!this.#siblings.relayFrom(relay.by, now)) {
        return this.#refused("relay", "no sibling is known to be connected", relay.by);
      }
      stanza = relay.stanza;
    }
    // Inside a relay whose proof holds, a ping is vouched for by it: the
    // instance that relayed it checked it (and it may pass by here twice).
    const ping = readSelfPing(stanza, domain, stanza === el ? check : VOUCHED);
    if (ping === undefined) return this.#route(stanza);
    if (ping.type === "error" || ping.verdict === "valid") {
      if (ping.asks) keepalive?.answer(ping.id);
      else keepalive?.answered(ping.id);
    }
    this.#apply(this.#siblings.selfPing(ping, stanza !== el, stanza, now));
  }

  /**
   * A relay or self-ping not taken, by the `rule` it broke: dropped, said
   * (rate-limited) and counted. `by`: the stream it names, if any.
   */
  #refused(what: "relay" | "ping", rule: string, by: string | undefined): void {
    this.#forgeries.say(what, rule, by);
    this.#options.handlers.onDropped?.(what === "relay" ? "forged_relay" : "forged_ping");
  }

  /**
   * Sends a stanza for the owner where the sibling decision says; on "hold"
   * the look keeps it, on "drop" its stream is over.
   */
  #route(stanza: XmlElement): void {
    switch (this.#siblings.route(stanza)) {
      case "serve":
        if (this.#early) this.#early.push(stanza);
        else this.#options.handlers.onStanza(stanza);
        return;
      case "relay":
        return this.#relay(stanza);
    }
  }

  /** Carries out the sibling decision. */
  #apply(decisions: readonly SiblingDecision<XmlElement>[]): void {
    const { domain, log, handlers } = this.#options;
    for (const decision of decisions) {
      switch (decision.kind) {
        case "seen": {
          const { type, id, by } = decision.ping;
          log.debug("stream.sibling_seen", { domain, type, id, by });
          break;
        }
        case "serve-on":
          if (decision.report) {
            log.warning("stream.sibling", { domain, sibling: decision.sibling, action: "serving" });
          }
          if (decision.probe) this.#keepalive?.probe();
          break;
        case "step-back": {
          if (decision.report) {
            log.warning("stream.sibling", {
              domain,
              sibling: decision.sibling,
              action: "standing by",
              hint:
                "another instance serves this domain on a server that shares it between connections",
            });
          }
          handlers.onHandOver?.();
          // What reached us instead of the sibling goes to it, through the
          // server: what the look held, and whatever arrives before we close.
          for (const el of decision.relay) this.#relay(el);
          const stream = this.#stream;
          setTimeout(() => stream?.close(), decision.closeInMs);
          break;
        }
        case "take-over":
          log.info("stream.taking_over", { domain, held: decision.held.length });
          handlers.onTakeOver?.();
          for (const el of decision.held) handlers.onStanza(el);
          break;
        case "look": {
          const stream = decision.stream;
          setTimeout(() => this.#apply(this.#siblings.lookOver(stream)), decision.inMs);
          break;
        }
        case "relay":
          this.#relay(decision.stanza);
          break;
        case "forged": {
          const { ping, verdict } = decision;
          this.#refused("ping", BROKEN_RULE[verdict], ping.by ?? ping.id);
          break;
        }
      }
    }
  }

  /** Hands a stanza to the sibling, through the server. */
  #relay(el: XmlElement): void {
    if (this.#state !== "online") return;
    const sign = (fields: readonly string[]) => this.#prover.sign(fields, Date.now());
    this.#writer.write(relayText(el, this.#options.domain, this.#mark, sign));
  }
}

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
import type { Logger } from "../ops/log.ts";
import { Outbox } from "./outbox.ts";
import { StreamParser } from "./stream_parser.ts";
import { wait } from "./wait.ts";
import { parseXml, serialize, xml, type XmlElement } from "../core/xml.ts";

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
  /**
   * A sibling instance serves the domain and this one steps back: answer
   * what is held now; the stream closes right after.
   */
  readonly onHandOver?: () => void;
}

/** The stream's timings: set at open, changed by {@link Link.retune}. */
export interface LinkTimings {
  /** Ping the server this often (ms) to notice a dead link; 0: never. Default: 30000. */
  readonly keepaliveMs?: number;
  /** A ping unanswered this long (ms) closes the link. Default: 10000. */
  readonly keepaliveTimeoutMs?: number;
  /** While another connection holds the domain, retry this often (ms). Default: 2000. */
  readonly standbyRetryMs?: number;
}

/** Options of {@link openLink}. */
export interface LinkOptions extends LinkTimings {
  /** `xmpp://host:port` of the server's component listener. */
  readonly url: string;
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
  /**
   * New timings (a reload), for the running stream: the keepalive restarts
   * at its new period, a new timeout applies from the next ping, a new
   * standby retry from the next wait.
   */
  retune(timings: LinkTimings): void;
}

/** The part of the xmpp.js entity this module uses. */
interface Entity {
  on(event: "stanza" | "open", listener: (el: XmlElement) => void): void;
  on(
    event: "error",
    listener: (error: Error & { condition?: string; code?: string }) => void,
  ): void;
  on(event: "disconnect" | "connect", listener: () => void): void;
  once(event: "online", listener: () => void): void;
  once(event: "error", listener: (error: Error) => void): void;
  connect(service: string): Promise<unknown>;
  open(options: { domain: string }): Promise<unknown>;
  stop(): Promise<unknown>;
  authenticate(id: string, secret: string): Promise<void>;
  write(text: string): Promise<void>;
  socket: {
    destroy(): void;
    setNoDelay?(noDelay: boolean): void;
    setEncoding?(encoding: "utf8"): void;
  } | null;
  /** The parser class each stream opening instantiates. */
  Parser: new () => unknown;
  /** The current stream's parser; null once it failed or the stream ended. */
  parser: unknown;
  /** Hands a socket read to the parser (bound to the socket at connect). */
  _onData(data: unknown): void;
}

const CONNECT_TIMEOUT_MS = 10_000;
/** Stanzas written in one socket write at most. */
const BATCH_MAX = 256;
const STOP_TIMEOUT_MS = 2_000;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;
/** Credentials the server refused are retried this slowly. */
const RETRY_REFUSED_MS = 30_000;
const NS_PING = "urn:xmpp:ping";
/** Our own wrapper for a stanza handed from one instance to its sibling. */
const NS_RELAY = "urn:xmpp:client-proxy:relay:0";
/** How long a look from standby holds what it receives before taking over. */
const LOOK_MS = 400;
/** How long an instance stepping back keeps relaying before it closes. */
const RELAY_DRAIN_MS = 100;
/** The failure that stands for "a sibling serves the domain". */
const SIBLING = "sibling";

/** Why each stream error is worth a clear word to the operator. */
const HINTS: Readonly<Record<string, string>> = {
  // ejabberd also says not-authorized for a component domain it does not have.
  "not-authorized":
    "the server refused the secret or the domain: check the component's secret on both sides, " +
    "and that the server has a component with this domain",
  "host-unknown": "the server has no component with this domain: add it to the server's config",
};

/** Opens the stream and keeps it open until stopped. */
export function openLink(options: LinkOptions): Link {
  return new ComponentLink(options);
}

class ComponentLink implements Link {
  readonly #options: LinkOptions;
  readonly #random: () => number;
  readonly #outbox: Outbox;
  /** Stanzas written in this turn of the event loop, not yet on the socket. */
  readonly #batch: string[] = [];
  /** Tells our own pings from a sibling's (another instance on the same domain). */
  readonly #instance = crypto.randomUUID().slice(0, 8);
  /** Siblings already reported. */
  readonly #siblings = new Set<string>();
  /** Set while closing the stream to let a sibling serve. */
  #steppingBack = false;
  /**
   * A look from standby: what arrives is held until the look ends, then
   * served (no sibling) or relayed to the sibling.
   */
  #held: XmlElement[] | undefined;
  /**
   * Stanzas that arrive with the server's handshake, in the same read,
   * before the owner has been told the stream is online: kept for it.
   */
  #early: XmlElement[] | undefined;
  /** Stepping back: whatever arrives is relayed to the sibling. */
  #relaying = false;
  /** When we last probed for a newer sibling's sake. */
  #probedAt = 0;
  #entity: Entity | undefined;
  #timings: LinkTimings;
  /** The keepalive of the current stream, if one is open. */
  #keepalive: SelfPing | undefined;
  #state: LinkState = "connecting";
  #stopping = false;
  #wake: (() => void) | undefined;
  readonly #done: Promise<void>;

  constructor(options: LinkOptions) {
    this.#options = options;
    this.#timings = options;
    this.#outbox = new Outbox(options.outboxLimit);
    this.#random = options.random ?? Math.random;
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
    this.#write(serialize(stanza));
  }

  async stop(): Promise<void> {
    // What was just written (the last answers) goes before the stream's end.
    this.#flush();
    this.#stopping = true;
    this.#wake?.();
    const entity = this.#entity;
    const socket = entity?.socket;
    if (entity && this.#state === "online") {
      // Close the stream politely, but a server that does not answer must
      // not hold us: xmpp.js waits up to 2 × 2 s and may leave the socket.
      const limit = wait(STOP_TIMEOUT_MS, { unref: true });
      await Promise.race([entity.stop().catch(() => {}), limit.done]);
      limit.cancel();
    }
    socket?.destroy();
    await this.#done;
  }

  /**
   * Stanzas written in one turn of the event loop go out in one socket
   * write: the profile showed a write per stanza as the proxy's largest
   * cost (bench/README.md).
   */
  #write(text: string): void {
    if (this.#state !== "online" || !this.#entity) return this.#hold(text);
    this.#batch.push(text);
    if (this.#batch.length === 1) queueMicrotask(() => this.#flush());
    // A burst (thousands of timeouts at once) goes out in slices, so that no
    // huge string is built and buffered in one piece.
    else if (this.#batch.length >= BATCH_MAX) this.#flush();
  }

  #flush(): void {
    if (this.#batch.length === 0) return;
    const text = this.#batch.length === 1 ? this.#batch[0] : this.#batch.join("");
    this.#batch.length = 0;
    const entity = this.#entity;
    if (this.#state !== "online" || !entity) return this.#hold(text);
    entity.write(text).catch(() => this.#hold(text));
  }

  #hold(text: string): void {
    // Said once per outage, not per entry: a burst of timeouts while the
    // server is away would flood the log.
    if (this.#outbox.push(text) && this.#outbox.dropped === 1) {
      this.#options.log.warning("stream.outbox_full", {
        domain: this.#options.domain,
        limit: this.#options.outboxLimit ?? 10_000,
      });
    }
  }

  async #run(): Promise<void> {
    const { log, domain, url } = this.#options;
    let attempt = 0;
    let previous: string | undefined;
    while (!this.#stopping) {
      if (previous !== "conflict" && previous !== SIBLING) {
        log.info("stream.connecting", { domain, server: url, attempt: attempt + 1 });
      }
      let failure: string | undefined;
      try {
        // Looking again from standby is not news: keep the log quiet then.
        const closed = await this.#connect(previous === SIBLING);
        attempt = 0;
        await closed;
      } catch (error) {
        failure = describe(error);
      }
      if (this.#steppingBack) {
        failure = SIBLING;
        this.#steppingBack = false;
      }
      if (this.#state === "online") this.#options.handlers.onOffline();
      this.#entity?.socket?.destroy();
      this.#entity = undefined;
      if (this.#stopping) break;
      const delay = this.#delay(failure, attempt++);
      const fields = { domain, reason: failure ?? "connection closed", retry_in_ms: delay };
      if (failure === "conflict" || failure === SIBLING) {
        // Another instance serves the domain: wait for it to go away, and
        // say so once, not at every retry.
        this.#state = "standby";
        if (previous !== failure) {
          log.info("stream.standby", { ...fields, hint: "another connection serves this domain" });
        }
      } else if (failure !== undefined && HINTS[failure]) {
        this.#state = "refused";
        log.error("stream.refused", { ...fields, hint: HINTS[failure] });
      } else {
        this.#state = "offline";
        log.warning("stream.offline", fields);
      }
      if (
        failure !== undefined && failure !== SIBLING &&
        !(failure === "conflict" && previous === failure)
      ) {
        this.#options.handlers.onStreamError?.(failure);
      }
      previous = failure;
      await this.#pause(delay);
      if (failure === SIBLING) await this.#whileSiblingServes(delay);
    }
    this.#state = "stopped";
    log.info("stream.stopped", { domain });
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
  async #whileSiblingServes(delay: number): Promise<void> {
    const { siblingServes, log, domain } = this.#options;
    if (!siblingServes) return;
    let said = false;
    // Asked again after the answer too: a stop may come while it is awaited.
    while (!this.#stopping && await siblingServes() && !this.#stopping) {
      if (!said) {
        said = true;
        log.info("stream.standby_peer", { domain, peer: "serves", action: "not looking" });
      }
      await this.#pause(delay);
    }
  }

  /** Connects and authenticates; resolves with a promise of the stream's end. */
  async #connect(quiet: boolean): Promise<Promise<void>> {
    const { url, domain, secret } = this.#options;
    const entity = new Component({ service: url, domain }) as unknown as Entity;
    // Stanzas are routed by their start tag: no tree for their payload.
    entity.Parser = StreamParser;
    // After bad XML or the server's </stream:stream>, xmpp.js drops its
    // parser but reads on, and the next read would throw (no parser) out of
    // a socket event: the end of the process. What comes then is ignored;
    // the stream is closing anyway.
    const onData = entity._onData.bind(entity);
    entity._onData = (data) => {
      if (entity.parser) onData(data);
    };
    // xmpp.js decodes each socket read on its own, so a character cut
    // between two reads became two U+FFFD: the socket decodes the stream as
    // one text instead (set before the stream opens, so before any data).
    entity.on("connect", () => entity.socket?.setEncoding?.("utf8"));
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
    const self: Instance = { id: this.#instance, since: Date.now() };
    const keepalive = this.#keepalive = new SelfPing(this.#options, self, {
      timings: () => this.#timings,
      // Never held for a later stream: a ping of this one would reach the
      // next as if another instance had sent it.
      write: (text) => {
        if (this.#entity === entity && this.#state === "online") this.#write(text);
      },
      dead: () => entity.socket?.destroy(),
      passing: () => this.#relaying || this.#held !== undefined,
      sibling: (other) => this.#sibling(entity, self, other, () => keepalive.probe()),
    });
    this.#held = quiet ? [] : undefined;
    this.#early = [];
    this.#relaying = false;
    entity.on("stanza", (el) => {
      keepalive.heard();
      // A sibling's relay is opened first: it may carry a ping's answer.
      const stanza = unwrapRelay(el, domain);
      if (stanza === undefined || keepalive.intercept(stanza, stanza !== el)) return;
      if (this.#relaying) this.#relay(stanza);
      else if (this.#held) this.#held.push(stanza);
      else if (this.#early) this.#early.push(stanza);
      else this.#options.handlers.onStanza(stanza);
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        start(entity, url, domain),
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
    // Writes are batched per event-loop turn; Nagle would only add delay.
    entity.socket?.setNoDelay?.(true);
    if (quiet) this.#options.log.debug("stream.online", { domain });
    else this.#options.log.info("stream.online", { domain });
    this.#options.handlers.onOnline();
    const dropped = this.#outbox.dropped;
    if (dropped > 0) this.#options.log.warning("stream.outbox_dropped", { domain, dropped });
    for (const text of this.#outbox.drain()) this.#write(text);
    const early = this.#early;
    this.#early = undefined;
    for (const el of early) {
      if (this.#held) this.#held.push(el);
      else this.#options.handlers.onStanza(el);
    }
    keepalive.start();
    if (quiet) {
      // No sibling seen while the look's pings went round: the one we stood
      // by for is gone, so we serve, beginning with what we held.
      setTimeout(() => {
        const held = this.#held;
        if (held === undefined || this.#entity !== entity || this.#relaying) return;
        this.#held = undefined;
        this.#options.log.info("stream.taking_over", { domain, held: held.length });
        for (const el of held) this.#options.handlers.onStanza(el);
      }, LOOK_MS);
    }
    return closed.catch((error) => {
      const reason = describe(error);
      this.#options.log.warning("stream.error", { domain, reason });
      this.#options.handlers.onStreamError?.(reason);
    }).finally(() => keepalive.stop());
  }

  /**
   * Another instance shares our domain: the one online longer (then the
   * lower id) keeps serving; the other answers what it holds, closes its
   * stream and stands by, looking again every 3 × standby_retry.
   */
  #sibling(entity: Entity, self: Instance, other: Instance, probe: () => void): void {
    const { domain, log, handlers } = this.#options;
    const newer = other.since < self.since || (other.since === self.since && other.id < self.id);
    if (!newer) {
      if (!this.#siblings.has(other.id)) {
        this.#siblings.add(other.id);
        log.warning("stream.sibling", { domain, sibling: other.id, action: "serving" });
      }
      // Make sure the newer one hears of us, whatever connection gets what.
      const now = Date.now();
      if (now - this.#probedAt > 1_000) {
        this.#probedAt = now;
        probe();
      }
      return;
    }
    if (this.#steppingBack || this.#entity !== entity) return;
    this.#steppingBack = true;
    // Said once per sibling, not at every look from standby.
    if (!this.#siblings.has(other.id)) {
      this.#siblings.add(other.id);
      log.warning("stream.sibling", {
        domain,
        sibling: other.id,
        action: "standing by",
        hint: "another instance serves this domain on a server that shares it between connections",
      });
    }
    handlers.onHandOver?.();
    // What reached us instead of the sibling goes to it, through the server:
    // held during a look, and whatever still arrives before we close.
    this.#relaying = true;
    for (const el of this.#held?.splice(0) ?? []) this.#relay(el);
    this.#held = undefined;
    setTimeout(() => entity.stop().catch(() => entity.socket?.destroy()), RELAY_DRAIN_MS);
  }

  /**
   * Hands a stanza to the sibling: wrapped in a message from our domain to
   * itself, which the server gives to one of the domain's connections (to
   * us again, at worst, and we relay it again). The stanza travels as text,
   * so its namespace and addresses reach the other side untouched.
   */
  #relay(el: XmlElement): void {
    if (this.#state !== "online") return;
    const { domain } = this.#options;
    this.#write(serialize(
      xml(
        "message",
        { from: domain, to: domain },
        xml("relay", { xmlns: NS_RELAY }, serialize(el)),
      ),
    ));
  }

  #delay(failure: string | undefined, attempt: number): number {
    if (failure === SIBLING) return (this.#timings.standbyRetryMs ?? 2_000) * 3;
    if (failure === "conflict") return this.#timings.standbyRetryMs ?? 2_000;
    if (failure !== undefined && HINTS[failure]) return RETRY_REFUSED_MS;
    const ceiling = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** attempt);
    // "Equal jitter": half fixed, half random, so instances spread out.
    return Math.round(ceiling / 2 + (this.#random() * ceiling) / 2);
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

/** Who sent a self-ping: an instance, and since when it is online. */
interface Instance {
  readonly id: string;
  readonly since: number;
}

/** How the self-pings write, and what they report. */
interface SelfPingIo {
  /** The current keepalive period and timeout. */
  timings(): LinkTimings;
  write(text: string): void;
  /** A ping went unanswered: the link is dead. */
  dead(): void;
  /** A ping of another instance arrived on our stream. */
  sibling(other: Instance): void;
  /** Whether we do not serve now (a look, or stepping back): stanzas go on to the sibling. */
  passing(): boolean;
}

const PING_ID = /^cp-ping-([0-9a-f]+)-(\d+)-\d*$/;
const PROBES = 8;
const PROBE_EVERY_MS = 25;

/**
 * XEP-0199 pings from the domain to itself, which the server routes back to
 * a connection of the domain. An answer proves the whole path works: a
 * silently dead TCP link (which xmpp.js never notices) shows as a ping left
 * unanswered. A ping (or answer) of another instance arriving here shows a
 * sibling: a server such as ejabberd that lets several connections share a
 * domain, and spreads stanzas among them, would make each drop the other's
 * replies. A few probes right after connecting find one quickly.
 */
class SelfPing {
  readonly #options: LinkOptions;
  readonly #prefix: string;
  readonly #instance: string;
  readonly #io: SelfPingIo;
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  #interval: ReturnType<typeof setInterval> | undefined;
  #deadline: ReturnType<typeof setTimeout> | undefined;
  #count = 0;
  #waiting: string | undefined;
  /** Whether anything arrived since the last keepalive ping was sent. */
  #heard = false;
  #running = false;

  constructor(options: LinkOptions, self: Instance, io: SelfPingIo) {
    this.#options = options;
    this.#prefix = `cp-ping-${self.id}-${self.since}-`;
    this.#instance = self.id;
    this.#io = io;
  }

  start(): void {
    this.#running = true;
    this.probe();
    this.#every();
  }

  /** Sets the keepalive period again (a reload), if running. */
  restart(): void {
    if (!this.#running) return;
    clearInterval(this.#interval);
    this.#every();
  }

  #every(): void {
    const every = this.#io.timings().keepaliveMs ?? 30_000;
    this.#interval = every > 0 ? setInterval(() => this.#keepalive(), every) : undefined;
  }

  stop(): void {
    this.#running = false;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    clearInterval(this.#interval);
    clearTimeout(this.#deadline);
    this.#waiting = undefined;
  }

  /**
   * Handles self-pings and their answers; false for every other stanza.
   * `relayed`: it came wrapped in a sibling's relay.
   */
  intercept(el: XmlElement, relayed: boolean): boolean {
    const { domain } = this.#options;
    if (el.name !== "iq" || el.attrs.from !== domain || el.attrs.to !== domain) return false;
    const id = el.attrs.id ?? "";
    if (el.attrs.type === "get" && el.getChild("ping", NS_PING)) {
      // The answer says who answered: it may reach another connection.
      this.#io.write(serialize(
        xml(
          "iq",
          { type: "result", id, from: domain, to: domain },
          xml("ping", { xmlns: NS_PING, by: this.#prefix }),
        ),
      ));
    } else if (id === this.#waiting) {
      this.#waiting = undefined;
      clearTimeout(this.#deadline);
    }
    // A bounce (a ping or answer the server could not deliver, maybe long
    // after its sender died) is no sign of a sibling, and is never passed
    // on: it could come back to us as a bounce again, look after look.
    if (el.attrs.type === "error") return true;
    // Evidence of a sibling: its ping, an answer to its ping, or its answer,
    // straight from the server. A relayed one proves only that some instance
    // saw it once: a standby's own relays come back to it when the sibling
    // they were meant for is gone, and must not keep it from taking over.
    const by = el.getChild("ping", NS_PING)?.attrs.by;
    // Our own, from an earlier stream of this process (the server may deliver
    // it late), is no sibling.
    for (const mark of relayed ? [] : [id, by]) {
      const match = mark === undefined ? null : PING_ID.exec(mark);
      if (match && match[1] !== this.#instance) {
        this.#options.log.debug("stream.sibling_seen", { domain, type: el.attrs.type, id, by });
        this.#io.sibling({ id: match[1], since: Number(match[2]) });
      }
    }
    // The answer to a sibling's ping, reaching us while we do not serve:
    // it goes on to the sibling, or its keepalive would think its link dead.
    if (el.attrs.type !== "get" && this.#io.passing()) {
      const match = PING_ID.exec(id);
      if (match && match[1] !== this.#instance) return false;
    }
    return true;
  }

  /**
   * A few pings now, so that a sibling hears of us soon. Closely spaced: a
   * standby looking in from ejabberd drops the replies that reach it until
   * it finds the sibling, so the look must be short.
   */
  probe(): void {
    for (let i = 0; i < PROBES; i++) {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        this.#send(this.#prefix + this.#count++);
      }, i * PROBE_EVERY_MS);
      this.#timers.add(timer);
    }
  }

  #send(id: string): void {
    const { domain } = this.#options;
    this.#io.write(
      serialize(
        xml("iq", { type: "get", id, from: domain, to: domain }, xml("ping", { xmlns: NS_PING })),
      ),
    );
  }

  #keepalive(): void {
    if (this.#waiting !== undefined) return;
    const { domain, log } = this.#options;
    const id = this.#prefix + this.#count++;
    this.#waiting = id;
    this.#heard = false;
    this.#send(id);
    const timeoutMs = this.#io.timings().keepaliveTimeoutMs ?? 10_000;
    this.#deadline = setTimeout(() => {
      // Anything received since the ping proves the link alive: on a server
      // that shares the domain (ejabberd) the answer itself may have gone
      // to a sibling's look that closed before relaying it.
      if (this.#heard) {
        this.#waiting = undefined;
        return;
      }
      log.warning("stream.dead_link", { domain, unanswered_ms: timeoutMs });
      this.stop();
      this.#io.dead();
    }, timeoutMs);
  }

  /** A stanza arrived on the stream: the link is alive. */
  heard(): void {
    this.#heard = true;
  }
}

/**
 * The stanza to handle: `el` itself, or the one a sibling relayed to us in
 * it (only our own domain can send from it), or undefined for a relay that
 * does not parse.
 */
function unwrapRelay(el: XmlElement, domain: string): XmlElement | undefined {
  if (el.name !== "message" || el.attrs.from !== domain || el.attrs.to !== domain) return el;
  const relay = el.getChild("relay", NS_RELAY);
  if (!relay) return el;
  // A relay the server bounced (no connection took it): what it carried was
  // for a sibling that is gone; read again, it would be relayed again.
  if (el.attrs.type === "error") return undefined;
  try {
    return parseXml(relay.getText());
  } catch {
    return undefined;
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

/**
 * The keepalive: a self-ping (self_ping.ts) now and then proves the whole
 * path through the server works; a silently dead TCP link, which xmpp.js
 * never notices, shows as a ping left unanswered, and the link is closed.
 * Anything heard meanwhile also proves the link alive, unless our writes
 * are stuck (the socket has not taken the ping): a server that sends but
 * does not read is alive only by the ping's own answer.
 * Also the probes (a few pings right after connecting, so that a sibling
 * on the same domain hears of this stream soon) and the answers to pings.
 */
import type { Logger } from "../ops/log.ts";
import type { Proof } from "./proof.ts";
import { answerText, pingFields, pingText } from "./self_ping.ts";
import type { LinkTimings } from "./types.ts";

/** How many probes, and how far apart. */
const PROBES = 8;
const PROBE_EVERY_MS = 25;

/** What the keepalive needs from its stream. */
export interface KeepaliveIo {
  /** The current keepalive period and timeout. */
  timings(): LinkTimings;
  write(text: string): void;
  /** A mark after everything written so far (sent on its way at once). */
  mark(): number;
  /** Whether the socket has taken everything written up to `mark`. */
  taken(mark: number): boolean;
  /** A proof of `fields`, made now (proof.ts). */
  sign(fields: readonly string[]): Proof;
  /** A ping went unanswered: the link is dead. */
  dead(): void;
}

/** The keepalive and probes of one stream, whose self-ping ids start with `prefix`. */
export class Keepalive {
  readonly #domain: string;
  readonly #log: Logger;
  readonly #prefix: string;
  readonly #io: KeepaliveIo;
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  #interval: ReturnType<typeof setInterval> | undefined;
  #deadline: ReturnType<typeof setTimeout> | undefined;
  #count = 0;
  /** The id of the keepalive ping awaiting its answer. */
  #waiting: string | undefined;
  /** Whether anything arrived since the last keepalive ping was sent. */
  #heard = false;
  /** The write mark right after the keepalive ping awaiting its answer. */
  #pingMark = 0;
  #running = false;

  constructor(domain: string, log: Logger, prefix: string, io: KeepaliveIo) {
    this.#domain = domain;
    this.#log = log;
    this.#prefix = prefix;
    this.#io = io;
  }

  /** Probes, then pings every keepalive period. */
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

  stop(): void {
    this.#running = false;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    clearInterval(this.#interval);
    clearTimeout(this.#deadline);
    this.#waiting = undefined;
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
        this.#io.write(this.#pingText(this.#prefix + this.#count++));
      }, i * PROBE_EVERY_MS);
      this.#timers.add(timer);
    }
  }

  /** A stanza arrived on the stream: the link is alive. */
  heard(): void {
    this.#heard = true;
  }

  /** Answers a self-ping, ours or a sibling's: signed, since it may reach another connection. */
  answer(id: string): void {
    const by = this.#prefix;
    this.#io.write(answerText(this.#domain, id, by, this.#io.sign(pingFields("result", id, by))));
  }

  /** The answer (or bounce) of the self-ping `id` arrived. */
  answered(id: string): void {
    if (id !== this.#waiting) return;
    this.#waiting = undefined;
    clearTimeout(this.#deadline);
  }

  #pingText(id: string): string {
    return pingText(this.#domain, id, this.#io.sign(pingFields("get", id, undefined)));
  }

  #every(): void {
    const every = this.#io.timings().keepaliveMs ?? 30_000;
    this.#interval = every > 0 ? setInterval(() => this.#ping(), every) : undefined;
  }

  #ping(): void {
    if (this.#waiting !== undefined) return;
    const id = this.#prefix + this.#count++;
    this.#waiting = id;
    this.#heard = false;
    this.#io.write(this.#pingText(id));
    this.#pingMark = this.#io.mark();
    const timeoutMs = this.#io.timings().keepaliveTimeoutMs ?? 10_000;
    this.#deadline = setTimeout(() => {
      // Anything received since the ping proves the link alive: on a server
      // that shares the domain (ejabberd) the answer itself may have gone
      // to a sibling's look that closed before relaying it. Not while the
      // ping itself is stuck in our send buffer.
      const stuck = !this.#io.taken(this.#pingMark);
      if (this.#heard && !stuck) {
        this.#waiting = undefined;
        return;
      }
      this.#log.warning("stream.dead_link", {
        domain: this.#domain,
        unanswered_ms: timeoutMs,
        ...(stuck ? { writes: "stuck" } : {}),
      });
      this.stop();
      this.#io.dead();
    }, timeoutMs);
  }
}

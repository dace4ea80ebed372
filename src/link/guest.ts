/**
 * A guest stream: one connection for a domain that an instance of the
 * proxy may be serving, which never serves it itself (the live check's,
 * src/app/live_probe.ts). Its owner says which stanzas are its own (the
 * answers to what it sent); on a server that shares the domain between
 * connections (ejabberd hands each stanza to a random one), every other
 * stanza goes on to the serving instance as a relay with a proof
 * (relay.ts), as a standby's look does, and the instance's self-pings are
 * answered, so that nothing meant for it is lost while the guest is there.
 *
 * Like a look, the guest holds what is not its owner's for a moment after
 * connecting, until a sibling shows itself (its ping, its answer to one of
 * the guest's probes, or its relay) or the moment is over: then no
 * instance serves, and the owner hears of each such stanza (to answer a
 * request with an error). The guest names itself the newest instance there
 * can be, so that no instance ever steps back for it (sibling.ts).
 */
import { isOversized, serialize, type XmlElement } from "../core/xml.ts";
import { endpointOf, type TlsOptions } from "./endpoint.ts";
import { Keepalive } from "./keepalive.ts";
import { logger } from "../ops/log.ts";
import { Prover } from "./proof.ts";
import { readRelay, relayText } from "./relay.ts";
import {
  type CheckProof,
  type Instance,
  pingPrefix,
  pingSender,
  readSelfPing,
} from "./self_ping.ts";
import { LOOK_MS } from "./sibling.ts";
import { MAX_STANZA_SIZE } from "./types.ts";
import { describe, XmppStream } from "./xmpp_stream.ts";
import { NO_ANSWER, NO_ANSWER_HINT } from "./ending.ts";
import { TlsFailure } from "./tls.ts";

/** The default largest stanza read (1 MB), as the link's. */
/** The default send buffer limit (8 MB), as the link has it. */
const MAX_SEND_BUFFER = 8 * 1024 * 1024;
/** A relay's proof vouches for what it carries. */
const VOUCHED: CheckProof = () => "valid";

/** What the guest tells its owner. */
export interface GuestHandlers {
  /**
   * A stanza arrived: whether it is the owner's alone. One that is not
   * goes on to the serving instance (the owner may read it first).
   */
  readonly onStanza: (stanza: XmlElement) => boolean;
  /**
   * A stanza not the owner's, with no instance known to serve the domain:
   * nobody else will see it (the owner answers a request with an error).
   */
  readonly onOrphan: (stanza: XmlElement) => void;
}

/** Options of {@link openGuest}. */
export interface GuestOptions {
  /** `xmpp://host:port` of the server's component listener. */
  readonly url: string;
  readonly domain: string;
  readonly secret: string;
  /** Connecting and authenticating takes this long at most (and 10 s at most). */
  readonly timeoutMs: number;
  readonly handlers: GuestHandlers;
  /** The largest stanza read, in characters. Default: 1 MB. */
  readonly maxStanzaSize?: number;
  /** For `xmpps://`: the CA to trust and the name to check. Default: the system's, the host. */
  readonly tls?: TlsOptions;
  /**
   * The secret the serving instance proves its relays and pings with, when
   * the guest authenticates with another (a reload's new one). Default: `secret`.
   */
  readonly proofSecret?: string;
  /**
   * Another secret an instance may still hold: the guest also pings with
   * it, so that such an instance answers and shows itself (among
   * {@link Guest.strangers}), where it would drop a ping it cannot prove.
   */
  readonly alsoPingWith?: string;
  /**
   * The instance the guest checks for (a reload's trial: the proxy's own
   * link, maybe in a look): seen, it is among {@link Guest.siblings}, but it
   * ends no look, since it says nothing of another instance serving.
   */
  readonly ownInstance?: string;
}

/** The guest stream, as its owner uses it. */
export interface Guest {
  /**
   * Resolves once the look is over: whether another instance serves the
   * domain beside the guest (a sibling showed itself).
   */
  readonly look: Promise<boolean>;
  /** Whether a sibling has shown itself so far. */
  readonly beside: boolean;
  /** Stanzas not the owner's that went on to the serving instance. */
  readonly passedOn: number;
  /** Stanzas not the owner's that arrived while closing: they could go nowhere. */
  readonly lostAtClose: number;
  /** The instances that proved themselves beside the guest: id → since when their stream is up. */
  readonly siblings: ReadonlyMap<string, number>;
  /**
   * The instances whose pings carried a proof made with
   * {@link GuestOptions.alsoPingWith}'s secret: id → since when their stream is up.
   */
  readonly strangers: ReadonlyMap<string, number>;
  /** Resolves when the stream ends: why (a stream error, a socket error), or undefined. */
  readonly ended: Promise<string | undefined>;
  /** Sends a stanza (nothing once closing). */
  send(stanza: XmlElement): void;
  /** Closes the stream politely, and drops it after `ms` at most. */
  close(ms: number): Promise<void>;
}

/** Why a guest could not connect: `condition` is the server's stream error, if it said one. */
export class GuestError extends Error {
  readonly condition: string | undefined;

  constructor(message: string, condition?: string) {
    super(message);
    this.name = "GuestError";
    this.condition = condition;
  }
}

/** Connects and authenticates; rejects with a {@link GuestError}. */
export async function openGuest(options: GuestOptions): Promise<Guest> {
  const guest = new GuestStream(options);
  await guest.open();
  return guest;
}

/** What the guest does with a stanza not its owner's. */
type Mode = "looking" | "alone" | "beside" | "closing";

class GuestStream implements Guest {
  readonly #options: GuestOptions;
  /** Always the newest: `since` is the largest time there is. */
  readonly #self: Instance = {
    id: crypto.randomUUID().slice(0, 8),
    since: Number.MAX_SAFE_INTEGER,
  };
  /** Names this stream in its pings, answers and relays. */
  readonly #mark = pingPrefix(this.#self);
  readonly #prover: Prover;
  readonly #stream: XmppStream;
  readonly #keepalive: Keepalive;
  /** Pings proved with {@link GuestOptions.alsoPingWith}, and their prover, if any. */
  readonly #otherPings: Keepalive | undefined;
  readonly #otherProver: Prover | undefined;
  #mode: Mode = "looking";
  /** What the look holds until it knows whether a sibling serves. */
  #held: XmlElement[] = [];
  #lookTimer: ReturnType<typeof setTimeout> | undefined;
  #settle: (beside: boolean) => void = () => {};
  readonly look: Promise<boolean>;
  readonly ended: Promise<string | undefined>;
  passedOn = 0;
  lostAtClose = 0;
  readonly siblings = new Map<string, number>();
  readonly strangers = new Map<string, number>();

  constructor(options: GuestOptions) {
    this.#options = options;
    const { url, domain, secret } = options;
    this.#prover = new Prover(domain, options.proofSecret ?? secret);
    this.look = new Promise((resolve) => (this.#settle = resolve));
    this.#stream = new XmppStream({
      url,
      endpoint: endpointOf(url, options.tls),
      domain,
      secret,
      maxStanza: () => options.maxStanzaSize ?? MAX_STANZA_SIZE,
      // A guest writes little: the stall bound is the check's own patience.
      sendLimits: () => ({ maxBuffered: MAX_SEND_BUFFER, stallMs: options.timeoutMs }),
      onStanza: (el) => this.#receive(el),
    });
    this.ended = this.#stream.closed.then(() => undefined, (error) => describe(error));
    this.#keepalive = this.#pinger(this.#prover);
    this.#otherProver = options.alsoPingWith === undefined
      ? undefined
      : new Prover(domain, options.alsoPingWith);
    this.#otherPings = this.#otherProver && this.#pinger(this.#otherProver);
  }

  /** Probes proved by `prover`, and answers (the guest keeps no keepalive of its own). */
  #pinger(prover: Prover): Keepalive {
    const { domain } = this.#options;
    return new Keepalive(domain, logger(domain), this.#mark, {
      timings: () => ({ keepaliveMs: 0 }),
      write: (text) => this.#write(text),
      mark: () => this.#stream.mark(),
      taken: (mark) => this.#stream.taken(mark),
      sign: (fields) => prover.sign(fields, Date.now()),
      dead: () => {},
    });
  }

  get beside(): boolean {
    return this.#mode === "beside";
  }

  async open(): Promise<void> {
    const { timeoutMs } = this.#options;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const opening = this.#stream.open();
    try {
      await Promise.race([
        opening,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer from the server within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } catch (error) {
      opening.catch(() => {});
      this.#stream.drop();
      const condition = (error as { condition?: string } | undefined)?.condition;
      throw new GuestError(said(error), condition);
    } finally {
      clearTimeout(timer);
    }
    // Pings at once, so that a sibling hears of the guest (and shows itself) soon.
    this.#keepalive.probe();
    this.#otherPings?.probe();
    this.#lookTimer = setTimeout(() => this.#alone(), LOOK_MS);
  }

  send(stanza: XmlElement): void {
    if (this.#mode !== "closing") this.#write(serialize(stanza));
  }

  async close(ms: number): Promise<void> {
    // What the look still holds has nobody else to go to.
    this.#alone();
    this.#mode = "closing";
    this.#keepalive.stop();
    this.#otherPings?.stop();
    await this.#stream.closeWithin(ms);
  }

  #write(text: string): void {
    this.#stream.write(text).catch(() => {
      // The stream's end says why.
    });
  }

  /**
   * A stanza from the stream: a relay is opened (its proof must hold), a
   * self-ping answered and read for a sibling; anything else is the
   * owner's to claim.
   */
  #receive(el: XmlElement): void {
    const { domain } = this.#options;
    // Its payload was skipped: no relay or ping is read in it, and it is
    // passed on marked as too big (relay.ts).
    if (isOversized(el)) return this.#forOwner(el, { relayable: true, returned: false });
    const now = Date.now();
    const check: CheckProof = (fields, proof) => this.#prover.check(fields, proof, now);
    let stanza = el;
    let returned = false;
    const relay = readRelay(el, domain, check);
    if (relay !== undefined) {
      // A bounce, or a relay without a proof that holds: dropped, as the link does.
      if (relay.kind !== "relay") return;
      const sender = pingSender(relay.by);
      if (sender === undefined) return;
      // One of ours, come back from the server: it goes on again.
      returned = sender.id === this.#self.id;
      if (!returned) this.#siblingSeen(sender);
      stanza = relay.stanza;
    }
    const ping = readSelfPing(stanza, domain, stanza === el ? check : VOUCHED);
    if (ping === undefined) return this.#forOwner(stanza, { relayable: true, returned });
    if (ping.type === "error" || ping.verdict !== "valid") {
      if (ping.verdict === "bad" && stanza === el) this.#stranger(el, now);
      return;
    }
    if (ping.asks && this.#mode !== "closing") this.#keepalive.answer(ping.id);
    if (stanza === el) {
      for (const mark of [ping.id, ping.by]) {
        if (this.#isSibling(mark)) this.#siblingSeen(pingSender(mark)!);
      }
    }
    // The answer to a sibling's ping: it goes on, or its keepalive would miss it.
    if (ping.type === "result" && this.#isSibling(ping.id)) this.#passOn(stanza);
  }

  /** A stanza for the owner: claimed, passed on, held, or an orphan. */
  #forOwner(stanza: XmlElement, how: { relayable: boolean; returned: boolean }): void {
    if (this.#options.handlers.onStanza(stanza)) return;
    if (this.#mode === "closing") {
      this.lostAtClose++;
      return;
    }
    if (!how.relayable) return this.#options.handlers.onOrphan(stanza);
    switch (this.#mode) {
      case "beside":
        if (!how.returned) this.passedOn++;
        return this.#passOn(stanza);
      case "looking":
        this.#held.push(stanza);
        return;
      case "alone":
        return this.#options.handlers.onOrphan(stanza);
    }
  }

  /** A ping whose proof the other secret makes: an instance that still holds that one. */
  #stranger(el: XmlElement, now: number): void {
    const other = this.#otherProver;
    if (other === undefined) return;
    const check: CheckProof = (fields, proof) => other.check(fields, proof, now);
    const ping = readSelfPing(el, this.#options.domain, check);
    if (ping?.verdict !== "valid") return;
    for (const mark of [ping.id, ping.by]) {
      const sender = pingSender(mark);
      if (this.#isSibling(mark)) this.strangers.set(sender!.id, sender!.since);
    }
  }

  /** Whether a self-ping id or answer's `by` names another instance. */
  #isSibling(mark: string | undefined): boolean {
    const sender = pingSender(mark);
    return sender !== undefined && sender.id !== this.#self.id;
  }

  /** Another instance serves beside us: what the look held goes on to it. */
  #siblingSeen(sibling: Instance): void {
    this.siblings.set(sibling.id, sibling.since);
    if (sibling.id === this.#options.ownInstance) return;
    if (this.#mode === "beside" || this.#mode === "closing") return;
    this.#mode = "beside";
    clearTimeout(this.#lookTimer);
    const held = this.#held;
    this.#held = [];
    this.passedOn += held.length;
    for (const stanza of held) this.#passOn(stanza);
    this.#settle(true);
  }

  /** The look is over without a sibling: nobody else serves the domain. */
  #alone(): void {
    clearTimeout(this.#lookTimer);
    if (this.#mode !== "looking") return;
    this.#mode = "alone";
    const held = this.#held;
    this.#held = [];
    for (const stanza of held) this.#options.handlers.onOrphan(stanza);
    this.#settle(false);
  }

  /** Hands a stanza to the serving instance, through the server. */
  #passOn(stanza: XmlElement): void {
    if (this.#mode === "closing") return;
    const sign = (fields: readonly string[]) => this.#prover.sign(fields, Date.now());
    const { domain, maxStanzaSize } = this.#options;
    this.#write(relayText(stanza, domain, this.#mark, sign, maxStanzaSize ?? MAX_STANZA_SIZE));
  }
}

/** Why a connection failed, as the link's own log would say it: with the reason and hint. */
function said(error: unknown): string {
  if (error instanceof TlsFailure) return `TLS failed: ${error.reason} (${error.hint})`;
  const failure = describe(error);
  const hint = (error as { hint?: unknown } | undefined)?.hint ??
    (failure.startsWith(NO_ANSWER) ? NO_ANSWER_HINT : undefined);
  return typeof hint === "string" ? `${failure} (${hint})` : failure;
}

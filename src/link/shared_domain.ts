/**
 * The link's side of a domain the server may share between connections:
 * each stanza from the stream is read here before the owner sees it (a
 * relay or a self-ping is ours, taken only when its proof holds), and the
 * sibling decisions (sibling.ts) are carried out.
 */
import { isOversized, type XmlElement } from "../core/xml.ts";
import { ForgeryLog } from "./forgery_log.ts";
import type { Keepalive } from "./keepalive.ts";
import { BROKEN_RULE, type Prover } from "./proof.ts";
import { readRelay, relayText } from "./relay.ts";
import { type CheckProof, type Instance, readSelfPing } from "./self_ping.ts";
import { type SiblingDecision, SiblingWatch } from "./sibling.ts";
import type { LinkOptions } from "./types.ts";

/** What a relay's proof vouches for. */
const VOUCHED: CheckProof = () => "valid";

/** What the shared domain needs of the link's current stream. */
export interface CurrentStream {
  /** Its keepalive, which hears every stanza and the answers to its pings. */
  keepalive(): Keepalive | undefined;
  /** Whether it is online (a relay is written only then). */
  online(): boolean;
  /** Its mark (its self-ping prefix), which signs its relays. */
  mark(): string;
  /** The stanza size limit in force (the sibling's too, as both share the config). */
  maxStanza(): number;
  write(text: string): void;
  /** Hands a stanza this instance serves to the owner. */
  serve(el: XmlElement): void;
  /** Closes it in `ms` (a later stream is not affected). */
  closeIn(ms: number): void;
}

/** Relays and self-pings in, sibling decisions out. */
export class SharedDomain {
  readonly #options: LinkOptions;
  readonly #prover: Prover;
  readonly #stream: CurrentStream;
  readonly #siblings = new SiblingWatch<XmlElement>();
  readonly #forgeries: ForgeryLog;
  /** The looks' timers, cleared by {@link stop}: a stopped link keeps no process alive. */
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();

  /** @param prover proves our relays, checks those that arrive */
  constructor(options: LinkOptions, prover: Prover, stream: CurrentStream) {
    this.#options = options;
    this.#prover = prover;
    this.#stream = stream;
    this.#forgeries = new ForgeryLog(options.log, options.domain);
  }

  /** A stream opens as `self`; `look`: a look from standby. */
  open(self: Instance, look: boolean): void {
    this.#siblings.open(self, look);
  }

  /** The link stops: no look ends after it. */
  stop(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  /** The stream is online. */
  online(): void {
    this.#apply(this.#siblings.online());
  }

  /** Whether the stream that just ended was closed to stand by for a sibling. */
  ended(): boolean {
    return this.#siblings.ended();
  }

  /**
   * A stanza from the stream: ours (a relay, a self-ping) or the owner's.
   * Ours are read here, before the router: only those whose proof holds
   * are taken; anything else from our domain to itself shaped like one is
   * dropped.
   */
  receive(el: XmlElement): void {
    const { domain } = this.#options;
    const keepalive = this.#stream.keepalive();
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
   * and counted. `by`: the stream it names, if any.
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
        return this.#stream.serve(stanza);
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
          if (decision.probe) this.#stream.keepalive()?.probe();
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
          this.#stream.closeIn(decision.closeInMs);
          break;
        }
        case "take-over":
          log.info("stream.taking_over", { domain, held: decision.held.length });
          handlers.onTakeOver?.();
          for (const el of decision.held) handlers.onStanza(el);
          break;
        case "look": {
          const stream = decision.stream;
          const timer = setTimeout(() => {
            this.#timers.delete(timer);
            this.#apply(this.#siblings.lookOver(stream));
          }, decision.inMs);
          this.#timers.add(timer);
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
    if (!this.#stream.online()) return;
    const sign = (fields: readonly string[]) => this.#prover.sign(fields, Date.now());
    const { domain } = this.#options;
    this.#stream.write(relayText(el, domain, this.#stream.mark(), sign, this.#stream.maxStanza()));
  }
}

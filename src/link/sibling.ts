/**
 * Who serves a domain that the server shares between connections (ejabberd
 * hands each stanza to a random one, so two instances would each drop the
 * other's replies): a pure state machine. Events in — a stream opens, comes
 * online or ends; a self-ping of another instance arrives; a stanza
 * arrives; a look's time is up — and decisions out, which the link applies.
 * No clock is read and nothing is written: the time comes with the events.
 *
 * The instance online longer (then the lower id) serves. The other hands
 * over: it answers what is pending, relays to the sibling what reaches it,
 * closes and stands by, looking in again now and then. A look holds what
 * arrives for a moment; if no sibling shows itself meanwhile, the one stood
 * by for is gone, and the look takes over, beginning with what it held.
 *
 * Only a sibling's ping or answer straight from the server shows it: a
 * bounce (a stanza the server could not deliver, maybe after its sender
 * died) or a ping inside a relay proves only that some instance saw it once.
 * And only one whose proof holds (proof.ts): anything else shaped like a
 * ping is forged, and changes nothing.
 *
 * Relays are taken only while a sibling is known to be connected beside
 * this instance: a relay of another instance (its proof holding) shows one
 * itself; one of this instance, come back from the server, is taken only
 * within {@link SIBLING_MEMORY_MS} of the last sign of a sibling (it
 * relays only when stepping back for one). On a server that gives each
 * domain one connection (Prosody) no other instance's stanza ever arrives,
 * so no relay is ever taken there.
 */
import type { Verdict } from "./proof.ts";
import { type Instance, pingSender, type SelfPing } from "./self_ping.ts";

/** How long a look from standby holds what it receives before taking over. */
export const LOOK_MS = 400;
/** How long an instance stepping back keeps relaying before it closes. */
export const RELAY_DRAIN_MS = 100;
/**
 * A newer sibling is probed for (so that it hears of us) at most this
 * often, but at once for each new stream of it (a look from standby).
 */
export const PROBE_GAP_MS = 1_000;
/**
 * How long after the last sign of a sibling our own relays are still taken
 * back: they come back within a proof's validity window of being sent.
 */
export const SIBLING_MEMORY_MS = 60_000;

/** Where a stanza that arrived goes. */
export type Route =
  /** To the owner. */
  | "serve"
  /** Held by the look (see the "take-over" and "step-back" decisions). */
  | "hold"
  /** To the sibling, through the server. */
  | "relay"
  /** Nowhere: its stream is over. */
  | "drop";

/** What the link does, in order. */
export type SiblingDecision<S> =
  /** `ping` shows `sibling` (say so, at debug). */
  | { readonly kind: "seen"; readonly sibling: Instance; readonly ping: SelfPing }
  /**
   * We serve on beside a newer sibling, which will step back. `report`: say
   * so (once per sibling); `probe`: ping now, so that it hears of us.
   */
  | {
    readonly kind: "serve-on";
    readonly sibling: string;
    readonly report: boolean;
    readonly probe: boolean;
  }
  /**
   * An older sibling serves: answer what is pending, relay `relay` (what the
   * look held), close the stream in `closeInMs`; until then every stanza
   * is relayed. `report`: say so (once per sibling).
   */
  | {
    readonly kind: "step-back";
    readonly sibling: string;
    readonly report: boolean;
    readonly relay: readonly S[];
    readonly closeInMs: number;
  }
  /** No sibling showed itself during the look: serve, beginning with `held`. */
  | { readonly kind: "take-over"; readonly held: readonly S[] }
  /** Tell {@link SiblingWatch.lookOver} in `inMs` that the look of `stream` is over. */
  | { readonly kind: "look"; readonly stream: number; readonly inMs: number }
  /** Pass `stanza` on to the sibling. */
  | { readonly kind: "relay"; readonly stanza: S }
  /** `ping` is shaped like a self-ping but its proof fails: drop it, say so. */
  | {
    readonly kind: "forged";
    readonly ping: SelfPing;
    readonly verdict: Exclude<Verdict, "valid">;
  };

/** What the current stream does with what arrives. */
type Mode = "serving" | "looking" | "stepping-back" | "ended";

const NONE: readonly never[] = [];

/** The sibling decision of one link, over all its streams; `S`: a stanza. */
export class SiblingWatch<S> {
  /** Siblings already reported: each is said once, not at every look. */
  readonly #reported = new Set<string>();
  #probedAt = -Infinity;
  /** The sibling stream last probed for (`id` and `since`). */
  #probedFor = "";
  #self: Instance | undefined;
  /** The current stream's number, to tell a look's end from an earlier stream's. */
  #stream = 0;
  #mode: Mode = "ended";
  /** What a look holds. */
  #held: S[] = [];
  /** When a sibling last showed itself (a ping, answer or relay of another instance). */
  #siblingAt = -Infinity;

  /**
   * A stream of `self` opens (`self.since`: now); `look`: from standby, it
   * holds what arrives until its look is over. Returns the stream's number.
   */
  open(self: Instance, look: boolean): number {
    this.#self = self;
    this.#mode = look ? "looking" : "serving";
    this.#held = [];
    return ++this.#stream;
  }

  /** The stream is online (authenticated): a look's time starts. */
  online(): readonly SiblingDecision<S>[] {
    if (this.#mode !== "looking") return NONE;
    return [{ kind: "look", stream: this.#stream, inMs: LOOK_MS }];
  }

  /** The time of stream number `stream`'s look is up. */
  lookOver(stream: number): readonly SiblingDecision<S>[] {
    if (stream !== this.#stream || this.#mode !== "looking") return NONE;
    this.#mode = "serving";
    const held = this.#held;
    this.#held = [];
    return [{ kind: "take-over", held }];
  }

  /** The stream ended. Returns whether it stepped back for a sibling: then stand by. */
  ended(): boolean {
    const steppedBack = this.#mode === "stepping-back";
    this.#mode = "ended";
    this.#held = [];
    return steppedBack;
  }

  /** A stanza for the owner arrived (anything but a self-ping). */
  route(stanza: S): Route {
    switch (this.#mode) {
      case "serving":
        return "serve";
      case "looking":
        this.#held.push(stanza);
        return "hold";
      case "stepping-back":
        return "relay";
      case "ended":
        return "drop";
    }
  }

  /**
   * A self-ping, answer or bounce arrived (`stanza`); `relayed`: inside a
   * relay; `now`: ms since the epoch.
   */
  selfPing(
    ping: SelfPing,
    relayed: boolean,
    stanza: S,
    now: number,
  ): readonly SiblingDecision<S>[] {
    // A bounce is never passed on either: it could come back to us as a
    // bounce again, look after look.
    if (ping.type === "error") return NONE;
    // Not even passed on: a sibling's own keepalive needs no forgery.
    if (ping.verdict !== "valid") return [{ kind: "forged", ping, verdict: ping.verdict }];
    const self = this.#self;
    if (self === undefined) return NONE;
    const decisions: SiblingDecision<S>[] = [];
    // A sibling's ping, an answer to its ping, or its answer. Our own from an
    // earlier stream of this process (the server may deliver it late) is none.
    for (const mark of relayed ? [] : [ping.id, ping.by]) {
      const other = pingSender(mark);
      if (other === undefined || other.id === self.id) continue;
      decisions.push({ kind: "seen", sibling: other, ping });
      this.#siblingAt = now;
      this.#evidence(self, other, now, decisions);
    }
    // The answer to a sibling's ping, reaching us while we do not serve: it
    // goes on to the sibling, or its keepalive would think its link dead.
    const sender = ping.type === "get" ? undefined : pingSender(ping.id);
    if (sender !== undefined && sender.id !== self.id) {
      if (this.#mode === "stepping-back") decisions.push({ kind: "relay", stanza });
      else if (this.#mode === "looking") this.#held.push(stanza);
    }
    return decisions;
  }

  /**
   * A relay whose proof holds arrived from the stream `by` names (its
   * self-ping prefix) at `now`: whether to take what it carries.
   */
  relayFrom(by: string, now: number): boolean {
    const sender = pingSender(by);
    const self = this.#self;
    if (sender === undefined || self === undefined) return false;
    if (sender.id !== self.id) {
      this.#siblingAt = now;
      return true;
    }
    return now - this.#siblingAt <= SIBLING_MEMORY_MS;
  }

  /** `other` serves the domain beside `self`: which one steps back. */
  #evidence(self: Instance, other: Instance, now: number, decisions: SiblingDecision<S>[]): void {
    const olderThanUs = other.since < self.since ||
      (other.since === self.since && other.id < self.id);
    if (!olderThanUs) {
      const report = this.#report(other.id);
      // Make sure the newer one hears of us, whatever connection gets what:
      // each look of it, however soon after the last (its waits are random).
      const stream = `${other.id}-${other.since}`;
      const probe = now - this.#probedAt > PROBE_GAP_MS || stream !== this.#probedFor;
      if (probe) {
        this.#probedAt = now;
        this.#probedFor = stream;
      }
      decisions.push({ kind: "serve-on", sibling: other.id, report, probe });
      return;
    }
    if (this.#mode === "stepping-back" || this.#mode === "ended") return;
    const relay = this.#mode === "looking" ? this.#held : [];
    this.#mode = "stepping-back";
    this.#held = [];
    decisions.push({
      kind: "step-back",
      sibling: other.id,
      report: this.#report(other.id),
      relay,
      closeInMs: RELAY_DRAIN_MS,
    });
  }

  /** Whether `sibling` is to be reported (the first time only). */
  #report(sibling: string): boolean {
    if (this.#reported.has(sibling)) return false;
    this.#reported.add(sibling);
    return true;
  }
}

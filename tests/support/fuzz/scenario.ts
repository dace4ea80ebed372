/**
 * What a fuzzing scenario is: settings, a small world of addresses and ids,
 * and a sequence of actions. Actions name things by index ("reply to a
 * request the model knows was forwarded"), resolved against the model at
 * run time, so a scenario stays meaningful while fast-check shrinks it.
 */
import type { RouterSettings } from "../../../src/core/router.ts";

/** Time that passes before an action: milliseconds, or relative to the timeout in force. */
export type Dt = number | "t-1" | "t" | "t+1";

/** Which `to` a stanza from outside carries. */
export type ToVariant =
  | { readonly k: "bare" }
  | { readonly k: "resource"; readonly resource: string }
  | { readonly k: "jat"; readonly requester: number }
  | { readonly k: "upper"; readonly resource: string | undefined }
  | { readonly k: "other"; readonly which: number }
  | { readonly k: "missing" };

/** Which `id` a stanza carries: one of the world's (so ids get reused), none, or a new one. */
export type IdVariant = number | "missing" | "fresh";

/** How a reply from the target is made from a request the model knows. */
export type Forge =
  | "genuine"
  | "late"
  | "wrong-id"
  | "wrong-resource"
  | "non-target"
  | "bare-to"
  | "other-jat"
  | "no-id"
  | "upper-to"
  | "upper-from"
  | "bad-address";

/** What the reply says. */
export type ReplyKind =
  | "result"
  | "app-error"
  | "bounce"
  | "bounce-recipient"
  | "error-no-condition"
  | "error-foreign-ns";

/** A stanza from someone (usually not the target) to (usually) the domain. */
export interface StanzaAction {
  readonly kind: "stanza";
  readonly dt: Dt;
  /** Index into the world's requesters, or -1 for no `from`. */
  readonly from: number;
  readonly to: ToVariant;
  readonly name: string;
  readonly type: string | undefined;
  readonly id: IdVariant;
  readonly payload: number;
  /** How many identical copies arrive in a row (reused ids). */
  readonly copies: number;
  /** Carried over from a closed stream: it arrived this many ms before it is routed. */
  readonly late?: number;
}

/** Presence from the target's account. */
export interface PresenceAction {
  readonly kind: "presence";
  readonly dt: Dt;
  /** Index into the world's resources, or -1 for the bare JID. */
  readonly resource: number;
  readonly type: string | undefined;
  readonly priority: string | undefined;
  /** Its `<show/>`: `dnd` drains the resource. */
  readonly show: string | undefined;
  /** Whether the bare JID is written in another case. */
  readonly upper: boolean;
  /** The `to`: the bare domain (usually), a resource of it, or it in capitals. */
  readonly to: "bare" | "resource" | "upper";
}

/**
 * A reply the model can make genuine: the target's iq result/error to a
 * forwarded request (to `<domain>/<something>`), a peer's iq result/error to
 * a request the target started (to the bare domain), or a peer's message
 * error about a message the target sent.
 */
export interface ReplyAction {
  readonly kind: "reply";
  readonly of: "request" | "initiated" | "message";
  readonly dt: Dt;
  readonly pick: number;
  readonly forge: Forge;
  readonly reply: ReplyKind;
  /** Over max_stanza_size (hostile): its payload is skipped unread. */
  readonly oversized?: boolean;
}

/** An iq get/set or a message from one of the target's resources. */
export interface TargetStanzaAction {
  readonly kind: "target-stanza";
  readonly dt: Dt;
  readonly resource: number;
  readonly name: "iq" | "message";
  readonly type: string | undefined;
  readonly to: ToVariant;
  readonly id: IdVariant;
  /** What it carries (see stanzas.ts): with `hostile`, a forged relay or sibling ping too. */
  readonly payload: number;
  /** Carried over from a closed stream: it arrived this many ms before it is routed. */
  readonly late?: number;
}

/**
 * The proxy restarts (`hostile`): a new router with randomness of its own, the
 * old one's requests lost with it, the subscribers kept; then it comes
 * online and `back` resources announce themselves.
 */
export interface RestartAction {
  readonly kind: "restart";
  readonly dt: Dt;
  readonly back: number;
}

/**
 * A write of the other instance to the store both share (`state_dir` on
 * one host), while this one stands by: a room pinned (or moved) or
 * unpinned, a subscriber added or removed. Indexes into the world's rooms
 * and {@link subscriberPool}.
 */
export type SiblingWrite =
  | { readonly kind: "pin"; readonly room: number; readonly resource: number }
  | { readonly kind: "unpin"; readonly room: number }
  | { readonly kind: "subscribe" | "unsubscribe"; readonly who: number };

/** What the server hands a look from standby: held, then served or relayed. */
export type HeldAction = StanzaAction | PresenceAction | ReplyAction | TargetStanzaAction;

/**
 * A look from standby (ejabberd, docs/production.md "A hot standby"): a
 * connection that serves nothing at first, holding what it is handed.
 */
export interface Look {
  /** How long the instance stands by before it looks. */
  readonly wait: Dt;
  /** The other instance's writes to the shared store meanwhile. */
  readonly before: readonly SiblingWrite[];
  /** What arrives during the look, in order. */
  readonly held: readonly HeldAction[];
  /** The other instance's writes during the look (read again only by a take-over). */
  readonly during: readonly SiblingWrite[];
  /** How long the look lasts (400 ms without a sign of the sibling, or less when it finds it). */
  readonly ms: number;
  /** Whether the store's subscribers cannot be read during this look. */
  readonly unreadable: boolean;
}

/**
 * Another instance takes over the domain (Router.handOver); then looks
 * from standby, each finding the sibling (handOver again) but maybe the
 * last, which takes over (Router.takeOver) when `takeOver` is set. Without
 * it the run stands by: what arrives goes to the sibling.
 */
export interface HandOverAction {
  readonly kind: "hand-over";
  readonly dt: Dt;
  readonly looks: readonly Look[];
  readonly takeOver: boolean;
}

export type Action =
  | StanzaAction
  | PresenceAction
  | ReplyAction
  | TargetStanzaAction
  | RestartAction
  | HandOverAction
  | { readonly kind: "tick"; readonly dt: Dt }
  | {
    readonly kind: "online";
    readonly dt: Dt;
    /** How many resources announce themselves again after the reconnect. */
    readonly back: number;
  }
  | {
    readonly kind: "reload";
    readonly settings: Tunables;
    /** `drain`: resources by their index in the world's (mod its length); absent: unchanged. */
    readonly drain?: readonly number[];
  }
  | { readonly kind: "drain" }
  | {
    readonly kind: "storm";
    readonly items: ReadonlyArray<PresenceAction | StanzaAction>;
  };

/** The settings a reload may change. */
export type Tunables = Pick<
  RouterSettings,
  "requestTimeoutMs" | "balance" | "maxPendingPerResource" | "maxPending"
>;

/** The addresses and ids a scenario draws from: few, so that they collide. */
export interface World {
  readonly requesters: readonly string[];
  readonly ids: readonly string[];
  readonly resources: readonly string[];
  /** The service's stored subscribers (presence: true), bare and lowercase. */
  readonly subscribers: readonly string[];
}

/** How a run ends. */
export type Ending = "none" | "settle" | "expire";

export interface Scenario {
  readonly settings: RouterSettings;
  /** Seed of the router's `random`. */
  readonly randomSeed: number;
  readonly world: World;
  /** Whether the stream is online before the first action (it usually is). */
  readonly online: boolean;
  /** How many of the world's resources come online before the first action. */
  readonly initialResources: number;
  /** Whether the shell's timer is simulated: a tick at every wake that time passes. */
  readonly timers: boolean;
  /** Whether stanzas the router sends to its own domain are delivered back to it. */
  readonly loopback: boolean;
  /**
   * Whether stanzas go through the wire's text both ways: each one the
   * router receives is serialised and read by the stream parser (so it is
   * a lazy element, as in production), and each one it sends is serialised
   * as the stream writes it and parsed back.
   */
  readonly roundTrip: boolean;
  readonly actions: readonly Action[];
  readonly ending: Ending;
}

/** What the generators produce. */
export interface ArbitraryOptions {
  /** Most actions per run (default 120). */
  readonly maxActions?: number;
  /**
   * Also send requests from addresses no server would stamp (empty, no
   * domain, starting with `/`, with controls, over-long parts), have the
   * implementing client address our own domain in other spellings and send
   * forged relays and sibling pings, and restart the proxy mid-run. Off by
   * default: the router trusts the server's `from`.
   */
  readonly hostile?: boolean;
}

/** The opt-in settings of RouterSettings (target requests, messages, presence, access, limits). */
export type Features = Omit<RouterSettings, "domain" | "targetAddress" | keyof Tunables>;

/** The subscribers a store may hold: bare and lowercase, as the router stores them. */
export function subscriberPool(domain: string): string[] {
  return ["alice@example.org", "bob@example.net", "example.com", `x@${domain}`];
}

/** Our own domain as the implementing client may spell it; the server routes them all to us. */
export function selfSpellings(domain: string): string[] {
  const fullWidth = [...domain].map((c) =>
    /[a-z]/.test(c) ? String.fromCharCode(c.charCodeAt(0) + 0xfee0) : c
  ).join("");
  return [
    `${domain}.`,
    `${domain.toUpperCase()}./x`,
    fullWidth,
    domain.replaceAll(".", "\u3002"),
    `someone@${domain}.`,
    `${domain.slice(0, 2)}\u00ad${domain.slice(2)}`,
  ];
}

/** Addresses no server stamps; sent only with `hostile`. */
export const HOSTILE_REQUESTERS: readonly string[] = [
  "",
  "/",
  "/0",
  "//0",
  "/1",
  "@",
  "a@",
  "@example.org",
  "x/",
  "tab@example.org/a\tb",
  `h@example.org/${"x".repeat(70_000)}`,
];

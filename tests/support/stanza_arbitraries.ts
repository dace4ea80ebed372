/**
 * Stanzas that try to break the router: fast-check generators of whole
 * scenarios (settings, a small world of addresses and ids, a sequence of
 * actions), the model that checks every step the router takes, and the
 * runner that drives one {@link Router} through a scenario.
 *
 * Actions are resolved against the model at run time ("reply to a request
 * the model knows was forwarded, from the resource it went to"), so a
 * scenario stays meaningful while fast-check shrinks it.
 *
 * The model is an observer, not a second router: it decides what the router
 * may answer from what it saw (requests, forwards, presence, time) and never
 * re-implements balancing. After every step it checks:
 *
 * 1. no exception;
 * 2. every stanza sent is from the domain or a resource of it;
 * 3. every iq result/error sent to a requester answers a get/set that
 *    requester sent with that id and that was not answered yet; a relayed
 *    reply is the one the target sent for that very forward (same id, sent
 *    to the `from` the router used, from the resource it went to);
 * 4. every get/set is answered exactly once: at once, or when its reply,
 *    failover, timeout or shutdown comes; none is pending after
 *    `settleAll` or after its deadline has been ticked;
 * 5. `pendingCount` equals the model's open requests and never exceeds
 *    max_pending; `resources` and `nextWake()` are what the model expects;
 *    nothing is pending and nothing is due after `settleAll`;
 * 6. what goes to the target's resources is a forwarded request or an
 *    error reply to the target's own stanza; presence goes to its bare JID;
 * 7. nothing is sent in reply to an error or an iq result;
 *
 * and that each decision is the right one: a request is refused only for a
 * reason that holds (no id, draining, access lists, the rate limit's bounds,
 * a pending duplicate, max_pending, the per-requester cap, no resource, all
 * resources full) and forwarded otherwise, to a resource that is online and
 * not full (negative priority only as a last resort; the least loaded under
 * least-pending); a failover re-sends a get at most once and never to the
 * resource it left; timeouts fire at their deadline, not before.
 *
 * The opt-in behaviours are generated too, each in some scenarios: requests
 * the target starts (each answered once, or forgotten with its resource),
 * messages both ways (and their errors back to the resource that sent
 * them), and the service's presence (sent to subscribers and probers only,
 * exactly when availability changes).
 */
import fc from "fast-check";
import type { Balance } from "../../src/core/balance.ts";
import { isPlausibleJid } from "../../src/core/jid.ts";
import { type Effects, Router, type RouterSettings } from "../../src/core/router.ts";
import { ANNOUNCE_AFTER_MS } from "../../src/core/service_presence.ts";
import { StreamParser } from "../../src/link/stream_parser.ts";
import { parseXml, serialize, xml, type XmlElement, type XmlNode } from "../../src/core/xml.ts";

export const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
const MAX_PART_BYTES = 1023;
const BACKOFF_MIN_MS = 1_000;
/** After (re)connecting, how long a request finding no resource waits (the router's LEARN_MS). */
const LEARN_MS = 1_000;
const BACKOFF_MAX_MS = 60_000;
/** Stanzas the router sends to its own domain come back; more than this per action is a loop. */
const MAX_LOOPBACK = 50;

// --- scenarios ---------------------------------------------------------------

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
}

/** Presence from the target's account. */
export interface PresenceAction {
  readonly kind: "presence";
  readonly dt: Dt;
  /** Index into the world's resources, or -1 for the bare JID. */
  readonly resource: number;
  readonly type: string | undefined;
  readonly priority: string | undefined;
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
}

export type Action =
  | StanzaAction
  | PresenceAction
  | ReplyAction
  | TargetStanzaAction
  | { readonly kind: "tick"; readonly dt: Dt }
  | {
    readonly kind: "online";
    readonly dt: Dt;
    /** How many resources announce themselves again after the reconnect. */
    readonly back: number;
  }
  | { readonly kind: "reload"; readonly settings: Tunables }
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
   * domain, starting with `/`, with controls, over-long parts). Off by
   * default: the router trusts the server's `from`.
   */
  readonly hostile?: boolean;
}

// --- generators ----------------------------------------------------------------

const DOMAINS = ["proxy.example.org", "kiosk.example.net"] as const;
const TARGETS = ["service@example.org", "bot@kiosk-users.example.net"] as const;

const ASCII = [..."abcdefghijklmnopqrstuvwxyz0123456789"];
/** Characters that escaping, case folding, byte counting or splitting could get wrong. */
const ODD = [..." /@:<>&\"'é☎𝄞ſ\u00a0\u200b\u2028\u202e\u212a\u0130\ufeff\ufffd", "]]>"];
const LOCAL_ODD = ["é", "☎", "𝄞", "ſ", "\u212a", "ß", "Ω", ".", "_", "-", "K", "Z"];

/** Any character an XML document can carry, controls excepted. */
const anyChar = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }),
  fc.integer({ min: 0xa0, max: 0xd7ff }),
  fc.integer({ min: 0xe000, max: 0xfffd }),
  fc.integer({ min: 0x10000, max: 0x10ffff }),
).map((cp) => String.fromCodePoint(cp));

const resourceChar = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...ASCII) },
  { weight: 3, arbitrary: fc.constantFrom(...ODD) },
  { weight: 1, arbitrary: anyChar },
);
/** A resourcepart a server could stamp: no controls, at most 1023 bytes. */
const resourcePart = fc.string({ unit: resourceChar, minLength: 1, maxLength: 10 });
const localPart = fc.string({
  unit: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...ASCII) },
    { weight: 1, arbitrary: fc.constantFrom(...LOCAL_ODD) },
  ),
  minLength: 1,
  maxLength: 8,
});
const domainPart = fc.constantFrom(
  "example.org",
  "example.net",
  "example.com",
  "bücher.example",
  "xn--bcher-kva.example",
  "a.b.c.d.example",
  "localhost",
  "127.0.0.1",
  "[::1]",
);
/** A JID as a server would stamp it in `from`: valid, but with odd bytes. */
const stampedJid = fc.record({
  local: fc.option(localPart, { nil: undefined }),
  domain: domainPart,
  resource: fc.option(resourcePart, { nil: undefined }),
}).map(({ local, domain, resource }) =>
  `${local === undefined ? "" : `${local}@`}${domain}${
    resource === undefined ? "" : `/${resource}`
  }`
);

/** Requesters worth having in every pool: case variants, lookalikes, our own domain, long ones. */
function specialRequesters(domain: string, target: string): string[] {
  const [local, targetDomain] = target.split("@");
  return [
    "alice@example.org/phone",
    "ALICE@example.org/phone",
    "alice@example.org/Phone",
    "alice@example.org",
    "bob@example.net/télé☎𝄞",
    "example.com",
    "example.com/admin",
    domain,
    `${domain}/loop`,
    `x@${domain}/y`,
    "eve@example.org/a/b/c",
    `q@example.org/<&"'> ]]>`,
    `${target}.evil/x`,
    `ſ${local}@${targetDomain}/x`,
    `${local}@evil.${targetDomain}/x`,
    // Which the router must take as the target itself:
    `${target.toUpperCase()}/intruder`,
    `${target}/intruder`,
    target,
    target.replace("k", "\u212a") + "/kelvin",
    // Either side of the 1023-byte limit of the mod_client_proxy form:
    `d@example.org/${"r".repeat(1023 - 14)}`,
    `d@example.org/${"r".repeat(1024 - 14)}`,
    `dave@example.org/${"é".repeat(503)}`, // 1023 bytes, 520 characters
    `dave@example.org/${"é".repeat(504)}`, // 1025 bytes, 521 characters
    `g@example.org/${"𝄞".repeat(253)}`, // 1026 bytes, 520 UTF-16 units
    `${"l".repeat(1023)}@example.org/${"r".repeat(1023)}`,
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

const HOSTILE = new Set(HOSTILE_REQUESTERS);

const idArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom("1", "2", "3", "a", "undefined", "", "0", " id ", "null"),
  },
  {
    weight: 3,
    arbitrary: fc.string({
      unit: fc.oneof(resourceChar, fc.constantFrom("\t", "\n", "\r")),
      maxLength: 8,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom(1024, 4096, 65_536), fc.constantFrom("i", "é", "𝄞"))
      .map(([n, c]) => c.repeat(n)),
  },
);

const resourceNameArb = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom("a", "b", "c", "phone", "Phone", "wéird/☎ 𝄞", " ", ""),
  },
  { weight: 1, arbitrary: fc.constant("r".repeat(1023)) },
  { weight: 2, arbitrary: resourcePart },
);

const dtArb: fc.Arbitrary<Dt> = fc.oneof(
  { weight: 10, arbitrary: fc.constant(0) },
  { weight: 5, arbitrary: fc.integer({ min: 1, max: 50 }) },
  { weight: 1, arbitrary: fc.double({ min: 0, max: 10, noNaN: true }) },
  { weight: 2, arbitrary: fc.constantFrom<Dt>("t-1", "t", "t+1") },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 120_000 }) },
);

const tunablesArb: fc.Arbitrary<Tunables> = fc.record({
  requestTimeoutMs: fc.oneof(
    fc.integer({ min: 1, max: 50 }),
    fc.integer({ min: 100, max: 5_000 }),
    fc.constant(30_000),
    fc.double({ min: 0.5, max: 20, noNaN: true }),
  ),
  balance: fc.constantFrom<Balance>("random", "round-robin", "least-pending", "sticky"),
  maxPendingPerResource: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constant(1000)),
  maxPending: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.constant(100_000)),
});

/** Access patterns that match (or just miss) the requesters the generators make. */
const PATTERNS = [
  "alice@example.org",
  "bob@example.net",
  "@example.org",
  "@example.com",
  "@example.net",
  "@bücher.example",
  "*.example",
  "*.c.d.example",
  "*.example.org",
  "@localhost",
  "@proxy.example.org",
  "ALICE@EXAMPLE.ORG",
];

/** Rarely on, each of the opt-in behaviours; all off is the default config. */
const sometimes = <T>(arb: fc.Arbitrary<T>, never = 2) =>
  fc.oneof({ weight: never, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });

/** The opt-in settings of RouterSettings (target requests, messages, presence, access, limits). */
export type Features = Omit<RouterSettings, "domain" | "targetAddress" | keyof Tunables>;

const featuresArb: fc.Arbitrary<Features> = fc.record({
  allowTargetRequests: sometimes(fc.boolean()),
  messages: sometimes(fc.constantFrom("reject" as const, "forward" as const)),
  presence: sometimes(fc.boolean()),
  allow: sometimes(
    fc.uniqueArray(fc.constantFrom(...PATTERNS), { minLength: 1, maxLength: 4 }),
    5,
  ),
  deny: sometimes(fc.uniqueArray(fc.constantFrom(...PATTERNS), { maxLength: 3 }), 4),
  hideFromDenied: sometimes(fc.boolean()),
  rateLimit: sometimes(fc.record({
    perSecond: fc.constantFrom(0.5, 1, 3, 1000),
    burst: fc.integer({ min: 1, max: 4 }),
  })),
  maxPendingPerRequester: sometimes(fc.integer({ min: 1, max: 3 })),
  maxSubscribers: sometimes(fc.integer({ min: 1, max: 3 })),
});

const idVariant: fc.Arbitrary<IdVariant> = fc.oneof(
  { weight: 12, arbitrary: fc.nat(7) },
  { weight: 1, arbitrary: fc.constant<IdVariant>("missing") },
  { weight: 2, arbitrary: fc.constant<IdVariant>("fresh") },
);

const toVariant: fc.Arbitrary<ToVariant> = fc.oneof(
  { weight: 12, arbitrary: fc.constant<ToVariant>({ k: "bare" }) },
  {
    weight: 4,
    arbitrary: fc.oneof(fc.constantFrom("", "x", "anything", "//0", "@bad@", "/"), resourcePart)
      .map((resource): ToVariant => ({ k: "resource", resource })),
  },
  { weight: 2, arbitrary: fc.nat(7).map((requester): ToVariant => ({ k: "jat", requester })) },
  {
    weight: 1,
    arbitrary: fc.option(fc.constantFrom("x", "Y"), { nil: undefined })
      .map((resource): ToVariant => ({ k: "upper", resource })),
  },
  { weight: 1, arbitrary: fc.nat(7).map((which): ToVariant => ({ k: "other", which })) },
  { weight: 1, arbitrary: fc.constant<ToVariant>({ k: "missing" }) },
);

const IQ_TYPES = ["get", "set", "result", "error", "poke", "GET", "", "chat"];
const PRESENCE_TYPES = [
  "unavailable",
  "subscribe",
  "subscribed",
  "unsubscribe",
  "unsubscribed",
  "probe",
  "error",
  "available",
  "",
];
const MESSAGE_TYPES = ["chat", "normal", "groupchat", "headline", "error", "get"];

const stanzaTypeFor = (name: string) => {
  const types = name === "iq" ? IQ_TYPES : name === "presence" ? PRESENCE_TYPES : MESSAGE_TYPES;
  return fc.oneof(
    {
      weight: name === "iq" ? 8 : 1,
      arbitrary: fc.constantFrom(...types.slice(0, name === "iq" ? 2 : types.length)),
    },
    { weight: 2, arbitrary: fc.constantFrom(...types) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
};

const stanzaAction = (presenceOnly = false): fc.Arbitrary<StanzaAction> =>
  (presenceOnly ? fc.constant("presence") : fc.oneof(
    { weight: 12, arbitrary: fc.constant("iq") },
    { weight: 2, arbitrary: fc.constant("message") },
    { weight: 2, arbitrary: fc.constant("presence") },
    { weight: 1, arbitrary: fc.constantFrom("foo", "IQ", "stream:error") },
  )).chain((name) =>
    fc.record({
      kind: fc.constant("stanza" as const),
      dt: dtArb,
      from: fc.oneof({ weight: 30, arbitrary: fc.nat(7) }, {
        weight: 1,
        arbitrary: fc.constant(-1),
      }),
      to: toVariant,
      name: fc.constant(name),
      type: stanzaTypeFor(name),
      id: idVariant,
      payload: fc.nat(5),
      copies: fc.oneof({ weight: 8, arbitrary: fc.constant(1) }, {
        weight: 1,
        arbitrary: fc.integer({ min: 2, max: 4 }),
      }),
    })
  );

const PRIORITIES = ["0", "5", "-1", "-128", "127", "300", "-300", "abc", " 7 ", "1.5", "", "0x10"]
  .concat(["-0", "1e3", "-007"]);

const presenceAction: fc.Arbitrary<PresenceAction> = fc.record({
  kind: fc.constant("presence" as const),
  dt: dtArb,
  resource: fc.oneof({ weight: 8, arbitrary: fc.nat(7) }, {
    weight: 1,
    arbitrary: fc.constant(-1),
  }),
  type: fc.oneof(
    { weight: 10, arbitrary: fc.constant(undefined) },
    { weight: 3, arbitrary: fc.constant("unavailable") },
    { weight: 1, arbitrary: fc.constantFrom(...PRESENCE_TYPES) },
  ),
  priority: fc.oneof(
    { weight: 4, arbitrary: fc.constant(undefined) },
    {
      weight: 3,
      // Garbage and out-of-range ones too: the sign is what matters (see checkChoice).
      arbitrary: fc.constantFrom(...PRIORITIES),
    },
  ),
  upper: fc.oneof({ weight: 10, arbitrary: fc.constant(false) }, {
    weight: 1,
    arbitrary: fc.constant(true),
  }),
  to: fc.oneof(
    { weight: 10, arbitrary: fc.constant("bare" as const) },
    { weight: 1, arbitrary: fc.constantFrom("resource" as const, "upper" as const) },
  ),
});

const FORGES: Forge[] = [
  "late",
  "wrong-id",
  "wrong-resource",
  "non-target",
  "bare-to",
  "other-jat",
  "no-id",
  "upper-to",
  "upper-from",
  "bad-address",
];

const replyAction: fc.Arbitrary<ReplyAction> = fc.record({
  kind: fc.constant("reply" as const),
  of: fc.oneof(
    { weight: 6, arbitrary: fc.constant("request" as const) },
    { weight: 2, arbitrary: fc.constant("initiated" as const) },
    { weight: 1, arbitrary: fc.constant("message" as const) },
  ),
  dt: dtArb,
  pick: fc.nat(),
  forge: fc.oneof(
    { weight: 12, arbitrary: fc.constant<Forge>("genuine") },
    { weight: 6, arbitrary: fc.constantFrom(...FORGES) },
  ),
  reply: fc.oneof(
    { weight: 8, arbitrary: fc.constant<ReplyKind>("result") },
    {
      weight: 4,
      arbitrary: fc.constantFrom<ReplyKind>(
        "app-error",
        "bounce",
        "bounce-recipient",
        "error-no-condition",
        "error-foreign-ns",
      ),
    },
  ),
});

const targetStanzaAction: fc.Arbitrary<TargetStanzaAction> = fc.record({
  kind: fc.constant("target-stanza" as const),
  dt: dtArb,
  resource: fc.nat(7),
  name: fc.constantFrom("iq" as const, "message" as const),
  type: fc.constantFrom("get", "set", "chat", undefined),
  // Mostly to `<domain>/<JID>`: a request or message the target starts.
  to: fc.oneof(
    { weight: 3, arbitrary: fc.nat(7).map((requester): ToVariant => ({ k: "jat", requester })) },
    { weight: 1, arbitrary: toVariant },
  ),
  id: idVariant,
});

// Weights in fifths, so that draining (which ends all forwarding) stays rare.
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 150, arbitrary: stanzaAction() },
  { weight: 60, arbitrary: presenceAction },
  { weight: 110, arbitrary: replyAction },
  { weight: 30, arbitrary: targetStanzaAction },
  { weight: 50, arbitrary: dtArb.map((dt): Action => ({ kind: "tick", dt })) },
  {
    weight: 5,
    arbitrary: fc.record({ kind: fc.constant("online" as const), dt: dtArb, back: fc.nat(3) }),
  },
  { weight: 5, arbitrary: tunablesArb.map((settings): Action => ({ kind: "reload", settings })) },
  { weight: 1, arbitrary: fc.constant<Action>({ kind: "drain" }) },
  {
    weight: 5,
    arbitrary: fc.array(
      fc.oneof({ weight: 3, arbitrary: presenceAction }, {
        weight: 1,
        arbitrary: stanzaAction(true),
      }),
      { minLength: 5, maxLength: 40 },
    ).map((items): Action => ({ kind: "storm", items })),
  },
);

/** Whole scenarios: settings, a world, actions, an ending. */
export function scenarioArb(options: ArbitraryOptions = {}): fc.Arbitrary<Scenario> {
  const maxActions = options.maxActions ?? 120;
  return fc.record({
    domain: fc.constantFrom(...DOMAINS),
    target: fc.constantFrom(...TARGETS),
    tunables: tunablesArb,
    features: featuresArb,
  }).chain(({ domain, target, tunables, features }) => {
    const requester = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...specialRequesters(domain, target)) },
      { weight: 2, arbitrary: stampedJid },
      ...(options.hostile
        ? [{ weight: 2, arbitrary: fc.constantFrom(...HOSTILE_REQUESTERS) }]
        : []),
    );
    return fc.record({
      settings: fc.constant<RouterSettings>({
        domain,
        targetAddress: target,
        ...tunables,
        ...features,
      }),
      randomSeed: fc.nat(),
      world: fc.record({
        requesters: fc.array(requester, { minLength: 1, maxLength: 6 }),
        ids: fc.array(idArb, { minLength: 1, maxLength: 5 }),
        resources: fc.array(resourceNameArb, { minLength: 1, maxLength: 4 }),
        subscribers: fc.uniqueArray(
          fc.constantFrom("alice@example.org", "bob@example.net", "example.com", `x@${domain}`),
          { maxLength: 2 },
        ),
      }),
      online: fc.oneof({ weight: 12, arbitrary: fc.constant(true) }, {
        weight: 1,
        arbitrary: fc.constant(false),
      }),
      initialResources: fc.oneof(
        { weight: 1, arbitrary: fc.constant(0) },
        { weight: 4, arbitrary: fc.integer({ min: 1, max: 3 }) },
      ),
      timers: fc.boolean(),
      loopback: fc.boolean(),
      roundTrip: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, {
        weight: 1,
        arbitrary: fc.constant(true),
      }),
      actions: fc.array(actionArb, { minLength: 1, maxLength: maxActions, size: "max" }),
      ending: fc.constantFrom<Ending>("none", "settle", "settle", "expire"),
    });
  }).map((scenario) =>
    Object.defineProperty(scenario, fc.toStringMethod, {
      value: () => describeScenario(scenario),
      enumerable: false,
    })
  );
}

/** A scenario as JSON with long strings cut, for fast-check's reports. */
export function describeScenario(scenario: Scenario): string {
  return JSON.stringify(
    scenario,
    (_key, value) => typeof value === "string" ? short(value) : value,
  );
}

// --- known bugs -------------------------------------------------------------------

/**
 * Router bugs the fuzzer found, each tolerated by name so the rest stays
 * checked; `deno task fuzz --strict` tolerates none. Each has an ignored
 * repro in tests/router_fuzz_test.ts. Remove an entry when its bug is fixed.
 */
export interface Tolerances {
  /**
   * A stanza to the domain in another case (`PROXY.example.org`) is
   * accepted, and its refusal is sent `from` that spelling, which is not
   * our domain as written (a server that validates `from` closes the
   * component's stream).
   */
  readonly refusalFromCaseVariant: boolean;
  /**
   * A reply from the target without an `id` matches a request whose id is
   * the string "undefined", and is relayed to the requester without id.
   */
  readonly replyWithoutId: boolean;
  /**
   * After `settleAll`, a resubscription that was due (or the service's
   * first announcement after a reconnect) still makes `nextWake()` defined.
   */
  readonly wakeAfterSettle: boolean;
  /**
   * `presence: true`: a shutdown within the first announcement's wait after
   * a reconnect tells subscribers nothing, so those told "available" before
   * the reconnect still see the service available after it is gone.
   */
  readonly silentShutdownAfterReconnect: boolean;
  /**
   * Not the router's: ltx writes tab, newline and carriage return raw in
   * attribute values, which an XML parser reads back as spaces: an id with
   * `&#10;` comes back to its requester changed.
   */
  readonly rawWhitespaceInAttributes: boolean;
}

export const KNOWN_BUGS: Tolerances = {
  refusalFromCaseVariant: false,
  replyWithoutId: false,
  wakeAfterSettle: false,
  silentShutdownAfterReconnect: false,
  rawWhitespaceInAttributes: false,
};

export const STRICT: Tolerances = {
  refusalFromCaseVariant: false,
  replyWithoutId: false,
  wakeAfterSettle: false,
  silentShutdownAfterReconnect: false,
  rawWhitespaceInAttributes: false,
};

// --- the model ----------------------------------------------------------------

/** A get/set the router forwarded and still owes an answer. */
interface Req {
  readonly requester: string;
  /** Lowercase bare JID (access, limits). */
  readonly requesterBare: string;
  readonly id: string;
  readonly type: "get" | "set";
  readonly request: XmlElement;
  /** The resource of our JID the forward came from. */
  readonly via: string;
  readonly deadline: number;
  /** Whether the requester is an address a server could stamp. */
  readonly plausible: boolean;
  /** The full JID the last forward went to: the reply must come from it. */
  resourceJid: string;
  /** The resource holding it, or undefined after a reconnect. */
  attached: string | undefined;
  forwards: number;
}

/** A request that found no resource just after (re)connecting, waiting for one. */
interface Parked {
  readonly el: XmlElement;
  readonly requester: string;
  readonly bare: string;
  readonly id: string;
  readonly type: "get" | "set";
  readonly arrived: number;
  /** When it gets `service-unavailable` if no resource came. */
  readonly until: number;
}

/** A user's message that found no resource just after (re)connecting (messages: forward). */
interface WaitingMessage {
  readonly el: XmlElement;
  /** When it gets `service-unavailable` if no resource came. */
  readonly until: number;
}

/** A request the target started, sent to a peer under an id of ours. */
interface Initiated {
  /** The id we sent it with. */
  readonly key: string;
  /** The id the target's resource used. */
  readonly id: string;
  readonly resourceJid: string;
  readonly resourceName: string;
  readonly peer: string;
  readonly deadline: number;
}

interface ModelResource {
  readonly jid: string;
  held: number;
  /** Whether its last presence had a negative priority (RFC 6121 §4.7.2.3). */
  negative: boolean;
}

/** A failed check, with the steps that led to it. */
export class Violation extends Error {
  override name = "Violation";
}

/** Counters of one run, or of many. */
export interface RunStats {
  steps: number;
  requests: number;
  forwards: number;
  /** Forwards for requesters too long for the mod_client_proxy form (a token). */
  longForwards: number;
  refusedRequests: number;
  /** Requests answered at once, by condition. */
  refusedBy: Record<string, number>;
  relays: number;
  failovers: number;
  timeouts: number;
  shutdowns: number;
  drops: number;
  /** Requests the target started (allow_target_requests) sent on. */
  initiated: number;
  /** Messages forwarded either way (messages: forward). */
  messages: number;
  /** The service's own presence sent (presence: true). */
  presence: number;
  rateLimited: number;
  /** Requests that waited for the first resource after (re)connecting, and those then forwarded. */
  parked: number;
  unparked: number;
  /** Users' messages that waited for the first resource. */
  waitedMessages: number;
  tolerated: Record<string, number>;
}

export function emptyStats(): RunStats {
  return {
    steps: 0,
    requests: 0,
    forwards: 0,
    longForwards: 0,
    refusedRequests: 0,
    refusedBy: {},
    relays: 0,
    failovers: 0,
    timeouts: 0,
    shutdowns: 0,
    drops: 0,
    initiated: 0,
    messages: 0,
    presence: 0,
    rateLimited: 0,
    parked: 0,
    unparked: 0,
    waitedMessages: 0,
    tolerated: {},
  };
}

export function addStats(into: RunStats, from: RunStats): void {
  into.steps += from.steps;
  into.requests += from.requests;
  into.forwards += from.forwards;
  into.longForwards += from.longForwards;
  into.refusedRequests += from.refusedRequests;
  into.relays += from.relays;
  into.failovers += from.failovers;
  into.timeouts += from.timeouts;
  into.shutdowns += from.shutdowns;
  into.drops += from.drops;
  into.initiated += from.initiated;
  into.messages += from.messages;
  into.presence += from.presence;
  into.rateLimited += from.rateLimited;
  into.parked += from.parked;
  into.unparked += from.unparked;
  into.waitedMessages += from.waitedMessages;
  for (const [k, v] of Object.entries(from.tolerated)) {
    into.tolerated[k] = (into.tolerated[k] ?? 0) + v;
  }
  for (const [k, v] of Object.entries(from.refusedBy)) {
    into.refusedBy[k] = (into.refusedBy[k] ?? 0) + v;
  }
}

type Op = "receive" | "tick" | "online" | "settle" | "drain" | "reload";

/** The observer: what the router owes and may do, checked step by step. */
class Model {
  settings: RouterSettings;
  readonly domain: string;
  readonly target: string;
  readonly tolerate: Tolerances;
  now = 0;
  accepting = true;
  settled = false;
  resubscribeAt: number | undefined;
  backoff = BACKOFF_MIN_MS;
  /**
   * After a reconnect with requests pending: when those whose resource was
   * not announced again fail over, if the server has spoken since (`heard`).
   */
  reattachBy: number | undefined;
  heard = false;
  maxPendingEver: number;
  maxTimeoutEver: number;
  /** Pending requests by `<via>\0<id>`, the key a reply finds them by. */
  readonly live = new Map<string, Req>();
  /** Pending requests by `<requester>\0<id>`. */
  readonly byRequester = new Map<string, Req[]>();
  /** Online resources by name, in arrival order. */
  readonly resources = new Map<string, ModelResource>();
  /**
   * Until when, after (re)connecting, a request that finds no resource waits
   * for the first one (the router's LEARN_MS after online), and those waiting.
   */
  learnUntil: number | undefined;
  parked: Parked[] = [];
  waitingMessages: WaitingMessage[] = [];
  /** The last requests answered, for late replies. */
  readonly recent: Req[] = [];
  answered = 0;
  /** Requests the target started (allow_target_requests), by the id we sent. */
  readonly initiated = new Map<string, Initiated>();
  readonly initiatedRecent: Initiated[] = [];
  initiatedStarted = 0;
  initiatedClosed = 0;
  /** Messages the target sent (messages: forward): `<peer, normalised>\0<id>` → its resource. */
  readonly sent = new Map<string, { peer: string; id: string; resourceJid: string }>();
  /** The service's subscribers (presence: true) and what they were last told. */
  readonly subscribers: Set<string>;
  announced: boolean | undefined;
  announceAt: number | undefined;
  /** Online at least once (the router says nothing to subscribers before). */
  serving = false;
  /** Presence the service owes in this step: direct answers and broadcasts. */
  owed: Array<{ to: string; type: string | undefined }> = [];
  /** When each requester (bare JID) got through the rate limiter. */
  readonly takes = new Map<string, number[]>();
  readonly stats = emptyStats();

  constructor(settings: RouterSettings, tolerate: Tolerances, subscribers: readonly string[]) {
    this.settings = settings;
    this.domain = settings.domain;
    this.target = settings.targetAddress;
    this.tolerate = tolerate;
    this.maxPendingEver = settings.maxPending;
    this.maxTimeoutEver = settings.requestTimeoutMs;
    this.subscribers = new Set(subscribers);
  }

  fail(message: string): never {
    throw new Violation(message);
  }

  check(ok: unknown, message: string | (() => string)): asserts ok {
    if (!ok) this.fail(typeof message === "string" ? message : message());
  }

  tolerated(what: keyof Tolerances): boolean {
    if (!this.tolerate[what]) return false;
    this.stats.tolerated[what] = (this.stats.tolerated[what] ?? 0) + 1;
    return true;
  }

  ours(to: string): boolean {
    const bare = bareOf(to);
    return bare === this.domain || bare.toLowerCase() === this.domain;
  }

  isTarget(jid: string): boolean {
    const bare = bareOf(jid);
    return bare === this.target || bare.toLowerCase() === this.target;
  }

  // --- bookkeeping

  attach(req: Req, name: string): void {
    const resource = this.resources.get(name);
    this.check(resource, `attach to unknown resource ${short(name)}`);
    resource.held++;
    req.attached = name;
  }

  detach(req: Req): void {
    if (req.attached === undefined) return;
    const resource = this.resources.get(req.attached);
    if (resource) resource.held--;
    req.attached = undefined;
  }

  open(req: Req): void {
    const key = `${req.via}\0${req.id}`;
    this.check(
      !this.live.has(key),
      () =>
        `two pending requests share the reply address ${
          short(key)
        }: a reply could not tell them apart`,
    );
    this.live.set(key, req);
    const rkey = `${req.requester}\0${req.id}`;
    const list = this.byRequester.get(rkey);
    if (list) list.push(req);
    else this.byRequester.set(rkey, [req]);
  }

  close(req: Req): void {
    this.detach(req);
    this.live.delete(`${req.via}\0${req.id}`);
    const rkey = `${req.requester}\0${req.id}`;
    const list = this.byRequester.get(rkey)!;
    list.splice(list.indexOf(req), 1);
    if (list.length === 0) this.byRequester.delete(rkey);
    this.answered++;
    this.recent.push(req);
    if (this.recent.length > 8) this.recent.shift();
  }

  /** The pending request from `to` with `id` that `accept` allows, if any. */
  findOpen(to: string | undefined, id: string | undefined, accept: (r: Req) => boolean) {
    if (to === undefined || id === undefined) return undefined;
    return this.byRequester.get(`${to}\0${id}`)?.find(accept);
  }

  resourceByJid(jid: string | undefined): [string, ModelResource] | undefined {
    if (jid === undefined) return undefined;
    const slash = jid.indexOf("/");
    if (slash < 0) return undefined;
    const name = jid.slice(slash + 1);
    const resource = this.resources.get(name);
    return resource && resource.jid === jid ? [name, resource] : undefined;
  }

  /**
   * Whether a request gets through the token bucket (`limited`: the router
   * said no). Not a copy of the limiter, two bounds of any token bucket that
   * starts full: it must let through a request when fewer than `burst` got
   * through in the last `burst / perSecond` seconds, and over any interval
   * it lets through at most `burst + perSecond × length`.
   */
  rateLimit(bare: string, limit: { perSecond: number; burst: number }, limited: boolean): boolean {
    const perMs = limit.perSecond / 1000;
    const times = this.takes.get(bare) ?? [];
    const window = limit.burst / perMs;
    const recent = times.filter((t) => t > this.now - window - 1e-6).length;
    if (limited) {
      this.check(
        recent >= limit.burst,
        () => `rate limited ${short(bare)} after ${recent} requests in ${window} ms`,
      );
      this.stats.rateLimited++;
      return false;
    }
    times.push(this.now);
    this.takes.set(bare, times);
    for (let i = 0; i < times.length; i++) {
      const allowed = limit.burst + perMs * (this.now - times[i]) + 1e-6;
      this.check(
        times.length - i <= allowed,
        () => `${times.length - i} requests of ${short(bare)} through in ${this.now - times[i]} ms`,
      );
    }
    return true;
  }

  /** Whether some online resource other than `exclude` has room. */
  anyEligible(exclude: string | undefined): boolean {
    for (const [name, r] of this.resources) {
      if (name !== exclude && r.held < this.settings.maxPendingPerResource) return true;
    }
    return false;
  }

  /**
   * The chosen resource has room; it has a negative priority only when no
   * other eligible one has not; under least-pending it holds the fewest.
   */
  checkChoice(name: string, chosen: ModelResource, exclude: string | undefined): void {
    const max = this.settings.maxPendingPerResource;
    this.check(chosen.held < max, () => `sent to ${short(name)} which holds ${chosen.held}`);
    let fewest = Infinity;
    for (const [other, r] of this.resources) {
      if (other === exclude || r.held >= max) continue;
      this.check(
        !chosen.negative || r.negative,
        () => `sent to ${short(name)} (negative priority) while ${short(other)} was eligible`,
      );
      if (r.negative === chosen.negative) fewest = Math.min(fewest, r.held);
    }
    if (this.settings.balance === "least-pending") {
      this.check(
        chosen.held === fewest,
        () => `least-pending chose ${short(name)} holding ${chosen.held}, not ${fewest}`,
      );
    }
  }

  /** What max_pending caps: requests both ways, and what waits for a resource. */
  inFlight(): number {
    return this.live.size + this.parked.length + this.initiated.size +
      this.waitingMessages.length;
  }

  minDeadline(): number | undefined {
    let min: number | undefined;
    for (const req of this.live.values()) {
      if (min === undefined || req.deadline < min) min = req.deadline;
    }
    for (const p of this.parked) min = earliest(min, p.until);
    for (const m of this.waitingMessages) min = earliest(min, m.until);
    return earliest(min, this.reattachBy);
  }

  // --- checks common to every stanza sent

  checkSent(s: XmlElement, incoming: XmlElement | undefined): void {
    const { from, to } = s.attrs;
    this.check(to !== undefined, () => `sent without to: ${show(s)}`);
    this.check(from !== undefined, () => `sent without from: ${show(s)}`);
    // (2) from our domain only.
    if (from !== this.domain && !from.startsWith(`${this.domain}/`)) {
      const variant = bareOf(from).toLowerCase() === this.domain;
      if (!(variant && this.tolerated("refusalFromCaseVariant"))) {
        this.fail(`(2) sent from ${short(from)}, not from ${this.domain}: ${show(s)}`);
      }
    }
    // (6) what reaches the target's resources: requests, refusals of its own
    // stanzas, and (opt-in) what comes from a JAT address or its own messages;
    // never an answer meant for a requester (those come from the bare domain).
    if (this.isTarget(to) && to.includes("/")) {
      const forward = s.name === "iq" && (s.attrs.type === "get" || s.attrs.type === "set");
      const refusal = s.attrs.type === "error" && incoming !== undefined &&
        incoming.attrs.from === to;
      const jat = s.name !== "presence" && from.startsWith(`${this.domain}/`);
      // A message error goes there only passed on from the target itself.
      const message = s.name === "message" &&
        (s.attrs.type !== "error" || this.isTarget(incoming?.attrs.from ?? ""));
      this.check(
        forward || refusal || jat || message,
        () => `(6) sent to the target's resource: ${show(s)}`,
      );
    }
    // (7) nothing in reply to an error or a result. Relaying it (same payload)
    // to whoever asked is no reply, even when the target asked itself.
    if (incoming && (incoming.attrs.type === "error" || isResult(incoming))) {
      const forward = s.name === "iq" && (s.attrs.type === "get" || s.attrs.type === "set");
      const relay = samePayload(s, incoming) && s.attrs.type === incoming.attrs.type;
      this.check(
        forward || relay || to !== incoming.attrs.from,
        () => `(7) answered ${incoming.attrs.type} ${incoming.name}: ${show(s)}`,
      );
    }
    // What goes on the wire is serialize()'s text (src/link/connection.ts).
    if (/[\t\n\r]/.test(serialize(xml(s.name, s.attrs)))) {
      this.check(
        this.tolerated("rawWhitespaceInAttributes"),
        () => `raw tab or newline in an attribute of ${show(s)}: a parser reads it as a space`,
      );
    }
  }

  // --- receive

  receive(el: XmlElement, out: XmlElement[]): void {
    const { to, from, type } = el.attrs;
    // No server stamps an empty `from`, or one without a domain ("/…"): the
    // router drops those (one could collide with its long-address tokens).
    if (to === undefined || from === undefined || from === "" || from.startsWith("/")) {
      return this.none(out);
    }
    if (!this.ours(to)) return this.none(out);
    const slash = to.indexOf("/");
    const toResource = slash < 0 ? undefined : to.slice(slash + 1);
    const fromTarget = this.isTarget(from);
    switch (el.name) {
      case "iq":
        if (type === "result" || type === "error") {
          if (fromTarget && toResource !== undefined) return this.reply(el, toResource, out);
          if (toResource === undefined && this.initiated.size > 0) {
            return this.initiatedReply(el, out);
          }
          return this.none(out);
        }
        if (type !== "get" && type !== "set") return this.refusal(el, out, "modify", "bad-request");
        if (!fromTarget) return this.request(el, type, out);
        if (toResource !== undefined && this.settings.allowTargetRequests) {
          return this.targetRequest(el, toResource, out);
        }
        return toResource === undefined
          ? this.refusal(el, out, "modify", "bad-request")
          : this.refusal(el, out, "cancel", "feature-not-implemented");
      case "presence":
        if (fromTarget && toResource !== undefined) return this.none(out);
        if (fromTarget) return this.targetPresence(el, out);
        if (type === "error") return this.none(out);
        if (this.settings.presence) return this.userPresence(el, out);
        return this.refusal(el, out, "modify", "bad-request");
      case "message": {
        const forward = this.settings.messages === "forward";
        if (type === "error") {
          if (forward && !fromTarget && toResource === undefined) {
            return this.messageError(el, out);
          }
          if (forward && fromTarget && toResource !== undefined) {
            return this.targetMessageError(el, toResource, out);
          }
          return this.none(out);
        }
        if (fromTarget && toResource === undefined) {
          return this.refusal(el, out, "modify", "bad-request");
        }
        if (!forward) return this.refusal(el, out, "cancel", "feature-not-implemented");
        if (fromTarget) return this.targetMessage(el, toResource!, out);
        return this.userMessage(el, out);
      }
      default:
        return this.none(out);
    }
  }

  // --- opt-in: requests the target starts (allow_target_requests)

  /** The JID a target addresses through `<domain>/<JID>`, if valid and not ours. */
  peerOf(toResource: string): string | undefined {
    if (toResource.startsWith("/") || !isPlausibleJid(toResource)) return undefined;
    const bare = bareOf(normalize(toResource));
    return bare === this.domain || bare.endsWith(`@${this.domain}`) ? undefined : toResource;
  }

  targetRequest(el: XmlElement, toResource: string, out: XmlElement[]): void {
    const id = el.attrs.id;
    const peer = this.peerOf(toResource);
    if (id === undefined) return this.refusal(el, out, "modify", "bad-request");
    if (!this.accepting) return this.refusal(el, out, "wait", "service-unavailable");
    if (peer === undefined) return this.refusal(el, out, "modify", "jid-malformed");
    if (this.inFlight() >= this.settings.maxPending) {
      return this.refusal(el, out, "wait", "resource-constraint");
    }
    this.check(out.length === 1, () => `a target request gave ${out.length} stanzas`);
    const s = out[0];
    const key = s.attrs.id;
    this.check(
      s.name === "iq" && s.attrs.type === el.attrs.type && s.attrs.to === peer &&
        s.attrs.from === this.domain && key !== undefined && !this.initiated.has(key),
      () => `target request sent on wrongly: ${show(s)}`,
    );
    this.check(samePayload(s, el), "target request's payload changed");
    this.checkCopiedAttrs(s, el, "id");
    const from = el.attrs.from!;
    this.initiated.set(key, {
      key,
      id,
      resourceJid: from,
      resourceName: from.slice(from.indexOf("/") + 1),
      peer,
      deadline: this.now + this.settings.requestTimeoutMs,
    });
    this.initiatedStarted++;
    this.stats.initiated++;
  }

  initiatedReply(el: XmlElement, out: XmlElement[]): void {
    const entry = this.initiated.get(el.attrs.id ?? "");
    if (!entry || normalize(el.attrs.from!) !== normalize(entry.peer)) return this.none(out);
    this.check(out.length === 1, () => `a reply to the target's request gave ${out.length}`);
    const s = out[0];
    this.check(
      s.name === "iq" && s.attrs.type === el.attrs.type && s.attrs.id === entry.id &&
        s.attrs.to === entry.resourceJid && s.attrs.from === `${this.domain}/${entry.peer}`,
      () => `reply to the target's request relayed wrongly: ${show(s)}`,
    );
    this.check(samePayload(s, el), "relayed payload is not the reply's");
    this.checkCopiedAttrs(s, el, "id");
    this.closeInitiated(entry);
    this.stats.relays++;
  }

  closeInitiated(entry: Initiated): void {
    this.initiated.delete(entry.key);
    this.initiatedClosed++;
    this.initiatedRecent.push(entry);
    if (this.initiatedRecent.length > 8) this.initiatedRecent.shift();
  }

  /** An answer the router gave itself to a request the target started. */
  initiatedAnswer(s: XmlElement, accept: (e: Initiated) => boolean, condition: string): boolean {
    for (const entry of this.initiated.values()) {
      if (
        accept(entry) && s.attrs.to === entry.resourceJid && s.attrs.id === entry.id &&
        s.attrs.from === `${this.domain}/${entry.peer}`
      ) {
        this.checkError(s, "wait", condition);
        this.closeInitiated(entry);
        return true;
      }
    }
    return false;
  }

  // --- opt-in: messages both ways (messages: forward)

  userMessage(el: XmlElement, out: XmlElement[]): void {
    const from = el.attrs.from!;
    const bare = bareOf(from).toLowerCase();
    const { allow, deny, hideFromDenied, rateLimit } = this.settings;
    // The gate of a request: access lists, then the bucket it shares with requests.
    if (!accessAllows(allow, deny, bare)) {
      return hideFromDenied
        ? this.refusal(el, out, "cancel", "service-unavailable")
        : this.refusal(el, out, "auth", "forbidden");
    }
    if (rateLimit) {
      const limited = out[0]?.getChild("error")?.getChildText("text", STANZAS) ===
        "rate limit exceeded";
      if (!this.rateLimit(bare, rateLimit, limited)) {
        return this.refusal(el, out, "wait", "resource-constraint");
      }
    }
    if (!fitsResource(from)) return this.refusal(el, out, "modify", "not-acceptable");
    if (this.resources.size === 0) {
      // Just after (re)connecting it waits for the first resource, within
      // the window and as long as max_pending has room; later, refused.
      const room = this.inFlight() < this.settings.maxPending;
      const until = room ? this.learnUntil ?? this.now : this.now;
      if (until <= this.now) return this.refusal(el, out, "cancel", "service-unavailable");
      this.check(out.length === 0, () => `a message waiting for a resource sent ${out.map(show)}`);
      this.waitingMessages.push({ el, until });
      this.stats.waitedMessages++;
      return;
    }
    this.check(out.length === 1, () => `a user's message gave ${out.length} stanzas`);
    this.forwardedMessage(el, out[0]);
  }

  /** `s` is the user's message `el` forwarded to the resource that has the user. */
  forwardedMessage(el: XmlElement, s: XmlElement): void {
    const from = el.attrs.from!;
    const found = this.resourceByJid(s.attrs.to);
    this.check(
      s.name === "message" && found && s.attrs.from === `${this.domain}/${from}`,
      () => `user's message forwarded wrongly: ${show(s)}`,
    );
    this.check(samePayload(s, el), "forwarded message's payload changed");
    this.checkCopiedAttrs(s, el);
    const [name, chosen] = found;
    for (const [other, r] of this.resources) {
      this.check(
        !chosen.negative || r.negative,
        () => `message to ${short(name)} (negative priority) while ${short(other)} is online`,
      );
    }
    this.stats.messages++;
  }

  targetMessage(el: XmlElement, toResource: string, out: XmlElement[]): void {
    const peer = this.peerOf(toResource);
    if (peer === undefined) return this.refusal(el, out, "modify", "jid-malformed");
    this.check(out.length === 1, () => `the target's message gave ${out.length} stanzas`);
    const s = out[0];
    this.check(
      s.name === "message" && s.attrs.to === peer && s.attrs.from === this.domain,
      () => `the target's message forwarded wrongly: ${show(s)}`,
    );
    this.check(samePayload(s, el), "forwarded message's payload changed");
    this.checkCopiedAttrs(s, el);
    const id = el.attrs.id;
    if (id !== undefined) {
      const key = `${normalize(peer)}\0${id}`;
      const before = this.sent.get(key);
      this.sent.delete(key);
      // Two resources, one id, one peer: whose an error is cannot be told ("").
      const by = before === undefined || before.resourceJid === el.attrs.from ? el.attrs.from! : "";
      this.sent.set(key, { peer: normalize(peer), id, resourceJid: by });
    }
    this.stats.messages++;
  }

  /** A target resource refusing a user's message: its error goes to the user. */
  targetMessageError(el: XmlElement, toResource: string, out: XmlElement[]): void {
    const peer = this.peerOf(toResource);
    if (peer === undefined) return this.none(out);
    this.check(out.length === 1, () => `the target's message error gave ${out.length} stanzas`);
    const s = out[0];
    this.check(
      s.name === "message" && s.attrs.type === "error" && s.attrs.to === peer &&
        s.attrs.from === this.domain,
      () => `the target's message error forwarded wrongly: ${show(s)}`,
    );
    this.check(samePayload(s, el), "forwarded message error's payload changed");
    this.checkCopiedAttrs(s, el);
    this.stats.messages++;
  }

  messageError(el: XmlElement, out: XmlElement[]): void {
    const { from, id } = el.attrs;
    const full = normalize(from!);
    const exactKey = `${full}\0${id}`;
    // A message to a bare JID may be refused by one of its resources.
    const bareKey = full.includes("/") ? `${full.split("/")[0]}\0${id}` : undefined;
    const exact = this.sent.get(exactKey);
    const bare = bareKey === undefined ? undefined : this.sent.get(bareKey);
    const key = exact !== undefined ? exactKey : bareKey;
    const sent = id === undefined ? undefined : exact ?? bare;
    if (id !== undefined && key !== undefined) this.sent.delete(key);
    // Sent under one id to the full JID by one resource, to the bare by another.
    const either = exact !== undefined && bare !== undefined &&
      exact.resourceJid !== bare.resourceJid;
    if (!sent || sent.resourceJid === "" || either) return this.none(out);
    this.check(out.length === 1, () => `a message error gave ${out.length} stanzas`);
    const s = out[0];
    this.check(
      s.name === "message" && s.attrs.type === "error" && s.attrs.id === id &&
        s.attrs.to === sent.resourceJid && s.attrs.from === `${this.domain}/${from}`,
      () => `message error relayed wrongly: ${show(s)}`,
    );
    this.check(samePayload(s, el), "relayed error's payload changed");
    this.stats.relays++;
  }

  // --- opt-in: the service's own presence (presence: true)

  userPresence(el: XmlElement, out: XmlElement[]): void {
    const from = el.attrs.from!;
    const bare = bareOf(from).toLowerCase();
    const available = this.resources.size > 0;
    const type = el.attrs.type;
    if (
      (type === "subscribe" || type === "probe") &&
      !accessAllows(this.settings.allow, this.settings.deny, bare)
    ) {
      // Denied users may not follow the service, and are forgotten if they did.
      this.subscribers.delete(bare);
      this.owed.push({ to: bare, type: "unsubscribed" });
      return this.none(out);
    }
    switch (type) {
      case "subscribe":
        if (
          !this.subscribers.has(bare) &&
          this.subscribers.size >= (this.settings.maxSubscribers ?? Infinity)
        ) {
          // Full: refused, and nobody else's subscription changes.
          this.owed.push({ to: bare, type: "unsubscribed" });
          break;
        }
        this.subscribers.add(bare);
        this.owed.push({ to: bare, type: "subscribed" });
        this.owed.push({ to: bare, type: available ? undefined : "unavailable" });
        break;
      case "unsubscribe":
        if (this.subscribers.delete(bare)) this.owed.push({ to: bare, type: "unavailable" });
        break;
      case "unsubscribed":
        this.subscribers.delete(bare);
        break;
      case "probe":
        this.owed.push({ to: from, type: available ? undefined : "unavailable" });
        break;
    }
    this.none(out);
  }

  /** Availability may have changed: subscribers are told if it did (ServicePresence.update). */
  availability(available: boolean): void {
    if (!this.settings.presence || available === this.announced) return;
    // While the first announcement after a reconnect waits, "unavailable" is premature.
    if (!available && this.announced === undefined && this.announceAt !== undefined) return;
    this.announced = available;
    this.announceAt = undefined;
    for (const to of this.subscribers) {
      if (!accessAllows(this.settings.allow, this.settings.deny, to)) continue;
      this.owed.push({ to, type: available ? undefined : "unavailable" });
    }
  }

  /** Whether a stanza is the service's own presence to a user (not the target's business). */
  isServicePresence(s: XmlElement): boolean {
    return s.name === "presence" && s.attrs.type !== "error" && s.attrs.to !== this.target;
  }

  /** The service presence sent in a step is exactly the presence owed, from the domain. */
  checkServicePresence(service: XmlElement[]): void {
    const owed = new Map<string, number>();
    for (const { to, type } of this.owed) {
      const key = `${to}\0${type}`;
      owed.set(key, (owed.get(key) ?? 0) + 1);
    }
    this.owed = [];
    for (const s of service) {
      const key = `${s.attrs.to}\0${s.attrs.type}`;
      const n = owed.get(key) ?? 0;
      this.check(
        n > 0 && s.attrs.from === this.domain && s.children.length === 0,
        () => `presence nobody is owed: ${show(s)}`,
      );
      owed.set(key, n - 1);
      this.stats.presence++;
    }
    for (const [key, n] of owed) {
      this.check(n === 0, () => `presence owed but not sent: ${short(key.replace("\0", " "))}`);
    }
  }

  none(out: XmlElement[]): void {
    this.check(out.length === 0, () => `expected no answer, sent ${out.map(show).join(" | ")}`);
    this.stats.drops++;
  }

  refusal(el: XmlElement, out: XmlElement[], type: string, condition: string): void {
    this.check(out.length === 1, () => `expected one refusal, sent ${out.length}`);
    const s = out[0];
    this.check(
      s.name === el.name && s.attrs.type === "error" && s.attrs.to === el.attrs.from &&
        s.attrs.from === ourSpelling(el.attrs.to) && s.attrs.id === el.attrs.id,
      () => `refusal not addressed back to the sender: ${show(s)}`,
    );
    this.checkError(s, type, condition);
  }

  checkError(s: XmlElement, type: string, condition: string): void {
    const error = s.getChild("error");
    const got = error?.children.find((c): c is XmlElement =>
      typeof c !== "string" && c.attrs.xmlns === STANZAS && c.name !== "text"
    );
    this.check(
      error?.attrs.type === type && got?.name === condition,
      () => `expected ${type}/${condition}, sent ${show(s)}`,
    );
  }

  request(el: XmlElement, type: "get" | "set", out: XmlElement[]): void {
    const requester = el.attrs.from!;
    const id = el.attrs.id;
    this.stats.requests++;
    const s = out[0] as XmlElement | undefined;
    const one = (): XmlElement => {
      this.check(out.length === 1, () => `a request got ${out.length} stanzas: ${out.map(show)}`);
      return out[0];
    };
    const immediate = (errorType: string, condition: string) => {
      const s = one();
      this.check(
        s.name === "iq" && s.attrs.type === "error" && s.attrs.to === requester &&
          s.attrs.id === id && s.attrs.from === ourSpelling(el.attrs.to),
        () => `expected ${condition} to the requester, sent ${show(s)}`,
      );
      this.checkError(s, errorType, condition);
      this.answered++;
      this.stats.refusedRequests++;
      const by = `${errorType}/${condition}`;
      this.stats.refusedBy[by] = (this.stats.refusedBy[by] ?? 0) + 1;
    };
    // Counted as received; answered at once or pending: see post().
    if (id === undefined) return immediate("modify", "bad-request");
    if (!this.accepting) return immediate("wait", "service-unavailable");
    const bare = bareOf(requester).toLowerCase();
    const { allow, deny, hideFromDenied, rateLimit, maxPendingPerRequester } = this.settings;
    if (!accessAllows(allow, deny, bare)) {
      return hideFromDenied
        ? immediate("cancel", "service-unavailable")
        : immediate("auth", "forbidden");
    }
    if (rateLimit) {
      const limited = s?.getChild("error")?.getChildText("text", STANZAS) === "rate limit exceeded";
      if (!this.rateLimit(bare, rateLimit, limited)) {
        return immediate("wait", "resource-constraint");
      }
    }
    if (
      this.byRequester.has(`${requester}\0${id}`) ||
      this.parked.some((p) => p.requester === requester && p.id === id)
    ) return immediate("cancel", "conflict");
    if (this.inFlight() >= this.settings.maxPending) {
      return immediate("wait", "resource-constraint");
    }
    if (maxPendingPerRequester !== undefined) {
      let held = 0;
      for (const req of this.live.values()) if (req.requesterBare === bare) held++;
      for (const p of this.parked) if (p.bare === bare) held++;
      if (held >= maxPendingPerRequester) return immediate("wait", "resource-constraint");
    }
    if (this.resources.size === 0) {
      // Just after (re)connecting: it waits for the first resource, within
      // the window and its own timeout; later it is refused at once.
      const until = Math.min(
        this.learnUntil ?? this.now,
        this.now + this.settings.requestTimeoutMs,
      );
      if (until <= this.now) return immediate("cancel", "service-unavailable");
      this.check(out.length === 0, () => `a request waiting for a resource sent ${out.map(show)}`);
      this.parked.push({ el, requester, bare, id, type, arrived: this.now, until });
      this.stats.parked++;
      return;
    }
    if (!this.anyEligible(undefined)) return immediate("wait", "resource-constraint");
    this.forwarded(el, type, one(), this.now);
  }

  /** `s` is `el` forwarded, to an online resource with room, from the JAT address. */
  forwarded(el: XmlElement, type: "get" | "set", s: XmlElement, arrived: number): void {
    const requester = el.attrs.from!;
    const id = el.attrs.id!; // a request without one is refused before
    const bare = bareOf(requester).toLowerCase();
    this.check(
      s.name === "iq" && s.attrs.type === type && s.attrs.id === id,
      () => `expected the request forwarded, sent ${show(s)}`,
    );
    this.check(samePayload(s, el), "forwarded payload is not the request's");
    this.checkCopiedAttrs(s, el);
    const via = this.viaOf(s);
    if (fitsResource(requester)) {
      this.check(via === requester, () => `forwarded from ${short(via)}, not the requester's JID`);
    } else {
      this.check(
        via.startsWith("/") && via.length > 1,
        () => `long requester forwarded from ${short(via)}`,
      );
      this.stats.longForwards++;
    }
    const found = this.resourceByJid(s.attrs.to);
    this.check(found, () => `forwarded to ${short(s.attrs.to)}, no online resource`);
    const [name, resource] = found;
    this.checkChoice(name, resource, undefined);
    const req: Req = {
      requester,
      requesterBare: bare,
      id,
      type,
      request: el,
      via,
      deadline: arrived + this.settings.requestTimeoutMs,
      plausible: !HOSTILE.has(requester),
      resourceJid: s.attrs.to!,
      attached: undefined,
      forwards: 1,
    };
    this.open(req);
    this.attach(req, name);
    this.stats.forwards++;
  }

  viaOf(s: XmlElement): string {
    const from = s.attrs.from!;
    this.check(
      from.startsWith(`${this.domain}/`),
      () => `forward not from a JAT address: ${show(s)}`,
    );
    return from.slice(this.domain.length + 1);
  }

  /** All attributes but to, from and xmlns are the original's. */
  checkCopiedAttrs(s: XmlElement, original: XmlElement, also?: string): void {
    for (const key of new Set([...Object.keys(s.attrs), ...Object.keys(original.attrs)])) {
      if (key === "to" || key === "from" || key === "xmlns" || key === also) continue;
      this.check(
        s.attrs[key] === original.attrs[key],
        () => `attribute ${key} changed: ${show(s)}`,
      );
    }
  }

  reply(el: XmlElement, toResource: string, out: XmlElement[]): void {
    const id = el.attrs.id;
    let req = id === undefined ? undefined : this.live.get(`${toResource}\0${id}`);
    if (req && req.resourceJid !== el.attrs.from) req = undefined;
    if (!req && id === undefined && out.length > 0) {
      const undef = this.live.get(`${toResource}\0undefined`);
      if (undef && undef.resourceJid === el.attrs.from && this.tolerated("replyWithoutId")) {
        req = undef;
      }
    }
    if (!req) return this.none(out);
    if (!req.plausible && out.length === 0) return this.none(out);
    const condition = el.attrs.type === "error" ? conditionOf(el) : undefined;
    // A bounce, for a request whose resource is not known to be online;
    // an online resource's own error goes through.
    if (
      req.attached === undefined &&
      (condition === "service-unavailable" || condition === "recipient-unavailable")
    ) {
      this.check(out.length === 1, () => `a bounce gave ${out.length} stanzas`);
      this.failover(out[0], [req]);
      return;
    }
    this.check(out.length === 1, () => `a reply gave ${out.length} stanzas`);
    const s = out[0];
    this.check(
      s.name === "iq" && s.attrs.type === el.attrs.type && s.attrs.to === req.requester &&
        s.attrs.from === this.domain,
      () => `reply relayed wrongly: ${show(s)}`,
    );
    this.check(
      s.attrs.id === req.id || (id === undefined && this.tolerate.replyWithoutId),
      () => `reply relayed with id ${short(String(s.attrs.id))}`,
    );
    this.check(samePayload(s, el), "relayed payload is not the reply's");
    this.checkCopiedAttrs(s, el);
    this.close(req);
    this.stats.relays++;
  }

  /**
   * One stanza settling one of `candidates` whose resource is gone: the get
   * re-sent elsewhere, or the error answer.
   */
  failover(s: XmlElement, candidates: readonly Req[]): Req {
    this.stats.failovers++;
    if (s.name === "iq" && (s.attrs.type === "get" || s.attrs.type === "set")) {
      const via = this.viaOf(s);
      const req = this.live.get(`${via}\0${s.attrs.id}`);
      this.check(
        req && candidates.includes(req),
        () => `re-sent a request not failing over: ${show(s)}`,
      );
      this.check(req.type === "get", () => `re-sent a set: ${show(s)}`);
      this.check(req.forwards === 1, () => `re-sent a get twice: ${show(s)}`);
      // The payload as received, byte for byte (the router keeps a copy of it).
      const payload = (el: XmlElement) => el.children.map(serialize).join("");
      this.check(
        s.attrs.type === "get" && payload(s) === payload(req.request),
        () => `re-sent payload differs: ${show(s)}`,
      );
      this.checkCopiedAttrs(s, req.request);
      const found = this.resourceByJid(s.attrs.to);
      this.check(found, () => `re-sent to ${short(s.attrs.to)}, no online resource`);
      const [name, resource] = found;
      this.check(name !== req.attached, () => `re-sent to the resource it left: ${show(s)}`);
      this.checkChoice(name, resource, req.attached);
      this.detach(req);
      this.attach(req, name);
      req.resourceJid = s.attrs.to!;
      req.forwards++;
      return req;
    }
    const req = this.findOpen(s.attrs.to, s.attrs.id, (r) => candidates.includes(r));
    this.check(req, () => `failover answered no failing request: ${show(s)}`);
    this.check(
      s.attrs.from === this.domain,
      () => `failover answer not from the domain: ${show(s)}`,
    );
    if (req.type === "get") {
      this.check(
        req.forwards > 1 || !this.anyEligible(req.attached),
        () => `a get answered instead of re-sent to another resource: ${show(s)}`,
      );
      this.checkError(s, "cancel", "service-unavailable");
    } else {
      this.checkError(s, "wait", "recipient-unavailable");
    }
    this.close(req);
    return req;
  }

  targetPresence(el: XmlElement, out: XmlElement[]): void {
    const from = el.attrs.from!;
    const slash = from.indexOf("/");
    const name = slash < 0 ? undefined : from.slice(slash + 1);
    switch (el.attrs.type) {
      case undefined:
        if (name !== undefined) {
          const negative = /^\s*-0*[1-9]/.test(el.getChildText("priority") ?? "");
          const known = this.resources.get(name);
          this.heard = true;
          if (known) known.negative = negative;
          else {
            this.resources.set(name, { jid: from, held: 0, negative });
            // Back after a reconnect: it takes back the requests it held.
            for (const req of this.live.values()) {
              if (req.attached === undefined && req.resourceJid === from) this.attach(req, name);
            }
            this.availability(true);
            if (this.parked.length > 0 || this.waitingMessages.length > 0) {
              return this.unpark(out);
            }
          }
          this.backoff = BACKOFF_MIN_MS;
        }
        return this.none(out);
      case "unavailable":
        if (name === undefined) return this.loseAll(out);
        return this.lose([name], out);
      case "subscribe": {
        this.check(out.length === 1, () => `subscribe got ${out.length} stanzas`);
        this.checkPresence(out[0], "subscribed");
        return;
      }
      case "subscribed":
        // Approved: a probe asks for the resources' presence (ejabberd
        // sends it only when asked).
        this.heard = true;
        this.backoff = BACKOFF_MIN_MS;
        this.check(out.length === 1, () => `subscribed got ${out.length} stanzas`);
        this.checkPresence(out[0], "probe");
        return;
      case "error":
      case "unsubscribed":
        this.loseAll(out);
        this.resubscribeAt = this.now + this.backoff;
        this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
        return;
      default:
        return this.none(out);
    }
  }

  /** The first resource came: the waiting requests go to it, in order (or get busy). */
  unpark(out: XmlElement[]): void {
    this.backoff = BACKOFF_MIN_MS;
    const parked = this.parked;
    const messages = this.waitingMessages;
    this.parked = [];
    this.waitingMessages = [];
    this.check(
      out.length === parked.length + messages.length,
      () =>
        `${parked.length} waiting request(s), ${messages.length} message(s), ` +
        `${out.length} stanza(s) sent`,
    );
    // The requests first, then the messages, each in arrival order.
    messages.forEach((m, i) => this.forwardedMessage(m.el, out[parked.length + i]));
    parked.forEach((p, i) => {
      const s = out[i];
      if (s.attrs.type === "error") {
        this.check(!this.anyEligible(undefined), () => `a waiting request refused: ${show(s)}`);
        this.checkParkedAnswer(p, s, "wait", "resource-constraint");
        return;
      }
      this.forwarded(p.el, p.type, s, p.arrived);
      this.stats.unparked++;
    });
  }

  /** `s` answers the waiting request `p` with an error; it is answered. */
  checkParkedAnswer(p: Parked, s: XmlElement, type: string, condition: string): void {
    this.check(
      s.name === "iq" && s.attrs.to === p.requester && s.attrs.id === p.id &&
        s.attrs.from === ourSpelling(p.el.attrs.to),
      () => `expected ${condition} to a waiting request, sent ${show(s)}`,
    );
    this.checkError(s, type, condition);
    this.answered++;
    this.stats.refusedRequests++;
  }

  /** The waiting request that `s` answers, if any, taken out of the list. */
  takeParked(s: XmlElement, accept: (p: Parked) => boolean): Parked | undefined {
    const i = this.parked.findIndex((p) =>
      s.attrs.to === p.requester && s.attrs.id === p.id && accept(p)
    );
    return i < 0 ? undefined : this.parked.splice(i, 1)[0];
  }

  /** The waiting message that `s` answers, if any, taken out of the list. */
  takeWaitingMessage(
    s: XmlElement,
    accept: (m: WaitingMessage) => boolean,
  ): WaitingMessage | undefined {
    const i = this.waitingMessages.findIndex((m) =>
      s.name === "message" && s.attrs.to === m.el.attrs.from && s.attrs.id === m.el.attrs.id &&
      accept(m)
    );
    return i < 0 ? undefined : this.waitingMessages.splice(i, 1)[0];
  }

  checkPresence(s: XmlElement, type: string): void {
    this.check(
      s.name === "presence" && s.attrs.type === type && s.attrs.to === this.target &&
        s.attrs.from === this.domain && s.children.length === 0,
      () => `expected presence ${type} to the target, sent ${show(s)}`,
    );
  }

  loseAll(out: XmlElement[]): void {
    const names = [...this.resources.keys()];
    this.lose(names, out);
  }

  /** Resources went away: each request they held is re-sent or answered, once. */
  lose(names: string[], out: XmlElement[]): void {
    const lost = new Set(names.filter((n) => this.resources.has(n)));
    const affected = [...this.live.values()].filter((r) =>
      r.attached !== undefined && lost.has(r.attached)
    );
    for (const name of lost) this.resources.delete(name);
    for (const entry of [...this.initiated.values()]) {
      // Nobody is left to answer: the router forgets them, silently.
      if (lost.has(entry.resourceName)) {
        this.initiated.delete(entry.key);
        this.initiatedClosed++;
      }
    }
    if (lost.size > 0) this.availability(this.resources.size > 0);
    const pending = new Set(affected);
    for (const s of out) {
      const req = this.failover(s, [...pending]);
      pending.delete(req);
    }
    this.check(
      pending.size === 0,
      () => `${pending.size} request(s) left on a resource that went away`,
    );
    if (out.length === 0) this.stats.drops++;
  }

  // --- time, reconnects, shutdown

  tick(out: XmlElement[]): void {
    const due = this.resubscribeAt !== undefined && this.resubscribeAt <= this.now;
    const expired = new Set([...this.live.values()].filter((r) => r.deadline <= this.now));
    const now = this.now;
    // The first second after a reconnect is over: requests whose resource
    // was not announced again fail over, if the server has spoken since.
    const reattachDue = this.reattachBy !== undefined && this.reattachBy <= now;
    const failing = new Set(
      reattachDue && this.heard
        ? [...this.live.values()].filter((r) => r.attached === undefined && r.deadline > now)
        : [],
    );
    if (reattachDue) this.reattachBy = undefined;
    out.forEach((s, i) => {
      if (s.name === "presence") {
        this.check(due && i === out.length - 1, () => `unexpected presence on tick: ${show(s)}`);
        this.checkPresence(s, "subscribe");
        return;
      }
      if (this.initiatedAnswer(s, (e) => e.deadline <= now, "remote-server-timeout")) {
        this.stats.timeouts++;
        return;
      }
      const waited = this.takeParked(s, (p) => p.until <= now);
      if (waited) return this.checkParkedAnswer(waited, s, "cancel", "service-unavailable");
      const message = this.takeWaitingMessage(s, (m) => m.until <= now);
      if (message) return this.refusal(message.el, [s], "cancel", "service-unavailable");
      if (failing.size > 0) {
        const resent = s.name === "iq" && (s.attrs.type === "get" || s.attrs.type === "set");
        const settled = resent
          ? this.live.get(`${this.viaOf(s)}\0${s.attrs.id}`)
          : this.findOpen(s.attrs.to, s.attrs.id, (r) => failing.has(r));
        if (settled && failing.has(settled)) {
          failing.delete(this.failover(s, [settled]));
          return;
        }
      }
      const req = this.findOpen(s.attrs.to, s.attrs.id, (r) => expired.has(r));
      this.check(req, () => `tick answered no expired request: ${show(s)}`);
      this.check(s.attrs.from === this.domain, () => `timeout not from the domain: ${show(s)}`);
      this.checkError(s, "wait", "remote-server-timeout");
      expired.delete(req);
      this.close(req);
      this.stats.timeouts++;
    });
    this.check(expired.size === 0, () => `${expired.size} request(s) past their deadline`);
    this.check(
      failing.size === 0,
      () => `${failing.size} request(s) whose resource did not come back were not failed over`,
    );
    this.check(
      this.parked.every((p) => p.until > now),
      "a request still waits for a resource past its time",
    );
    this.check(
      this.waitingMessages.every((m) => m.until > now),
      "a message still waits for a resource past its time",
    );
    for (const entry of this.initiated.values()) {
      this.check(entry.deadline > now, "a request of the target's past its deadline");
    }
    if (this.announceAt !== undefined && this.announceAt <= now) {
      this.announceAt = undefined;
      this.availability(this.resources.size > 0);
    }
    if (due) {
      this.check(out.at(-1)?.name === "presence", "a due resubscription was not sent");
      this.resubscribeAt = undefined;
    }
  }

  /** New settings (Router.reconfigure): presence turned off or on tells the subscribers. */
  reload(next: RouterSettings): void {
    const before = this.settings.presence ?? false;
    this.settings = next;
    // Not online yet: nothing is said (online() schedules the first word).
    if (!this.serving) return;
    if (before && !next.presence) {
      this.announceAt = undefined;
      if (this.announced === false) return;
      this.announced = false;
      for (const to of this.subscribers) {
        if (accessAllows(next.allow, next.deny, to)) this.owed.push({ to, type: "unavailable" });
      }
    } else if (!before && next.presence) {
      // As after a (re)connect: the first announcement may wait for resources.
      this.announced = undefined;
      this.announceAt = this.subscribers.size > 0 ? this.now + ANNOUNCE_AFTER_MS : undefined;
      this.availability(this.resources.size > 0);
    }
  }

  online(out: XmlElement[]): void {
    this.check(out.length === 1, () => `online sent ${out.length} stanzas`);
    this.serving = true;
    this.checkPresence(out[0], "subscribe");
    for (const req of this.live.values()) this.detach(req);
    this.resources.clear();
    this.resubscribeAt = undefined;
    this.learnUntil = this.now + LEARN_MS;
    this.heard = false;
    if (this.live.size > 0) this.reattachBy = this.learnUntil;
    if (this.settings.presence) {
      this.announced = undefined;
      this.announceAt = this.subscribers.size > 0 ? this.now + ANNOUNCE_AFTER_MS : undefined;
    }
  }

  settle(out: XmlElement[]): void {
    const all = new Set(this.live.values());
    out.forEach((s, i) => {
      if (i === out.length - 1) return this.checkPresence(s, "unavailable");
      if (this.initiatedAnswer(s, () => true, "service-unavailable")) {
        this.stats.shutdowns++;
        return;
      }
      const waited = this.takeParked(s, () => true);
      if (waited) {
        this.checkParkedAnswer(waited, s, "wait", "service-unavailable");
        this.stats.shutdowns++;
        return;
      }
      const message = this.takeWaitingMessage(s, () => true);
      if (message) return this.refusal(message.el, [s], "wait", "service-unavailable");
      const req = this.findOpen(s.attrs.to, s.attrs.id, (r) => all.has(r));
      this.check(req, () => `settleAll answered no pending request: ${show(s)}`);
      this.check(s.attrs.from === this.domain, () => `shutdown not from the domain: ${show(s)}`);
      this.checkError(s, "wait", "service-unavailable");
      all.delete(req);
      this.close(req);
      this.stats.shutdowns++;
    });
    this.check(all.size === 0, () => `settleAll left ${all.size} request(s) unanswered`);
    this.check(this.parked.length === 0, "settleAll left requests waiting for a resource");
    this.check(this.waitingMessages.length === 0, "settleAll left messages waiting for a resource");
    this.check(this.initiated.size === 0, "settleAll left requests of the target's unanswered");
    // Subscribers hear the service go, unless they were last told just that.
    if (this.settings.presence && this.announced !== false) {
      const waiting = this.announced === undefined && this.announceAt !== undefined;
      if (!(waiting && this.tolerated("silentShutdownAfterReconnect"))) {
        this.announceAt = undefined;
        this.availability(false);
      }
    }
    this.reattachBy = undefined;
    this.settled = true;
  }

  /** Checks that hold after every step. */
  post(router: Router, op: Op): void {
    const stats = this.stats;
    // (4) every request answered at once, or pending; never twice.
    this.check(
      stats.requests === this.answered + this.live.size + this.parked.length,
      () =>
        `${stats.requests} requests, ${this.answered} answered, ${this.live.size} pending, ` +
        `${this.parked.length} waiting for a resource: some request was lost or answered twice`,
    );
    this.check(
      this.initiatedStarted === this.initiatedClosed + this.initiated.size,
      "a request of the target's was lost or answered twice",
    );
    // (5) the state's size.
    this.check(
      router.pendingCount === this.live.size + this.parked.length,
      () =>
        `pendingCount ${router.pendingCount}, but ${
          this.live.size + this.parked.length
        } requests await a reply`,
    );
    this.check(
      router.pendingCount <= this.maxPendingEver,
      () => `pendingCount ${router.pendingCount} over max_pending ${this.maxPendingEver}`,
    );
    const names = router.resources;
    const expected = [...this.resources.keys()];
    this.check(
      names.length === expected.length && names.every((n, i) => n === expected[i]),
      () =>
        `resources ${short(JSON.stringify(names))}, expected ${short(JSON.stringify(expected))}`,
    );
    let wake: number | undefined = this.minDeadline();
    for (const entry of this.initiated.values()) wake = earliest(wake, entry.deadline);
    const at = earliest(this.resubscribeAt, this.announceAt);
    wake = earliest(wake, at);
    if (this.settled) {
      this.check(router.pendingCount === 0, "pending after settleAll");
      if (at !== undefined && this.tolerated("wakeAfterSettle")) {
        // The resubscription (or the first announcement) stays due.
      } else wake = undefined;
    }
    const actual = router.nextWake();
    this.check(
      actual === wake,
      () => `nextWake() ${actual}, expected ${wake} (${op} at ${this.now})`,
    );
    for (const req of this.live.values()) {
      if (req.attached !== undefined) {
        this.check(this.resources.has(req.attached), "a request held by a resource that is gone");
      }
    }
  }
}

// --- running a scenario -------------------------------------------------------

/** How to run scenarios. */
export interface RunOptions {
  /** Which known bugs to let pass (default {@link KNOWN_BUGS}). */
  readonly tolerate?: Tolerances;
  /** Makes the router under test (default: `new Router`); tests pass broken ones. */
  readonly makeRouter?: (
    settings: RouterSettings,
    options: { random: () => number; subscribers: readonly string[] },
  ) => Router;
}

interface Trace {
  readonly step: number;
  readonly now: number;
  readonly op: Op;
  readonly incoming?: XmlElement;
  readonly out: readonly XmlElement[];
}

/** Runs one scenario, checking every step; throws a {@link Violation} with the last steps. */
export function runScenario(scenario: Scenario, options: RunOptions = {}): RunStats {
  const { settings, world } = scenario;
  const { domain, targetAddress: target } = settings;
  const random = mulberry32(scenario.randomSeed);
  const routerOptions = { random, subscribers: world.subscribers };
  const router = options.makeRouter?.(settings, routerOptions) ??
    new Router(settings, routerOptions);
  const model: Model = new Model(settings, options.tolerate ?? KNOWN_BUGS, world.subscribers);
  const trace: Trace[] = [];
  const loopback: XmlElement[] = [];
  const wire = new Wire(domain);
  let fresh = 0;

  const step = (op: Op, run: () => Effects | void, incoming?: XmlElement) => {
    const n = model.stats.steps++;
    let out: XmlElement[] = [];
    try {
      let fx: Effects | void;
      try {
        fx = run();
      } catch (error) {
        throw new Violation(`(1) the router threw: ${(error as Error)?.stack ?? error}`);
      }
      out = fx ? fx.send : [];
      trace.push({ step: n, now: model.now, op, incoming, out });
      if (trace.length > 12) trace.shift();
      for (const s of out) {
        model.checkSent(s, incoming);
        if (scenario.roundTrip) roundTrip(model, s);
      }
      // The service's presence to users is checked on its own, after the step.
      const service = out.filter((s) => model.isServicePresence(s));
      const rest = service.length === 0 ? out : out.filter((s) => !model.isServicePresence(s));
      switch (op) {
        case "receive":
          model.receive(incoming!, rest);
          break;
        case "tick":
          model.tick(rest);
          break;
        case "online":
          model.online(rest);
          break;
        case "settle":
          model.settle(rest);
          break;
        default:
          model.check(rest.length === 0, `${op} sent stanzas`);
      }
      model.checkServicePresence(service);
      model.post(router, op);
    } catch (error) {
      if (!(error instanceof Violation)) throw error;
      throw new Violation(
        `step ${n} (${op} at ${model.now}): ${error.message}\n${formatTrace(trace, scenario)}`,
      );
    }
    if (scenario.loopback) {
      for (const s of out) {
        if (s.attrs.to !== undefined && domainOf(s.attrs.to) === domain) {
          loopback.push(parseXml(s.toString()));
        }
      }
    }
  };

  const tick = () => step("tick", () => router.tick(model.now));

  const advance = (dt: Dt) => {
    const t = model.settings.requestTimeoutMs;
    const by = dt === "t-1" ? Math.max(0, t - 1) : dt === "t" ? t : dt === "t+1" ? t + 1 : dt;
    const to = model.now + by;
    if (scenario.timers) {
      // The shell's timer: a tick at each wake-up that passes.
      for (
        let wake = router.nextWake();
        wake !== undefined && wake <= to;
        wake = router.nextWake()
      ) {
        model.now = Math.max(model.now, wake);
        tick();
        if (router.nextWake() === wake) break; // checked by post(); do not spin
      }
    }
    model.now = to;
  };

  const deliver = (built: XmlElement) => {
    const el = scenario.roundTrip ? wire.read(built) : built;
    step("receive", () => router.receive(el, model.now), el);
    let budget = MAX_LOOPBACK;
    while (loopback.length > 0) {
      model.check(budget-- > 0, "stanzas keep bouncing between the router and its own domain");
      const back = loopback.shift()!;
      step("receive", () => router.receive(back, model.now), back);
    }
  };

  const pick = <T>(list: readonly T[], i: number): T => list[i % list.length];
  const idOf = (v: IdVariant): string | undefined =>
    v === "missing" ? undefined : v === "fresh" ? `fresh-${fresh++}` : pick(world.ids, v);
  const targetJid = (resource: number, upper = false): string => {
    const bare = upper ? target.toUpperCase() : target;
    return resource < 0 ? bare : `${bare}/${pick(world.resources, resource)}`;
  };
  const toOf = (v: ToVariant): string | undefined => {
    switch (v.k) {
      case "bare":
        return domain;
      case "resource":
        return `${domain}/${v.resource}`;
      case "jat":
        return `${domain}/${pick(world.requesters, v.requester)}`;
      case "upper":
        return domain.toUpperCase() + (v.resource === undefined ? "" : `/${v.resource}`);
      case "other":
        return pick([
          "other.example.org",
          "example.org",
          target,
          `${target}/a`,
          `sub.${domain}`,
          `${domain}x`,
          `${domain}.`,
          domain.replace("k", "\u212a"),
        ], v.which);
      case "missing":
        return undefined;
    }
  };

  const stanzaOf = (a: StanzaAction): XmlElement =>
    xml(a.name, {
      type: a.type,
      id: idOf(a.id),
      from: a.from < 0 ? undefined : pick(world.requesters, a.from),
      to: toOf(a.to),
    }, ...payload(a.payload));

  const presenceOf = (a: PresenceAction): XmlElement =>
    xml(
      "presence",
      {
        type: a.type,
        from: targetJid(a.resource, a.upper),
        to: a.to === "bare" ? domain : a.to === "upper" ? domain.toUpperCase() : `${domain}/x`,
      },
      ...(a.priority === undefined ? [] : [xml("priority", {}, a.priority)]),
    );

  const replyOf = (a: ReplyAction): XmlElement =>
    a.of === "request" ? requestReplyOf(a) : peerReplyOf(a);

  /** A peer's reply to a request the target started, or its error about a message. */
  const peerReplyOf = (a: ReplyAction): XmlElement => {
    const known: Array<{ peer: string; id: string }> = a.of === "initiated"
      ? [...(a.forge === "late" ? model.initiatedRecent : model.initiated.values())]
        .map((e) => ({ peer: normalize(e.peer), id: e.key }))
      : [...model.sent.values()];
    const base = known.length > 0 ? pick(known, a.pick) : {
      peer: pick(world.requesters, a.pick),
      id: a.of === "initiated" ? `cp${a.pick % 3}` : pick(world.ids, a.pick),
    };
    let { peer: from, id } = base as { peer: string; id: string | undefined };
    let to = domain;
    switch (a.forge) {
      case "wrong-id":
        id = `${id}x`;
        break;
      case "wrong-resource":
        from = `${bareOf(from)}/elsewhere`;
        break;
      case "non-target":
        from = pick(world.requesters, a.pick + 1);
        break;
      case "bare-to":
        to = `${domain}/x`;
        break;
      case "other-jat":
        to = `${domain}/${from}`;
        break;
      case "no-id":
        id = undefined;
        break;
      case "upper-to":
        to = domain.toUpperCase();
        break;
      case "upper-from":
        from = from.replace(bareOf(from), bareOf(from).toUpperCase());
        break;
      case "bad-address":
        to = `${domain}/@bad@`;
        break;
    }
    const name = a.of === "initiated" ? "iq" : "message";
    const type = name === "iq" && a.reply === "result" ? "result" : "error";
    return xml(name, { type, id, from, to }, ...replyPayload(a.reply));
  };

  const requestReplyOf = (a: ReplyAction): XmlElement => {
    const live = [...model.live.values()];
    const recent = model.recent;
    const late = a.forge === "late" || live.length === 0;
    const known = late ? recent : live;
    const req = known.length > 0 ? pick(known, a.pick) : undefined;
    // Without any request known, a reply nobody asked for.
    const via = req ? req.via : pick(world.requesters, a.pick);
    let id: string | undefined = req ? req.id : pick(world.ids, a.pick);
    let from = req ? req.resourceJid : targetJid(a.pick);
    let to = `${domain}/${via}`;
    switch (a.forge) {
      case "wrong-id":
        id = `${id}x`;
        break;
      case "wrong-resource":
        from = targetJid(a.pick + 1);
        break;
      case "non-target":
        from = pick(world.requesters, a.pick);
        break;
      case "bare-to":
        to = domain;
        break;
      case "other-jat":
        to = `${domain}/${pick(world.requesters, a.pick + 1)}`;
        break;
      case "no-id":
        id = undefined;
        break;
      case "upper-to":
        to = `${domain.toUpperCase()}/${via}`;
        break;
      case "upper-from":
        from = from.replace(bareOf(from), bareOf(from).toUpperCase());
        break;
      case "bad-address":
        to = pick([`${domain}/@bad@`, `${domain}//nope`, `${domain}/`, `${domain}//`], a.pick);
        break;
    }
    const type = a.reply === "result" ? "result" : "error";
    return xml("iq", { type, id, from, to }, ...replyPayload(a.reply));
  };

  const targetStanzaOf = (a: TargetStanzaAction): XmlElement =>
    xml(a.name, {
      type: a.type,
      id: idOf(a.id),
      from: targetJid(a.resource),
      to: toOf(a.to),
    }, xml("q", { xmlns: "urn:example:q" }));

  if (scenario.online) step("online", () => router.online(model.now));
  for (let i = 0; i < scenario.initialResources; i++) {
    deliver(xml("presence", { from: targetJid(i), to: domain }));
  }
  for (const action of scenario.actions) {
    switch (action.kind) {
      case "stanza":
        advance(action.dt);
        for (let i = 0; i < action.copies; i++) deliver(stanzaOf(action));
        break;
      case "presence":
        advance(action.dt);
        deliver(presenceOf(action));
        break;
      case "reply":
        advance(action.dt);
        deliver(replyOf(action));
        break;
      case "target-stanza":
        advance(action.dt);
        deliver(targetStanzaOf(action));
        break;
      case "tick":
        advance(action.dt);
        tick();
        break;
      case "online":
        advance(action.dt);
        step("online", () => router.online(model.now));
        for (let i = 0; i < action.back; i++) {
          deliver(xml("presence", { from: targetJid(i), to: domain }));
        }
        break;
      case "reload": {
        const next = { ...router.settings, ...action.settings };
        step("reload", () => {
          const fx = router.reconfigure(next, model.now);
          model.reload(next);
          model.maxPendingEver = Math.max(model.maxPendingEver, next.maxPending);
          model.maxTimeoutEver = Math.max(model.maxTimeoutEver, next.requestTimeoutMs);
          return fx;
        });
        break;
      }
      case "drain":
        step("drain", () => {
          router.drain();
          model.accepting = false;
        });
        break;
      case "storm":
        for (const item of action.items) {
          advance(item.dt);
          deliver(item.kind === "presence" ? presenceOf(item) : stanzaOf(item));
        }
        break;
    }
  }
  switch (scenario.ending) {
    case "settle": {
      step("drain", () => {
        router.drain();
        model.accepting = false;
      });
      step("settle", () => router.settleAll(model.now));
      // Late replies to what was settled are dropped.
      for (const req of [...model.recent].slice(-3)) {
        deliver(xml("iq", {
          type: "result",
          id: req.id,
          from: req.resourceJid,
          to: `${domain}/${req.via}`,
        }));
      }
      break;
    }
    case "expire":
      model.now += model.maxTimeoutEver + 1;
      tick();
      model.check(model.live.size === 0, "requests pending after every deadline passed");
      break;
  }
  return model.stats;
}

/**
 * What the stream writes for `s` parses, says what `s` says (name and every
 * attribute set), and reads back to the same text.
 */
function roundTrip(model: Model, s: XmlElement): void {
  const text = serialize(s);
  let back: XmlElement;
  try {
    back = parseXml(text);
  } catch (error) {
    model.fail(`sent stanza does not parse: ${short(text)}: ${error}`);
  }
  const set = (attrs: XmlElement["attrs"]) =>
    JSON.stringify(Object.entries(attrs).filter(([, v]) => v !== undefined).sort());
  model.check(
    back.name === s.name && set(back.attrs) === set(s.attrs),
    () => `sent stanza's text says otherwise: ${short(text)} for ${JSON.stringify(s.attrs)}`,
  );
  model.check(
    serialize(back) === serialize(parseXml(serialize(back))),
    () => `sent stanza changes when parsed: ${short(text)}`,
  );
}

/**
 * Whether `a` carries `b`'s payload: the very same children (built
 * stanzas), or the same content text (stanzas read from the wire, whose
 * children are parsed apart for each copy).
 */
function samePayload(a: XmlElement, b: XmlElement): boolean {
  if (a.children === b.children) return true;
  const text = (el: XmlElement) => el.children.map((child) => serialize(child)).join("");
  return text(a) === text(b);
}

/** The server's side of the stream: stanzas in as text, lazy elements out. */
class Wire {
  readonly #parser = new StreamParser();
  #last: XmlElement | undefined;

  constructor(domain: string) {
    this.#parser.on("element", (el: XmlElement) => (this.#last = el));
    this.#parser.on("error", (error: Error) => {
      throw error;
    });
    this.#parser.write(
      `<stream:stream xmlns='jabber:component:accept' ` +
        `xmlns:stream='http://etherx.jabber.org/streams' id='fuzz' from='${domain}'>`,
    );
  }

  read(el: XmlElement): XmlElement {
    this.#last = undefined;
    this.#parser.write(serialize(el));
    if (!this.#last) throw new Error(`the stream parser gave nothing for ${serialize(el)}`);
    return this.#last;
  }
}

function formatTrace(trace: readonly Trace[], scenario: Scenario): string {
  const lines = [
    `settings: ${JSON.stringify(scenario.settings)}; timers=${scenario.timers} ` +
    `loopback=${scenario.loopback}`,
    "last steps:",
  ];
  for (const t of trace) {
    lines.push(`  #${t.step} ${t.op} at ${t.now}${t.incoming ? `: ${show(t.incoming)}` : ""}`);
    for (const s of t.out) lines.push(`      -> ${show(s)}`);
  }
  return lines.join("\n");
}

// --- helpers -------------------------------------------------------------------

function payload(kind: number): XmlNode[] {
  switch (kind) {
    case 0:
      return [];
    case 1:
      return [xml("query", { xmlns: "urn:example:q" })];
    case 2:
      return [xml("query", { xmlns: "urn:example:q" }, `text & "stuff" <x> ]]>`)];
    case 3:
      return ["hi", xml("a", { xmlns: "urn:x" }), xml("b", { xmlns: "urn:y", "xml:lang": "fr" })];
    case 4:
      return [xml("error", { type: "cancel" }, xml("service-unavailable", { xmlns: STANZAS }))];
    default: {
      let el = xml("leaf", { xmlns: "urn:deep" }, "𝄞");
      for (let i = 0; i < 40; i++) el = xml("n", {}, el);
      return [el];
    }
  }
}

function replyPayload(kind: ReplyKind): XmlNode[] {
  const error = (type: string, ...children: XmlNode[]) => xml("error", { type }, ...children);
  switch (kind) {
    case "result":
      return [xml("answer", { xmlns: "urn:example:q" }, "42")];
    case "app-error":
      return [
        error(
          "modify",
          xml("item-not-found", { xmlns: STANZAS }),
          xml("text", { xmlns: STANZAS }, "nope"),
          xml("too-big", { xmlns: "urn:example:app" }),
        ),
      ];
    case "bounce":
      return [error("cancel", xml("service-unavailable", { xmlns: STANZAS }))];
    case "bounce-recipient":
      return [error("wait", xml("recipient-unavailable", { xmlns: STANZAS }))];
    case "error-no-condition":
      return [error("cancel")];
    case "error-foreign-ns":
      return [error("cancel", xml("service-unavailable", { xmlns: "urn:example:not-stanzas" }))];
  }
}

/** The defined condition of an error stanza (RFC 6120 §8.3.3), if any. */
function conditionOf(el: XmlElement): string | undefined {
  const error = el.getChild("error");
  const child = error?.children.find((c): c is XmlElement =>
    typeof c !== "string" && c.attrs.xmlns === STANZAS && c.name !== "text"
  );
  return child?.name;
}

function isResult(el: XmlElement): boolean {
  return el.name === "iq" && el.attrs.type === "result";
}

/** A JID as the server stamps it: local and domain lowercase, the resource as is. */
function normalize(jid: string): string {
  const slash = jid.indexOf("/");
  return slash < 0 ? jid.toLowerCase() : jid.slice(0, slash).toLowerCase() + jid.slice(slash);
}

function domainOf(jid: string): string {
  const bare = bareOf(jid).toLowerCase();
  return bare.slice(bare.indexOf("@") + 1);
}

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined || a < b ? a : b;
}

/**
 * Access lists as the README says (independent of src/core/access.ts):
 * `user@example.org` one account, `@example.org` a domain and its users,
 * `*.example.org` strict subdomains; case-insensitive; deny wins; no allow
 * list allows everyone.
 */
function accessAllows(
  allow: readonly string[] | undefined,
  deny: readonly string[] | undefined,
  bare: string,
): boolean {
  const domain = bare.slice(bare.indexOf("@") + 1);
  const matches = (patterns: readonly string[]) =>
    patterns.some((pattern) => {
      const p = pattern.toLowerCase();
      if (p.startsWith("*.")) return domain.endsWith(p.slice(1));
      if (p.startsWith("@")) return domain === p.slice(1);
      return bare === p;
    });
  if (deny && matches(deny)) return false;
  return !allow || allow.length === 0 || matches(allow);
}

function bareOf(jid: string): string {
  const slash = jid.indexOf("/");
  return slash < 0 ? jid : jid.slice(0, slash);
}

const encoder = new TextEncoder();

/** Whether a requester's JID fits a resourcepart (1023 bytes). */
function fitsResource(jid: string): boolean {
  return jid.length <= MAX_PART_BYTES && encoder.encode(jid).length <= MAX_PART_BYTES;
}

function short(text: string | undefined): string {
  if (text === undefined) return "undefined";
  return text.length > 120 ? `${text.slice(0, 80)}…(${text.length} chars)` : text;
}

function show(el: XmlElement): string {
  return short(el.toString()).replace(/[\t\n\r]/g, (c) => JSON.stringify(c).slice(1, -1));
}

/** A small seeded PRNG for the router's `random`: uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The address a refusal comes from: the `to` it answers, with our domain as configured. */
function ourSpelling(to: string | undefined): string | undefined {
  if (to === undefined) return undefined;
  const slash = to.indexOf("/");
  return slash < 0 ? to.toLowerCase() : to.slice(0, slash).toLowerCase() + to.slice(slash);
}

/**
 * The actions of a scenario: stanzas from outside and from the target,
 * the target's presence, replies made from what the model knows, time,
 * reconnects, reloads, draining and presence storms.
 */
import fc from "fast-check";
import { OVERSIZED } from "./stanzas.ts";
import type { Balance } from "../../../src/core/balance.ts";
import { resourcePart } from "./addresses.ts";
import { ROOM_PAYLOADS } from "./stanzas.ts";
import type {
  Action,
  Dt,
  Forge,
  HeldAction,
  IdVariant,
  Look,
  PresenceAction,
  ReplyAction,
  ReplyKind,
  SiblingWrite,
  StanzaAction,
  TargetStanzaAction,
  ToVariant,
  Tunables,
} from "./scenario.ts";

const dtArb: fc.Arbitrary<Dt> = fc.oneof(
  { weight: 10, arbitrary: fc.constant(0) },
  { weight: 5, arbitrary: fc.integer({ min: 1, max: 50 }) },
  { weight: 1, arbitrary: fc.double({ min: 0, max: 10, noNaN: true }) },
  { weight: 2, arbitrary: fc.constantFrom<Dt>("t-1", "t", "t+1") },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 120_000 }) },
);

export const tunablesArb: fc.Arbitrary<Tunables> = fc.record({
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

/** Now and then a stanza carried over from a closed stream: how long ago it arrived. */
const lateArb = fc.oneof(
  { weight: 20, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.constantFrom(0.5, 10, 600, 2_000, 30_000) },
);

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
      // Now and then a conference about a room (affinity): see stanzas.ts.
      payload: fc.oneof(
        { weight: 3, arbitrary: fc.nat(5) },
        { weight: 3, arbitrary: fc.integer({ min: ROOM_PAYLOADS, max: ROOM_PAYLOADS + 9 }) },
      ),
      copies: fc.oneof({ weight: 8, arbitrary: fc.constant(1) }, {
        weight: 1,
        arbitrary: fc.integer({ min: 2, max: 4 }),
      }),
      late: lateArb,
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
  show: fc.oneof(
    { weight: 12, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: fc.constant("dnd") },
    { weight: 1, arbitrary: fc.constantFrom("away", "chat", " dnd ") },
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
  payload: fc.nat(7),
  late: lateArb,
});

/** A stanza from outside over max_stanza_size (hostile): its payload is skipped unread. */
export const oversizedArb: fc.Arbitrary<Action> = stanzaAction().map((a) => ({
  ...a,
  payload: OVERSIZED,
}));

/** A reply over max_stanza_size (hostile): its requester is answered with an error at once. */
export const oversizedReplyArb: fc.Arbitrary<Action> = replyAction.map((a) => ({
  ...a,
  oversized: true,
}));

/** The other instance's writes to the store both share: rooms, resources and subscribers by index. */
const siblingWriteArb: fc.Arbitrary<SiblingWrite> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("pin" as const),
      room: fc.nat(6),
      resource: fc.nat(3),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("unpin" as const), room: fc.nat(6) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constantFrom("subscribe" as const, "unsubscribe" as const),
      who: fc.nat(3),
    }),
  },
);

/** What a look is handed, close together: requests, the target's presence, replies (late ones). */
const heldArb: fc.Arbitrary<HeldAction> = fc.tuple(
  fc.oneof(
    { weight: 5, arbitrary: stanzaAction() as fc.Arbitrary<HeldAction> },
    { weight: 4, arbitrary: presenceAction },
    { weight: 4, arbitrary: replyAction },
    { weight: 1, arbitrary: targetStanzaAction },
  ),
  fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, {
    weight: 2,
    arbitrary: fc.integer({ min: 1, max: 60 }),
  }),
).map(([action, dt]) => ({ ...action, dt }));

const lookArb: fc.Arbitrary<Look> = fc.record({
  wait: dtArb,
  before: fc.array(siblingWriteArb, { maxLength: 4 }),
  held: fc.array(heldArb, { maxLength: 8 }),
  during: fc.array(siblingWriteArb, { maxLength: 3 }),
  // 400 ms without a sign of the sibling; less when it answers, more on a slow machine.
  ms: fc.oneof({ weight: 4, arbitrary: fc.constant(400) }, {
    weight: 1,
    arbitrary: fc.integer({ min: 0, max: 1_500 }),
  }),
  unreadable: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, {
    weight: 1,
    arbitrary: fc.constant(true),
  }),
});

/** Another instance takes over (ejabberd), then looks from standby, the last of which may take over. */
const handOverArb: fc.Arbitrary<Action> = fc.record({
  kind: fc.constant("hand-over" as const),
  dt: dtArb,
  looks: fc.array(lookArb, { minLength: 1, maxLength: 3 }),
  // Now and then the run ends standing by: what comes next goes to the sibling.
  takeOver: fc.oneof({ weight: 12, arbitrary: fc.constant(true) }, {
    weight: 1,
    arbitrary: fc.constant(false),
  }),
});

/** A restart of the proxy: rare, and only in hostile runs. */
export const restartArb: fc.Arbitrary<Action> = fc.record({
  kind: fc.constant("restart" as const),
  dt: dtArb,
  back: fc.nat(3),
});

// Weights in fifths, so that draining (which ends all forwarding) stays rare.
export const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 150, arbitrary: stanzaAction() },
  { weight: 60, arbitrary: presenceAction },
  { weight: 110, arbitrary: replyAction },
  { weight: 30, arbitrary: targetStanzaAction },
  { weight: 50, arbitrary: dtArb.map((dt): Action => ({ kind: "tick", dt })) },
  {
    weight: 5,
    arbitrary: fc.record({ kind: fc.constant("online" as const), dt: dtArb, back: fc.nat(3) }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      settings: tunablesArb,
      drain: fc.option(fc.array(fc.nat(7), { maxLength: 2 }), { nil: undefined }),
    }).map(({ settings, drain }): Action => ({
      kind: "reload",
      settings,
      ...(drain === undefined ? {} : { drain }),
    })),
  },
  { weight: 1, arbitrary: fc.constant<Action>({ kind: "drain" }) },
  { weight: 2, arbitrary: handOverArb },
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

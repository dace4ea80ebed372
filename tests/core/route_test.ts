/**
 * src/core/route.ts and the admission table: a table of cases walks every
 * routing row, no row is shadowed by the ones above it, every admission
 * check answers as documented, and docs/how-it-works.md shows the tables
 * as the code has them.
 */
import assert from "node:assert/strict";
import {
  classify,
  type Condition,
  type Decision,
  type Kind,
  type Recipient,
  type Route,
  ROUTES,
  type Sender,
} from "../../src/core/route.ts";
import { ADMISSION } from "../../src/core/admission.ts";
import type { RouterSettings } from "../../src/core/settings.ts";
import {
  isOversized,
  oversizedElement,
  parseXml,
  serialize,
  type XmlElement,
} from "../../src/core/xml.ts";
import { DOC, markdown, tableIn, TABLES } from "../../dev/behaviour_tables.ts";
import { BASE_SETTINGS, DOMAIN, TARGET, testRouter } from "../support/router.ts";

const USER = "alice@example.org/phone";
const PEER = "bob@example.net/laptop";

/** What a case expects: a rule's name, a refusal's condition, or a drop's reason. */
type Expected = `rule ${string}` | `refuse ${string}` | `drop ${string}`;

interface Case {
  readonly stanza: string;
  readonly settings?: Partial<RouterSettings>;
  readonly inFlight?: boolean;
  /** Over `max_stanza_size`: as the scanner hands it on, its start tag only. */
  readonly oversized?: boolean;
  readonly expect: Expected;
}

const iq = (type: string, from: string, to: string) =>
  `<iq type="${type}" id="1" from="${from}" to="${to}"/>`;
const presence = (type: string | undefined, from: string, to: string) =>
  `<presence${type ? ` type="${type}"` : ""} from="${from}" to="${to}"/>`;
const message = (type: string, from: string, to: string) =>
  `<message type="${type}" id="1" from="${from}" to="${to}"/>`;

const ON = {
  targetRequests: { allowTargetRequests: true },
  forward: { messages: "forward" as const },
  presence: { presence: true },
};
const TARGET_A = `${TARGET}/a`;
const TO_USER = `${DOMAIN}/${USER}`;
const TO_PEER = `${DOMAIN}/${PEER}`;

/** At least one case per row of ROUTES (checked below), with what it must meet. */
const CASES: readonly Case[] = [
  { stanza: iq("get", USER, DOMAIN), oversized: true, expect: "refuse policy-violation" },
  { stanza: iq("set", TARGET_A, TO_PEER), oversized: true, expect: "refuse policy-violation" },
  { stanza: iq("result", TARGET_A, TO_USER), oversized: true, expect: "rule reply_too_big" },
  { stanza: iq("error", TARGET_A, TO_USER), oversized: true, expect: "rule reply_too_big" },
  {
    stanza: iq("result", PEER, DOMAIN),
    oversized: true,
    expect: "rule target_request_reply_too_big",
  },
  {
    stanza: iq("error", USER, DOMAIN),
    oversized: true,
    expect: "rule target_request_reply_too_big",
  },
  { stanza: iq("result", USER, TO_PEER), oversized: true, expect: "drop too_big" },
  {
    stanza: message("chat", USER, DOMAIN),
    settings: ON.forward,
    oversized: true,
    expect: "drop too_big",
  },
  { stanza: presence(undefined, TARGET_A, DOMAIN), oversized: true, expect: "drop too_big" },
  { stanza: `<iq type="get" id="1" to="${DOMAIN}"/>`, oversized: true, expect: "drop too_big" },
  { stanza: iq("get", USER, "other.example.org"), oversized: true, expect: "drop too_big" },
  { stanza: iq("get", USER, DOMAIN), expect: "rule request" },
  { stanza: iq("set", USER, `${DOMAIN}/anything`), expect: "rule request" },
  { stanza: iq("get", USER, DOMAIN.toUpperCase()), expect: "rule request" },
  { stanza: iq("result", TARGET_A, TO_USER), expect: "rule reply" },
  { stanza: iq("error", TARGET_A, TO_USER), expect: "rule reply" },
  {
    stanza: iq("get", TARGET_A, TO_PEER),
    settings: ON.targetRequests,
    expect: "rule target_request",
  },
  { stanza: iq("get", TARGET_A, TO_PEER), expect: "refuse feature-not-implemented" },
  {
    stanza: iq("set", TARGET_A, DOMAIN),
    settings: ON.targetRequests,
    expect: "refuse bad-request",
  },
  { stanza: iq("result", PEER, DOMAIN), inFlight: true, expect: "rule target_request_reply" },
  { stanza: iq("error", PEER, DOMAIN), inFlight: true, expect: "rule target_request_reply" },
  { stanza: iq("result", PEER, DOMAIN), expect: "drop unexpected_reply" },
  { stanza: iq("result", USER, TO_USER), expect: "drop unexpected_reply" },
  { stanza: iq("error", USER, DOMAIN), expect: "drop error_stanza" },
  { stanza: iq("poke", USER, DOMAIN), expect: "refuse bad-request" },
  { stanza: `<iq id="1" from="${USER}" to="${DOMAIN}"/>`, expect: "refuse bad-request" },
  { stanza: presence(undefined, TARGET_A, TO_USER), expect: "drop ignored_presence" },
  { stanza: presence(undefined, TARGET_A, DOMAIN), expect: "rule target_presence" },
  { stanza: presence("subscribe", TARGET, DOMAIN), expect: "rule target_presence" },
  { stanza: presence("error", USER, DOMAIN), settings: ON.presence, expect: "drop error_stanza" },
  {
    stanza: presence("subscribe", USER, DOMAIN),
    settings: ON.presence,
    expect: "rule user_presence",
  },
  { stanza: presence("subscribe", USER, DOMAIN), expect: "refuse bad-request" },
  { stanza: message("error", PEER, DOMAIN), settings: ON.forward, expect: "rule message_error" },
  {
    stanza: message("error", TARGET_A, TO_PEER),
    settings: ON.forward,
    expect: "rule target_message_error",
  },
  { stanza: message("error", PEER, DOMAIN), expect: "drop error_stanza" },
  { stanza: message("chat", TARGET_A, DOMAIN), settings: ON.forward, expect: "refuse bad-request" },
  {
    stanza: message("chat", TARGET_A, TO_PEER),
    settings: ON.forward,
    expect: "rule target_message",
  },
  { stanza: message("chat", USER, DOMAIN), settings: ON.forward, expect: "rule user_message" },
  { stanza: message("chat", USER, DOMAIN), expect: "refuse feature-not-implemented" },
  { stanza: message("chat", TARGET_A, TO_PEER), expect: "refuse feature-not-implemented" },
  { stanza: `<foo from="${USER}" to="${DOMAIN}"/>`, expect: "drop unknown_stanza" },
  // Before the table: addresses.
  { stanza: `<iq type="get" id="1" to="${DOMAIN}"/>`, expect: "drop no_address" },
  { stanza: iq("get", `/${USER}`, DOMAIN), expect: "drop no_address" },
  { stanza: iq("get", USER, "other.example.org"), expect: "drop not_ours" },
];

function describe(then: Decision): Expected {
  if (then.kind === "rule") return `rule ${then.rule}`;
  if (then.kind === "refuse") return `refuse ${then.error.condition}`;
  return `drop ${then.reason}`;
}

function run(c: Case) {
  return meet(...situation(c)).classified;
}

function situation(c: Case): [XmlElement, RouterSettings, boolean] {
  const settings = { ...BASE_SETTINGS, ...c.settings };
  const el = parseXml(c.stanza);
  const stanza = c.oversized ? oversizedElement(el.name, { ...el.attrs }, null) : el;
  return [stanza, settings, c.inFlight ?? false];
}

/** What each row's `when` means. */
const HOLDS: Record<
  Condition,
  (settings: RouterSettings, inFlight: boolean, el: XmlElement) => boolean
> = {
  "allow_target_requests": (settings) => settings.allowTargetRequests === true,
  "messages: forward": (settings) => settings.messages === "forward",
  "presence: true": (settings) => settings.presence === true,
  "target requests in flight": (_, inFlight) => inFlight,
  "over max_stanza_size": (_, __, el) => isOversized(el),
};

/**
 * The row of ROUTES a stanza meets, read off the table as a reader reads it
 * (its shape, then the first row whose condition holds); undefined for one
 * the table never sees (no address, or not to the domain). Several rows
 * share one decision object, so a row is known by itself, never by its
 * `then`.
 */
function rowFor(el: XmlElement, settings: RouterSettings, inFlight: boolean): Route | undefined {
  const { to, from, type } = el.attrs;
  if (to === undefined || from === undefined || from === "" || from.startsWith("/")) {
    return undefined;
  }
  const bare = (jid: string) => jid.split("/")[0].toLowerCase();
  if (bare(to) !== settings.domain) return undefined;
  const kind: Kind = type === "error"
    ? "error"
    : el.name !== "iq"
    ? "other"
    : type === "get" || type === "set"
    ? "request"
    : type === "result"
    ? "result"
    : "bad_iq";
  const sender: Sender = bare(from) === settings.targetAddress ? "target" : "other";
  const recipient: Recipient = to.includes("/") ? "resource" : "domain";
  return ROUTES.find((row) =>
    (row.stanza === "*" || row.stanza === el.name) && (row.kind === "*" || row.kind === kind) &&
    (row.from === "*" || row.from === sender) && (row.to === "*" || row.to === recipient) &&
    (row.when === undefined || HOLDS[row.when](settings, inFlight, el))
  );
}

/** classify()'s answer, and the row it came from: the decision must be that row's own. */
function meet(el: XmlElement, settings: RouterSettings, inFlight: boolean) {
  const classified = classify(el, settings, inFlight);
  const row = rowFor(el, settings, inFlight);
  if (row !== undefined) {
    assert.equal(classified.then, row.then, `${serialize(el)}: not what "${row.doc[0]}" says`);
  }
  return { classified, row };
}

function check(c: Case) {
  assert.equal(describe(run(c).then), c.expect, c.stanza);
}

Deno.test("route: every case meets the rule it should", () => {
  for (const c of CASES) check(c);
});

Deno.test("route: the cases walk every row of the table", () => {
  const hit = new Set(CASES.map((c) => meet(...situation(c)).row));
  const missed = ROUTES.flatMap((row, i) => hit.has(row) ? [] : [`row ${i}: ${row.doc[0]}`]);
  assert.deepEqual(missed, []);
});

Deno.test("route: it reads the addresses the rules need", () => {
  const reply = run({ stanza: iq("result", TARGET_A, TO_USER), expect: "rule reply" });
  assert.equal(reply.toResource, USER);
  assert.equal(reply.fromSlash, TARGET.length);
  const toDomain = run({ stanza: presence(undefined, TARGET, DOMAIN), expect: "rule reply" });
  assert.equal(toDomain.toResource, undefined);
  assert.equal(toDomain.fromSlash, -1);
});

Deno.test("route: addresses match their lowercase form, and only that", () => {
  // The server may stamp capitals; İ lower-cases to two characters (i̇).
  const upper = (jid: string) => jid.toUpperCase();
  check({ stanza: iq("get", USER, upper(DOMAIN)), expect: "rule request" });
  check({ stanza: iq("result", upper(TARGET) + "/a", TO_USER), expect: "rule reply" });
  const dotted = { targetAddress: "i\u0307x@example.org" };
  check({
    stanza: iq("result", "\u0130x@example.org/a", TO_USER),
    settings: dotted,
    expect: "rule reply",
  });
  check({
    stanza: iq("result", "ix@example.org/a", TO_USER),
    settings: dotted,
    expect: "drop unexpected_reply",
  });
  check({ stanza: iq("get", USER, DOMAIN + "x"), expect: "drop not_ours" });
  check({ stanza: iq("get", USER, DOMAIN.slice(1)), expect: "drop not_ours" });
});

/** Every shape a stanza can take, for the rows' reachability. */
function* shapes(): Generator<{ el: XmlElement; settings: RouterSettings; inFlight: boolean }> {
  const types: Record<string, (string | undefined)[]> = {
    iq: ["get", "result", "error", "poke"],
    presence: [undefined, "subscribe", "error"],
    message: ["chat", "error"],
    foo: [undefined],
  };
  for (const [name, kinds] of Object.entries(types)) {
    for (const type of kinds) {
      for (const from of [USER, TARGET_A]) {
        for (const to of [DOMAIN, TO_PEER]) {
          for (let flags = 0; flags < 32; flags++) {
            const t = type === undefined ? "" : ` type="${type}"`;
            const read = parseXml(`<${name}${t} id="1" from="${from}" to="${to}"/>`);
            const el = (flags & 16) !== 0 ? oversizedElement(name, { ...read.attrs }, null) : read;
            const settings: RouterSettings = {
              ...BASE_SETTINGS,
              allowTargetRequests: (flags & 1) !== 0,
              messages: (flags & 2) !== 0 ? "forward" : "reject",
              presence: (flags & 4) !== 0,
            };
            yield { el, settings, inFlight: (flags & 8) !== 0 };
          }
        }
      }
    }
  }
}

Deno.test("route: no row is shadowed by the rows above it", () => {
  const reached = new Set<Route | undefined>();
  for (const { el, settings, inFlight } of shapes()) reached.add(meet(el, settings, inFlight).row);
  const dead = ROUTES.flatMap((row, i) => reached.has(row) ? [] : [`row ${i}: ${row.doc[0]}`]);
  assert.deepEqual(dead, []);
});

// --- admission ----------------------------------------------------------------

const request = (id: string | undefined, from = USER) =>
  parseXml(
    `<iq type="get"${
      id === undefined ? "" : ` id="${id}"`
    } from="${from}" to="${DOMAIN}"><q xmlns="urn:example:q"/></iq>`,
  );

/** Past the first second after connecting: nothing waits for a resource. */
const AT = 5_000;

/** For each admission row (by its text), a router and the request it refuses. */
const ADMISSION_CASES: Record<string, () => { fx: ReturnType<typeof refusedBy> }> = {
  "it has no `id`": () => ({
    fx: refusedBy(testRouter({}, { resources: ["a"] }), request(undefined)),
  }),
  "the proxy is shutting down": () => {
    const router = testRouter({}, { resources: ["a"] });
    router.drain();
    return { fx: refusedBy(router, request("1")) };
  },
  "the requester is refused by `allow`/`deny`": () => ({
    fx: refusedBy(testRouter({ deny: ["alice@example.org"] }, { resources: ["a"] }), request("1")),
  }),
  "… with `hide_from_denied`": () => ({
    fx: refusedBy(
      testRouter({ deny: ["alice@example.org"], hideFromDenied: true }, { resources: ["a"] }),
      request("1"),
    ),
  }),
  "the requester is over its `rate_limit`": () => {
    const router = testRouter({ rateLimit: { perSecond: 1, burst: 1 } }, { resources: ["a"] });
    router.receive(request("1"), AT);
    return { fx: refusedBy(router, request("2")) };
  },
  "the requester's domain is over its `rate_limit_per_domain`": () => {
    const limit = { rateLimitPerDomain: { perSecond: 1, burst: 1 } };
    const router = testRouter(limit, { resources: ["a"] });
    router.receive(request("1", "carol@example.org/desk"), AT);
    return { fx: refusedBy(router, request("2")) };
  },
  "it reached a stream that was closing, and has waited `request_timeout` by the time the next one serves (a reload)":
    () => {
      const router = testRouter({ requestTimeoutMs: 1_000 }, { resources: ["a"] });
      return { fx: router.receive(request("1"), AT, AT - 1_000) };
    },
  "the requester's domain has `max_pending_per_domain` pending": () => {
    const router = testRouter({ maxPendingPerDomain: 1 }, { resources: ["a"] });
    router.receive(request("1", "carol@EXAMPLE.org./desk"), AT);
    return { fx: refusedBy(router, request("2")) };
  },
  "a request of the requester with this id is pending": () => {
    const router = testRouter({}, { resources: ["a"] });
    router.receive(request("1"), AT);
    return { fx: refusedBy(router, request("1")) };
  },
  "`max_pending` requests are in flight": () => {
    const router = testRouter({ maxPending: 1 }, { resources: ["a"] });
    router.receive(request("1", PEER), AT);
    return { fx: refusedBy(router, request("2")) };
  },
  "the requester has `max_pending_per_requester` pending": () => {
    const router = testRouter({ maxPendingPerRequester: 1 }, { resources: ["a"] });
    router.receive(request("1"), AT);
    return { fx: refusedBy(router, request("2")) };
  },
  "every resource holds `max_pending_per_resource`": () => {
    const router = testRouter({ maxPendingPerResource: 1 }, { resources: ["a"] });
    router.receive(request("1", PEER), AT);
    return { fx: refusedBy(router, request("2")) };
  },
  "the resource its `affinity` key is pinned to holds `max_pending_per_resource` (the key does not move while that resource is online)":
    () => {
      const settings = { maxPendingPerResource: 1, affinity: [ROOM_SHAPE] };
      const router = testRouter(settings, { resources: ["a", "b"] });
      router.receive(roomRequest("1", "r1", PEER), AT);
      return { fx: refusedBy(router, roomRequest("2", "r1")) };
    },
  "every resource online is draining (`<show>dnd</show>`, or named in `drain`), and the request's `affinity` key is pinned to none of them":
    () => {
      // One says dnd, the other is named in drain.
      const router = testRouter({ affinity: [ROOM_SHAPE], drain: ["b"] }, {
        resources: ["a", "b"],
      });
      router.receive(
        parseXml(`<presence from="${TARGET}/a" to="${DOMAIN}"><show>dnd</show></presence>`),
        AT,
      );
      return { fx: refusedBy(router, roomRequest("1", "r1")) };
    },
};

const ROOM_SHAPE = { namespace: "urn:example:q", element: "q", attribute: "room" };

const roomRequest = (id: string, room: string, from = USER) =>
  parseXml(
    `<iq type="set" id="${id}" from="${from}" to="${DOMAIN}"><q xmlns="urn:example:q" room="${room}"/></iq>`,
  );

function refusedBy(router: ReturnType<typeof testRouter>, stanza: XmlElement) {
  return router.receive(stanza, AT);
}

Deno.test("admission: every check answers as its row says", () => {
  for (const [when, error, outcome] of ADMISSION) {
    const make = ADMISSION_CASES[when] ??
      (when.startsWith("no resource is online")
        ? () => ({ fx: refusedBy(testRouter({}, {}), request("1")) })
        : undefined);
    assert.ok(make, `no case for the admission row "${when}"`);
    const { fx } = make();
    assert.equal(fx.send.length, 1, `${when}: ${fx.send.map(String).join(" | ")}`);
    const sent = fx.send[0];
    assert.equal(sent.attrs.type, "error", when);
    assert.equal(sent.attrs.to, USER, when);
    assert.equal(sent.attrs.from, DOMAIN, when);
    const el = sent.getChild("error");
    assert.equal(el?.attrs.type, error.type, when);
    assert.ok(el?.getChild(error.condition, "urn:ietf:params:xml:ns:xmpp-stanzas"), when);
    const counted = fx.events.find((e) => e.type === "outcome");
    assert.equal(counted?.type === "outcome" ? counted.outcome : undefined, outcome, when);
    // The refusal says why by the same name, for the log; a timeout is one, not a refusal.
    const refused = fx.events.find((e) => e.type === "refused");
    const reason = outcome === "timeout" ? undefined : outcome;
    assert.equal(refused?.type === "refused" ? refused.reason : undefined, reason, when);
  }
});

// --- the doc ----------------------------------------------------------------

Deno.test("docs/how-it-works.md shows the routing and admission tables as the code has them", async () => {
  const doc = await Deno.readTextFile(new URL(`../../${DOC}`, import.meta.url));
  for (const [name, render] of Object.entries(TABLES)) {
    const shown = tableIn(doc, name);
    assert.ok(shown, `${DOC} has no table "${name}" between its markers`);
    assert.deepEqual(
      shown,
      render(),
      `${DOC}: the "${name}" table differs from the code; run deno task docs:tables\n` +
        markdown(render()),
    );
  }
});

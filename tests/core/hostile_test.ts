/**
 * What a hostile requester, remote domain or implementing client can make
 * the router do (issue 16), one hole per test: each failed before the fix.
 */
import assert from "node:assert/strict";
import { peerAddress, Tokens } from "../../src/core/jat.ts";
import { stampedBare } from "../../src/core/jid.ts";
import { Router, type RouterSettings } from "../../src/core/router.ts";
import { errorCondition } from "../../src/core/stanza.ts";
import { parseXml, type XmlElement } from "../../src/core/xml.ts";
import { mulberry32Bits } from "../support/fuzz/helpers.ts";
import { BASE_SETTINGS, DOMAIN, resourcePresence, TARGET, testRouter } from "../support/router.ts";

/** A resource long enough that the requester's JID needs a token. */
const LONG = "r".repeat(1020);

const iq = (type: string, id: string, from: string, to: string) =>
  parseXml(`<iq type="${type}" id="${id}" from="${from}" to="${to}"><q xmlns="urn:x"/></iq>`);

function condition(el: XmlElement): string | undefined {
  return errorCondition(el);
}

// --- 1. long-address tokens never repeat across runs ----------------------------

Deno.test("hole 1: a late reply from before a restart reaches nobody of the new run", () => {
  const alice = `alice@example.org/${LONG}`;
  const mallory = `mallory@example.org/${LONG}`;
  const run = (seed: number) => {
    const router = new Router(BASE_SETTINGS, { random: () => 0, randomBits: mulberry32Bits(seed) });
    router.online(0);
    router.receive(resourcePresence("a"), 0);
    return router;
  };
  const before = run(1);
  const forwardedForAlice = before.receive(iq("get", "1", alice, DOMAIN), 1).send[0];
  const oldAddress = forwardedForAlice.attrs.from as string;
  assert.ok(oldAddress.startsWith(`${DOMAIN}//`), oldAddress);
  // The proxy restarts (a new run: new randomness), Mallory asks with the same id.
  const after = run(2);
  const forwardedForMallory = after.receive(iq("get", "1", mallory, DOMAIN), 1).send[0];
  assert.notEqual(forwardedForMallory.attrs.from, oldAddress);
  // The implementing client answers Alice's request late: nobody gets it.
  const late = iq("result", "1", `${TARGET}/a`, oldAddress);
  const fx = after.receive(late, 2);
  assert.deepEqual(fx.send, []);
  assert.deepEqual(fx.events.map((e) => e.type === "dropped" && e.reason), ["unmatched"]);
});

Deno.test("hole 1: tokens are a run's 64-bit prefix and a counter, short and base 36", () => {
  const a = new Tokens(mulberry32Bits(7));
  const b = new Tokens(mulberry32Bits(8));
  const first = [a.next(), a.next(), a.next()];
  assert.equal(new Set([...first, b.next()]).size, 4);
  for (const token of first) assert.match(token, /^\/[0-9a-z]{15}$/);
  // `/`, 14 digits of prefix, then the counter.
  assert.equal(first[0].slice(0, 15), first[2].slice(0, 15));
  assert.equal(first[2].slice(15), "2");
  // Every bit of both draws is in the prefix: the largest and smallest draws.
  assert.equal(new Tokens(() => 0xffffffff).next(), "/1z141z31z141z30");
  assert.equal(new Tokens(() => 0).next(), "/000000000000000");
  // Drawn from the source it is given, twice, at the first token only.
  const draws: number[] = [];
  const counted = new Tokens(() => (draws.push(draws.length), 0x12345678));
  assert.deepEqual(draws, [], "nothing drawn before a token is needed");
  assert.deepEqual([counted.next(), counted.next()], ["/051u7i0051u7i00", "/051u7i0051u7i01"]);
  assert.deepEqual(draws, [0, 1]);
  // Even a source stuck at one value gives distinct tokens within a run.
  const stuck = new Tokens(() => 0);
  assert.notEqual(stuck.next(), stuck.next());
});

// --- 2. the implementing client cannot make the proxy talk to itself -----------

const RESPELLINGS = [
  DOMAIN,
  `${DOMAIN}.`,
  DOMAIN.toUpperCase(),
  "ｐｒｏｘｙ.example.org",
  "proxy。example。org",
  "pro\u00adxy.example.org",
  `anyone@${DOMAIN}.`,
  `${DOMAIN}./resource`,
];

Deno.test("hole 2: <domain>/<our domain in any spelling> is never a peer", () => {
  for (const spelling of RESPELLINGS) {
    assert.equal(peerAddress(spelling, DOMAIN), undefined, spelling);
  }
  assert.equal(peerAddress("bob@example.net/x", DOMAIN), "bob@example.net/x");
  assert.equal(peerAddress("xn--bcher-kva.example", "bücher.example"), undefined);
  assert.equal(peerAddress("bücher.example", "xn--bcher-kva.example"), undefined);
});

Deno.test("hole 2: a relay-shaped message to <domain>/<domain>. is refused, never sent to us", () => {
  const router = testRouter({ messages: "forward", allowTargetRequests: true }, {
    resources: ["a"],
  });
  for (const spelling of RESPELLINGS) {
    const relay = parseXml(
      `<message id="m" from="${TARGET}/a" to="${DOMAIN}/${spelling}"><relay xmlns="urn:xmpp:client-proxy:relay:0"><iq type="result" id="1" from="${TARGET}/b" to="${DOMAIN}/alice@example.org/x"/></relay></message>`,
    );
    const fx = router.receive(relay, 1);
    assert.equal(fx.send.length, 1, spelling);
    assert.equal(fx.send[0].attrs.type, "error", spelling);
    assert.equal(fx.send[0].attrs.to, `${TARGET}/a`, spelling);
    assert.equal(condition(fx.send[0]), "jid-malformed", spelling);
    const ping = iq("get", "p", `${TARGET}/a`, `${DOMAIN}/${spelling}`);
    const answer = router.receive(ping, 1).send;
    assert.equal(answer.length, 1, spelling);
    assert.equal(answer[0].attrs.to, `${TARGET}/a`, spelling);
    assert.equal(condition(answer[0]), "jid-malformed", spelling);
  }
});

Deno.test("hole 2: the target is known by the address the server stamps, however it was written", () => {
  const cases: [written: string, stamped: string][] = [
    ["Straße@Example.ORG", "strasse@example.org"],
    ["ＳＥＲＶＩＣＥ@example.org", "service@example.org"],
    ["svc@Bücher.Example", "svc@bücher.example"],
    ["svc@bücher.example", "svc@xn--bcher-kva.example"],
    ["svc@xn--bcher-kva.example", "svc@bücher.example"],
  ];
  for (const [written, stamped] of cases) {
    const router = testRouter({ targetAddress: stampedBare(written) });
    router.receive(parseXml(`<presence from="${stamped}/a" to="${DOMAIN}"/>`), 1);
    assert.deepEqual(router.resources, ["a"], `${written} stamped as ${stamped}`);
  }
  // Another account's presence is not the target's, in any form; only the domain changes form
  // (a server that keeps straße and strasse apart has two accounts).
  for (
    const [target, other] of [
      ["svc@bücher.example", "svd@xn--bcher-kva.example"],
      ["strasse@bücher.example", "straße@bücher.example"],
      ["bot@bücher.example", "ｂｏｔ@bücher.example"],
      ["bot@bücher.example", "bot\u00ad@xn--bcher-kva.example"],
    ]
  ) {
    const router = testRouter({ targetAddress: stampedBare(target) });
    router.receive(parseXml(`<presence from="${other}/a" to="${DOMAIN}"/>`), 1);
    assert.deepEqual(router.resources, [], `${other} taken for ${target}`);
  }
});

// --- 5. one remote domain cannot exhaust everyone ---------------------------------

function flood(settings: Partial<RouterSettings>, count: number, domain = "evil.example") {
  const router = testRouter(settings, { resources: ["a"] });
  const answers = [];
  for (let i = 0; i < count; i++) {
    const fx = router.receive(iq("get", `${i}`, `u${i}@${domain}/r`, DOMAIN), 5_000);
    answers.push(fx.send[0]);
  }
  return { router, answers };
}

Deno.test("hole 5: a domain with endless localparts is held to max_pending_per_domain", () => {
  const { router, answers } = flood({ maxPendingPerDomain: 3, maxPendingPerRequester: 1 }, 5);
  assert.deepEqual(answers.map((a) => a.attrs.type), ["get", "get", "get", "error", "error"]);
  assert.equal(condition(answers[3]), "resource-constraint");
  assert.equal(answers[3].getChild("error")?.attrs.type, "wait");
  // Another domain, any spelling of the flooding one excepted, still gets in.
  const other = router.receive(iq("get", "1", "alice@example.org/r", DOMAIN), 5_000).send[0];
  assert.equal(other.attrs.type, "get");
  const respelled = router.receive(iq("get", "1", "v@EVIL.example./r", DOMAIN), 5_000).send[0];
  assert.equal(condition(respelled), "resource-constraint");
});

Deno.test("hole 5: rate_limit_per_domain shares one bucket among a domain's users", () => {
  const { answers } = flood({ rateLimitPerDomain: { perSecond: 1, burst: 2 } }, 4);
  assert.deepEqual(answers.map((a) => a.attrs.type), ["get", "get", "error", "error"]);
  assert.equal(condition(answers[2]), "resource-constraint");
});

Deno.test("hole 5: subscribe, unsubscribe and probe pass the rate limit like requests", () => {
  const router = testRouter({ presence: true, rateLimit: { perSecond: 1, burst: 2 } });
  const presence = (type: string) =>
    router.receive(
      parseXml(`<presence type="${type}" from="mallory@evil.example/r" to="${DOMAIN}"/>`),
      5_000,
    );
  const first = presence("subscribe");
  assert.deepEqual(first.events.filter((e) => e.type === "subscriber").length, 1);
  presence("unsubscribe");
  const third = presence("subscribe");
  assert.deepEqual(third.events.filter((e) => e.type === "subscriber"), []);
  assert.equal(third.send.length, 1);
  assert.equal(third.send[0].attrs.type, "error");
  assert.equal(condition(third.send[0]), "resource-constraint");
  const probe = presence("probe");
  assert.equal(condition(probe.send[0]), "resource-constraint");
});

Deno.test("hole 5: made-up JIDs of one domain fill at most max_subscribers_per_domain", () => {
  const router = testRouter({ presence: true, maxSubscribersPerDomain: 2 });
  const subscribe = (jid: string) =>
    router.receive(parseXml(`<presence type="subscribe" from="${jid}/r" to="${DOMAIN}"/>`), 5_000);
  const added = (jid: string) =>
    subscribe(jid).events.filter((e) => e.type === "subscriber").length === 1;
  assert.equal(added("a@evil.example"), true);
  assert.equal(added("b@evil.example"), true);
  const third = subscribe("c@EVIL.example.");
  assert.deepEqual(third.send.map((s) => s.attrs.type), ["unsubscribed"]);
  assert.equal(added("alice@example.org"), true);
  // One leaving makes room for another.
  router.receive(
    parseXml(`<presence type="unsubscribe" from="a@evil.example/r" to="${DOMAIN}"/>`),
    5_000,
  );
  assert.equal(added("c@evil.example"), true);
});

Deno.test("hole 5: stored subscribers count towards their domain's cap", () => {
  const router = testRouter({ presence: true, maxSubscribersPerDomain: 1 }, {
    subscribers: ["a@evil.example"],
  });
  const fx = router.receive(
    parseXml(`<presence type="subscribe" from="b@evil.example/r" to="${DOMAIN}"/>`),
    5_000,
  );
  assert.deepEqual(fx.send.map((s) => s.attrs.type), ["unsubscribed"]);
});

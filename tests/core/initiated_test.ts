/** Requests started by the implementing client, through the router (allow_target_requests). */
import assert from "node:assert/strict";
import type { Effects, Router, RouterSettings } from "../../src/core/router.ts";
import { parseXml, type XmlElement } from "../../src/core/xml.ts";
import { DOMAIN, TARGET, testRouter } from "../support/router.ts";

const USER = "alice@example.org/phone";
const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

function setup(settings: Partial<RouterSettings> = {}): Router {
  return testRouter({
    requestTimeoutMs: 1000,
    maxPendingPerResource: 10,
    maxPending: 10,
    allowTargetRequests: true,
    ...settings,
  }, { resources: ["a", "b"] });
}

function ping(id: string, resource = "a", to = `${DOMAIN}/${USER}`): XmlElement {
  return parseXml(
    `<iq type="get" id="${id}" from="${TARGET}/${resource}" to="${to}"><ping xmlns="urn:xmpp:ping"/></iq>`,
  );
}

function only(fx: Effects): XmlElement {
  assert.equal(fx.send.length, 1, fx.send.join(" | "));
  return fx.send[0];
}

function attrs(el: XmlElement): Record<string, string> {
  return Object.fromEntries(
    Object.entries(el.attrs).filter((e): e is [string, string] => e[1] !== undefined),
  );
}

function condition(el: XmlElement): string | undefined {
  const child = el.getChild("error")?.children.find((c) =>
    typeof c !== "string" && c.attrs.xmlns === STANZAS && c.name !== "text"
  );
  return typeof child === "string" ? undefined : child?.name;
}

Deno.test("default off: a get from the target to <domain>/<JID> gets feature-not-implemented", () => {
  const router = setup({ allowTargetRequests: undefined });
  const out = only(router.receive(ping("p1"), 0));
  assert.deepEqual(attrs(out), {
    type: "error",
    id: "p1",
    to: `${TARGET}/a`,
    from: `${DOMAIN}/${USER}`,
  });
  assert.equal(condition(out), "feature-not-implemented");
});

Deno.test("a target's get goes to the JID from the bare domain under our id; the reply comes back", () => {
  const router = setup();
  const sent = router.receive(ping("p1"), 0);
  const out = only(sent);
  const ours = out.attrs.id as string;
  assert.notEqual(ours, "p1");
  // Reported (and logged) with who asked whom, under the resource's own id.
  assert.deepEqual(sent.events, [
    { type: "passed", stanza: "target_request", from: `${TARGET}/a`, to: USER, id: "p1" },
  ]);
  assert.deepEqual(attrs(out), { type: "get", id: ours, to: USER, from: DOMAIN });
  assert.equal(out.children.map(String).join(""), `<ping xmlns="urn:xmpp:ping"/>`);
  const reply = parseXml(
    `<iq type="result" id="${ours}" from="${USER}" to="${DOMAIN}"><x xmlns="urn:x"/></iq>`,
  );
  const back = only(router.receive(reply, 5));
  assert.deepEqual(attrs(back), {
    type: "result",
    id: "p1",
    to: `${TARGET}/a`,
    from: `${DOMAIN}/${USER}`,
  });
  assert.equal(back.children.map(String).join(""), `<x xmlns="urn:x"/>`);
  assert.equal(router.receive(reply, 6).send.length, 0, "a second reply is dropped");
});

Deno.test("two resources using the same id towards the same JID each get their own answer", () => {
  const router = setup();
  const toUser = [router.receive(ping("same", "a"), 0), router.receive(ping("same", "b"), 0)].map(
    only,
  );
  assert.notEqual(toUser[0].attrs.id, toUser[1].attrs.id);
  const backB = only(
    router.receive(
      parseXml(`<iq type="result" id="${toUser[1].attrs.id}" from="${USER}" to="${DOMAIN}"/>`),
      1,
    ),
  );
  const backA = only(
    router.receive(
      parseXml(`<iq type="result" id="${toUser[0].attrs.id}" from="${USER}" to="${DOMAIN}"/>`),
      1,
    ),
  );
  assert.deepEqual([backA.attrs.to, backA.attrs.id], [`${TARGET}/a`, "same"]);
  assert.deepEqual([backB.attrs.to, backB.attrs.id], [`${TARGET}/b`, "same"]);
});

Deno.test("a reply with our id from another JID is dropped", () => {
  const router = setup();
  const ours = only(router.receive(ping("p1"), 0)).attrs.id;
  const forged = parseXml(
    `<iq type="result" id="${ours}" from="mallory@example.org/x" to="${DOMAIN}"/>`,
  );
  assert.equal(router.receive(forged, 1).send.length, 0);
});

Deno.test("a user that never answers: the resource gets remote-server-timeout", () => {
  const router = setup();
  router.receive(ping("p1"), 0);
  assert.equal(router.nextWake(), 1000);
  const out = only(router.tick(1000));
  assert.deepEqual(attrs(out), {
    type: "error",
    id: "p1",
    to: `${TARGET}/a`,
    from: `${DOMAIN}/${USER}`,
  });
  assert.equal(condition(out), "remote-server-timeout");
  assert.equal(router.nextWake(), undefined);
});

Deno.test("the originating resource leaving forgets its requests; late replies are dropped", () => {
  const router = setup();
  const ours = only(router.receive(ping("p1"), 0)).attrs.id;
  router.receive(parseXml(`<presence type="unavailable" from="${TARGET}/a" to="${DOMAIN}"/>`), 1);
  assert.equal(router.nextWake(), undefined);
  const late = parseXml(`<iq type="result" id="${ours}" from="${USER}" to="${DOMAIN}"/>`);
  assert.equal(router.receive(late, 2).send.length, 0);
});

Deno.test("after a reconnect, the requests of a resource that is not back are forgotten at the second's end", () => {
  const router = setup({ requestTimeoutMs: 30_000 });
  const fromA = only(router.receive(ping("p1", "a"), 0)).attrs.id;
  const fromB = only(router.receive(ping("p2", "b"), 0)).attrs.id;
  // The stream comes back at 100; the server answers the subscription and announces b only.
  router.online(100);
  router.receive(parseXml(`<presence type="subscribed" from="${TARGET}" to="${DOMAIN}"/>`), 150);
  router.receive(parseXml(`<presence from="${TARGET}/b" to="${DOMAIN}"/>`), 160);
  assert.equal(router.inFlightCount, 2);
  // The first second after the reconnect ends.
  assert.equal(router.nextWake(), 1100);
  assert.deepEqual(router.tick(1100).send, []);
  assert.equal(router.inFlightCount, 1, "a's request is forgotten, b's kept");
  assert.equal(router.nextWake(), 30_000);
  // Nobody gets a timeout for a's; a late answer to it is dropped; b's still goes through.
  const late = parseXml(`<iq type="result" id="${fromA}" from="${USER}" to="${DOMAIN}"/>`);
  assert.equal(router.receive(late, 1200).send.length, 0);
  const answer = parseXml(`<iq type="result" id="${fromB}" from="${USER}" to="${DOMAIN}"/>`);
  assert.equal(only(router.receive(answer, 1300)).attrs.to, `${TARGET}/b`);
});

Deno.test("after a reconnect the server has not yet spoken of: the target's requests wait for their answer", () => {
  const router = setup({ requestTimeoutMs: 30_000 });
  router.receive(ping("p1", "a"), 0);
  router.online(100);
  assert.deepEqual(router.tick(1100).send, []);
  assert.equal(router.inFlightCount, 1);
});

Deno.test("a target request to a resource that is no JID, or to the proxy itself, is refused", () => {
  const router = setup();
  assert.equal(
    condition(only(router.receive(ping("p1", "a", `${DOMAIN}/@bad@`), 0))),
    "jid-malformed",
  );
  assert.equal(
    condition(only(router.receive(ping("p2", "a", `${DOMAIN}/${DOMAIN}`), 0))),
    "jid-malformed",
  );
});

Deno.test("shutdown answers the target's requests in flight", () => {
  const router = setup();
  router.receive(ping("p1"), 0);
  router.drain();
  const fx = router.settleAll(1);
  assert.equal(condition(fx.send[0]), "service-unavailable");
  assert.equal(fx.send[0].attrs.to, `${TARGET}/a`);
});

Deno.test("max_pending counts requests in flight both ways", () => {
  const router = setup({ maxPending: 2 });
  assert.equal(only(router.receive(ping("p1"), 0)).attrs.to, USER, "the target's request goes out");
  const userGet = (id: string) =>
    parseXml(
      `<iq type="get" id="${id}" from="bob@example.org/x" to="${DOMAIN}"><ping xmlns="urn:xmpp:ping"/></iq>`,
    );
  assert.equal(only(router.receive(userGet("u1"), 0)).attrs.type, "get", "one user request fits");
  const refused = only(router.receive(userGet("u2"), 0));
  assert.equal(refused.attrs.type, "error");
  assert.equal(condition(refused), "resource-constraint");
  assert.equal(condition(only(router.receive(ping("p2"), 0))), "resource-constraint");
});

Deno.test("ids differ between runs: drawn from the secure bits, not from `random`", () => {
  // Both runs' `random` stuck at 0, as two restarts with the same seed would be.
  const run = (bits: number) => {
    const draws: number[] = [];
    const router = testRouter({ allowTargetRequests: true }, {
      resources: ["a"],
      random: () => 0,
      randomBits: () => (draws.push(bits), bits),
    });
    const ids = [only(router.receive(ping("p1"), 0)), only(router.receive(ping("p2"), 0))]
      .map((out) => out.attrs.id);
    return { router, ids, draws };
  };
  const first = run(0x12345678);
  const second = run(0xffffffff);
  // `cp`, the run's 64 bits in base 36 (two draws at the first request), then a counter.
  assert.deepEqual(first.ids, ["cp051u7i0051u7i0-0", "cp051u7i0051u7i0-1"]);
  assert.deepEqual(second.ids, ["cp1z141z31z141z3-0", "cp1z141z31z141z3-1"]);
  assert.equal(first.draws.length, 2);
  // An earlier run's reply reaching this one is dropped.
  const late = parseXml(`<iq type="result" id="${first.ids[0]}" from="${USER}" to="${DOMAIN}"/>`);
  assert.equal(second.router.receive(late, 1).send.length, 0);
});

Deno.test("a target's request carried over from a closed stream keeps the time it arrived", () => {
  const router = setup({ requestTimeoutMs: 5_000 });
  // Arrived at 1,000, routed at 3,000: it goes, and times out at 6,000, not 8,000.
  const sent = only(router.receive(ping("c1"), 3_000, 1_000));
  assert.equal(sent.attrs.to, USER);
  assert.equal(router.nextWake(), 6_000);
  const late = only(router.tick(6_000));
  assert.deepEqual(
    [late.attrs.type, late.attrs.id, late.attrs.to, late.attrs.from, condition(late)],
    ["error", "c1", `${TARGET}/a`, `${DOMAIN}/${USER}`, "remote-server-timeout"],
  );
  // One whose time is up already is answered at once, and never reaches the user.
  const fx = router.receive(ping("c2"), 9_000, 4_000);
  const now = only(fx);
  assert.deepEqual(
    [now.attrs.type, now.attrs.id, now.attrs.to, now.attrs.from, condition(now)],
    ["error", "c2", `${TARGET}/a`, `${DOMAIN}/${USER}`, "remote-server-timeout"],
  );
  assert.deepEqual(fx.events.map((e) => e.type === "outcome" && e.outcome), ["timeout"]);
});

/**
 * Stanzas over `max_stanza_size` at the router (issue 16, hole 6): read by
 * the scanner as the stream would, then routed. A get/set is refused with
 * `policy-violation`; an answer to a pending request settles it with an
 * error at once; anything else is dropped; nothing else changes.
 */
import assert from "node:assert/strict";
import { errorCondition } from "../../src/core/stanza.ts";
import { StreamScanner } from "../../src/core/xml_scan.ts";
import { isOversized, serialize, type XmlElement } from "../../src/core/xml.ts";
import { DOMAIN, TARGET, testRouter } from "../support/router.ts";

const LIMIT = 1_000;
const ALICE = "alice@example.org/phone";
const PAYLOAD = `<data xmlns="urn:example:big">${"x".repeat(5_000)}</data>`;

/** The stanzas in `text` as the link's scanner reads them with a limit of 1,000 characters. */
function scanned(text: string): XmlElement[] {
  const elements: XmlElement[] = [];
  const scanner = new StreamScanner({
    start() {},
    element: (el) => elements.push(el),
    end() {},
    error: (error) => {
      throw error;
    },
  }, { maxStanza: () => LIMIT });
  scanner.write(`<stream:stream xmlns:stream="http://etherx.jabber.org/streams">`);
  // In chunks, as a socket delivers them.
  for (let at = 0; at < text.length; at += 512) scanner.write(text.slice(at, at + 512));
  return elements;
}

const iq = (type: string, id: string, from: string, to: string, payload = PAYLOAD) =>
  scanned(`<iq type="${type}" id="${id}" from="${from}" to="${to}">${payload}</iq>`)[0];

Deno.test("hole 6: an oversized get is refused with policy-violation (modify), from where it was sent", () => {
  const router = testRouter({}, { resources: ["a"] });
  for (const to of [DOMAIN, DOMAIN.toUpperCase(), `${DOMAIN}/anything`]) {
    const big = iq("get", "big1", ALICE, to);
    assert.ok(isOversized(big));
    const fx = router.receive(big, 10);
    assert.equal(fx.send.length, 1, to);
    const [answer] = fx.send;
    assert.deepEqual(
      { ...answer.attrs },
      { type: "error", id: "big1", to: ALICE, from: to.toLowerCase() },
    );
    assert.equal(errorCondition(answer), "policy-violation");
    assert.equal(answer.getChild("error")?.attrs.type, "modify");
    // Nothing of the payload is echoed back.
    assert.ok(!serialize(answer).includes("urn:example:big"));
    assert.deepEqual(fx.events, [
      {
        type: "refused",
        reason: "too_big",
        condition: "policy-violation",
        stanza: "iq",
        from: ALICE,
      },
    ]);
  }
  assert.equal(router.pendingCount, 0);
  // The next request goes through as ever.
  const next = router.receive(
    iq("get", "small", ALICE, DOMAIN, "<ping xmlns='urn:xmpp:ping'/>"),
    20,
  );
  assert.equal(next.send[0].attrs.to, `${TARGET}/a`);
  assert.equal(router.pendingCount, 1);
});

Deno.test("hole 6: an oversized set from the implementing client is refused too", () => {
  const router = testRouter({ allowTargetRequests: true }, { resources: ["a"] });
  const fx = router.receive(iq("set", "s1", `${TARGET}/a`, `${DOMAIN}/bob@example.net/x`), 10);
  assert.equal(fx.send.length, 1);
  assert.equal(fx.send[0].attrs.to, `${TARGET}/a`);
  assert.equal(errorCondition(fx.send[0]), "policy-violation");
});

Deno.test("hole 6: anything else oversized is dropped as too_big; a request waits on for its answer", () => {
  const router = testRouter({ messages: "forward", presence: true }, { resources: ["a"] });
  const asked = router.receive(iq("get", "q1", ALICE, DOMAIN, "<q xmlns='urn:q'/>"), 10);
  const forwarded = asked.send[0];
  for (
    const text of [
      `<message type="chat" from="${ALICE}" to="${DOMAIN}"><body>${
        "b".repeat(2_000)
      }</body></message>`,
      `<presence type="subscribe" from="${ALICE}" to="${DOMAIN}"><x>${
        "p".repeat(2_000)
      }</x></presence>`,
      `<iq type="error" id="e" from="${ALICE}" to="${DOMAIN}">${PAYLOAD}</iq>`,
      `<iq type="get" id="n" to="${DOMAIN}">${PAYLOAD}</iq>`,
      `<iq type="get" id="o" from="${ALICE}" to="other.example.org">${PAYLOAD}</iq>`,
      `<foo from="${ALICE}" to="${DOMAIN}">${PAYLOAD}</foo>`,
      // Shaped as the answer, but from another resource or with another id.
      `<iq type="result" id="q1" from="${TARGET}/b" to="${forwarded.attrs.from}">${PAYLOAD}</iq>`,
      `<iq type="result" id="q2" from="${TARGET}/a" to="${forwarded.attrs.from}">${PAYLOAD}</iq>`,
    ]
  ) {
    const [el] = scanned(text);
    const dropped = router.receive(el, 30);
    assert.deepEqual(dropped.send, [], text.slice(0, 40));
    assert.deepEqual(
      dropped.events.map((e) => e.type === "dropped" && e.reason),
      ["too_big"],
      text.slice(0, 40),
    );
  }
  assert.equal(router.pendingCount, 1);
  // The real answer, small, still reaches the requester.
  const small = router.receive(
    scanned(`<iq type="result" id="q1" from="${TARGET}/a" to="${forwarded.attrs.from}"/>`)[0],
    40,
  );
  assert.equal(small.send[0].attrs.to, ALICE);
  assert.equal(router.pendingCount, 0);
});

Deno.test("an oversized answer from the implementing client: the requester gets internal-server-error at once", () => {
  for (const type of ["result", "error"]) {
    // A long requester travels as a token: the answer finds it all the same.
    for (const requester of [ALICE, `alice@example.org/${"r".repeat(400)}`]) {
      const router = testRouter({}, { resources: ["a", "b"] });
      const asked = router.receive(iq("get", "q1", requester, DOMAIN, "<q xmlns='urn:q'/>"), 10);
      const forwarded = asked.send[0];
      const fx = router.receive(
        iq(type, "q1", forwarded.attrs.to as string, forwarded.attrs.from as string),
        25,
      );
      assert.equal(fx.send.length, 1, `${type}: one stanza, to the requester only`);
      const [answer] = fx.send;
      assert.deepEqual({ ...answer.attrs }, {
        type: "error",
        id: "q1",
        to: requester,
        from: DOMAIN,
      });
      assert.equal(errorCondition(answer), "internal-server-error");
      assert.equal(answer.getChild("error")?.attrs.type, "cancel");
      assert.ok(!serialize(answer).includes("urn:example:big"));
      assert.deepEqual(fx.events, [
        {
          type: "dropped",
          reason: "too_big",
          stanza: "iq",
          from: forwarded.attrs.to,
          to: forwarded.attrs.from,
          id: "q1",
        },
        { type: "outcome", outcome: "error", requester, id: "q1", durationMs: 15 },
      ]);
      assert.equal(router.pendingCount, 0);
      // Answered once: a second answer, big or small, reaches nobody.
      const again = router.receive(
        scanned(
          `<iq type="result" id="q1" from="${forwarded.attrs.to}" to="${forwarded.attrs.from}"/>`,
        )[0],
        30,
      );
      assert.deepEqual(again.send, []);
      assert.equal(router.nextWake(), undefined, "no timeout left to send");
    }
  }
});

Deno.test("an oversized answer to the implementing client's own request: its resource gets internal-server-error at once", () => {
  const router = testRouter({ allowTargetRequests: true }, { resources: ["a"] });
  const BOB = "bob@example.net/x";
  const started = router.receive(
    iq("get", "t1", `${TARGET}/a`, `${DOMAIN}/${BOB}`, "<q xmlns='urn:q'/>"),
    10,
  );
  const sent = started.send[0];
  assert.equal(sent.attrs.to, BOB);
  // Bob's answer is too big.
  const fx = router.receive(iq("result", sent.attrs.id as string, BOB, DOMAIN), 40);
  assert.equal(fx.send.length, 1);
  const [answer] = fx.send;
  assert.deepEqual(
    { ...answer.attrs },
    { type: "error", id: "t1", to: `${TARGET}/a`, from: `${DOMAIN}/${BOB}` },
  );
  assert.equal(errorCondition(answer), "internal-server-error");
  assert.deepEqual(fx.events.map((e) => e.type === "dropped" ? e.reason : e.type), [
    "too_big",
    "outcome",
  ]);
  assert.equal(router.inFlightCount, 0);
  // From anyone else, it answers nothing.
  const other = testRouter({ allowTargetRequests: true }, { resources: ["a"] });
  const id = other.receive(
    iq("get", "t1", `${TARGET}/a`, `${DOMAIN}/${BOB}`, "<q xmlns='urn:q'/>"),
    10,
  ).send[0].attrs.id as string;
  const forged = other.receive(iq("result", id, ALICE, DOMAIN), 20);
  assert.deepEqual(forged.send, []);
  assert.equal(other.inFlightCount, 1);
});

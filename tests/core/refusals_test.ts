// What the router refuses at once, and what it never answers (the routing table's refusals).
import assert from "node:assert/strict";
import { parseXml } from "../../src/core/xml.ts";
import {
  ALICE,
  assertError,
  DOMAIN,
  only,
  routerWith,
  STANZAS,
  TARGET,
} from "../support/router.ts";

const REFUSALS: Array<
  {
    name: string;
    stanza: string;
    condition: string;
    type: string;
    from?: string;
  }
> = [
  {
    name: "no resource online",
    stanza: `<iq type="get" id="n" from="${ALICE}" to="${DOMAIN}"><q xmlns="urn:x"/></iq>`,
    condition: "service-unavailable",
    type: "cancel",
  },
  {
    name: "a message to the domain",
    stanza: `<message id="n" from="${ALICE}" to="${DOMAIN}"><body>hi</body></message>`,
    condition: "feature-not-implemented",
    type: "cancel",
  },
  {
    name: "a message to a resource of the domain",
    stanza: `<message id="n" from="${ALICE}" to="${DOMAIN}/x"><body>hi</body></message>`,
    condition: "feature-not-implemented",
    type: "cancel",
    from: `${DOMAIN}/x`,
  },
  {
    name: "presence from someone else",
    stanza: `<presence id="n" from="${ALICE}" to="${DOMAIN}"/>`,
    condition: "bad-request",
    type: "modify",
  },
  {
    name: "a subscribe from someone else",
    stanza: `<presence type="subscribe" id="n" from="${ALICE}" to="${DOMAIN}"/>`,
    condition: "bad-request",
    type: "modify",
  },
  {
    name: "an iq of no known type",
    stanza: `<iq type="poke" id="n" from="${ALICE}" to="${DOMAIN}"/>`,
    condition: "bad-request",
    type: "modify",
  },
];

/** When a request that finds no resource is refused at once: after the first second online. */
const LEARNED = 1_000;

for (const { name, stanza, condition, type, from } of REFUSALS) {
  Deno.test(`refused: ${name} gets ${condition}`, () => {
    const router = routerWith([]);
    const el = parseXml(stanza);
    assertError(only(router.receive(el, LEARNED)), {
      name: el.name,
      to: ALICE,
      from: from ?? DOMAIN,
      id: "n",
      type,
      condition,
    });
  });
}

const TARGET_REFUSALS: Array<
  { name: string; to: string; kind: "iq" | "message"; iqType?: "get" | "set"; condition: string }
> = [
  {
    name: "an iq get from the target to <domain>/<someone>",
    to: `${DOMAIN}/${ALICE}`,
    kind: "iq",
    iqType: "get",
    condition: "feature-not-implemented",
  },
  {
    name: "an iq set from the target to the bare domain",
    to: DOMAIN,
    kind: "iq",
    iqType: "set",
    condition: "bad-request",
  },
  {
    name: "a message from the target to the bare domain",
    to: DOMAIN,
    kind: "message",
    condition: "bad-request",
  },
];

for (const { name, to, kind, iqType, condition } of TARGET_REFUSALS) {
  Deno.test(`refused: ${name} gets ${condition}`, () => {
    const router = routerWith(["a"]);
    const stanza = kind === "iq"
      ? `<iq type="${iqType}" id="t" from="${TARGET}/a" to="${to}"><q xmlns="urn:x"/></iq>`
      : `<message id="t" from="${TARGET}/a" to="${to}"><body>x</body></message>`;
    const out = only(router.receive(parseXml(stanza), 0));
    assert.equal(out.name, kind);
    assert.equal(out.attrs.type, "error");
    assert.equal(out.attrs.to, `${TARGET}/a`);
    assert.equal(out.attrs.from, to);
    assert.ok(out.getChild("error")?.getChild(condition, STANZAS));
  });
}

const SILENT: Array<{ name: string; stanza: string; reason?: string }> = [
  {
    name: "an iq error from anyone",
    stanza: `<iq type="error" id="x" from="${ALICE}" to="${DOMAIN}"/>`,
    reason: "error_stanza",
  },
  {
    name: "an iq result from anyone",
    stanza: `<iq type="result" id="x" from="${ALICE}" to="${DOMAIN}/y"/>`,
    reason: "unexpected_reply",
  },
  {
    name: "a message error",
    stanza: `<message type="error" id="x" from="${ALICE}" to="${DOMAIN}"/>`,
    reason: "error_stanza",
  },
  {
    name: "a presence error from someone else",
    stanza: `<presence type="error" from="${ALICE}" to="${DOMAIN}"/>`,
    reason: "error_stanza",
  },
  {
    name: "an iq error from the target to the bare domain",
    stanza: `<iq type="error" id="x" from="${TARGET}/a" to="${DOMAIN}"/>`,
    reason: "error_stanza",
  },
  {
    name: "a result to a resource that is no JID",
    stanza: `<iq type="result" id="x" from="${TARGET}/a" to="${DOMAIN}/@bad@"/>`,
    reason: "bad_address",
  },
  {
    name: "a result to an empty-domain resource",
    stanza: `<iq type="result" id="x" from="${TARGET}/a" to="${DOMAIN}/user@"/>`,
    reason: "bad_address",
  },
  {
    name: "a stanza for another domain",
    stanza: `<iq type="get" id="x" from="${ALICE}" to="other.example.org"/>`,
    reason: "not_ours",
  },
  {
    name: "a stanza without from",
    stanza: `<iq type="get" id="x" to="${DOMAIN}"/>`,
    reason: "no_address",
  },
];

for (const { name, stanza, reason } of SILENT) {
  Deno.test(`never answered: ${name}`, () => {
    const router = routerWith(["a"]);
    const fx = router.receive(parseXml(stanza), 0);
    assert.equal(fx.send.length, 0, `sent ${fx.send.join(" | ")}`);
    assert.deepEqual(fx.events.map((e) => e.type === "dropped" && e.reason), [
      reason,
    ]);
  });
}

Deno.test("a get without an id gets bad-request without an id", () => {
  const router = routerWith(["a"]);
  const out = only(
    router.receive(
      parseXml(
        `<iq type="get" from="${ALICE}" to="${DOMAIN}"><q xmlns="urn:x"/></iq>`,
      ),
      0,
    ),
  );
  assertError(out, {
    to: ALICE,
    from: DOMAIN,
    type: "modify",
    condition: "bad-request",
  });
});

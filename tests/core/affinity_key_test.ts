/** Affinity keys: the shapes as written, and the key a request carries. */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  affinityKey,
  affinityKeyOf,
  type AffinityShape,
  formatAffinityShape,
  parseAffinityShape,
} from "../../src/core/affinity_key.ts";
import { isPlausibleJid, jidKey } from "../../src/core/jid.ts";
import { parseStanza } from "../../src/core/xml_scan.ts";
import { parseXml, serialize, unparsedContent, type XmlElement } from "../../src/core/xml.ts";
import { affinityRouter, placed } from "../support/affinity.ts";
import { DOMAIN } from "../support/router.ts";

const FOCUS = "http://jitsi.org/protocol/focus";
const CONFERENCE: AffinityShape = { namespace: FOCUS, element: "conference", attribute: "room" };

/** A set with `payload`, as the stream reads it (content kept as text) and as a tree. */
function both(payload: string, iqAttrs = ""): XmlElement[] {
  const text = `<iq type="set" id="1" from="a@example.org/x" to="focus.example.org"${iqAttrs}>` +
    `${payload}</iq>`;
  return [parseStanza(text), parseXml(text)];
}

function keysOf(payload: string, shapes = [CONFERENCE], iqAttrs = ""): Array<string | undefined> {
  return both(payload, iqAttrs).map((stanza) => affinityKeyOf(stanza, shapes));
}

Deno.test("affinity shape: {namespace}element@attribute is read into its parts", () => {
  const shape = parseAffinityShape(`{${FOCUS}}conference@room`);
  assert.deepEqual(shape, CONFERENCE);
  assert.equal(formatAffinityShape(shape!), `{${FOCUS}}conference@room`);
  assert.deepEqual(parseAffinityShape("{urn:x}q@xml:lang"), {
    namespace: "urn:x",
    element: "q",
    attribute: "xml:lang",
  });
});

Deno.test("affinity shape: what is no XML name, or a namespace declaration, is refused: it would never match", () => {
  for (
    const text of [
      "{urn:x}q@xmlns",
      "{urn:x}q@xmlns:f",
      "{urn:x}a/b@room",
      "{urn:x}a>b@room",
      `{urn:x}conference@room"`,
      "{urn:x}1conference@room",
      "{urn:x}conference@-room",
      "{urn:x}conference@ro=om",
    ]
  ) {
    assert.equal(parseAffinityShape(text), undefined, text);
  }
  assert.deepEqual(parseAffinityShape("{urn:x}réunion.v2@salle_1"), {
    namespace: "urn:x",
    element: "réunion.v2",
    attribute: "salle_1",
  });
});

Deno.test("affinity shape: no namespace, no @attribute or an empty part is refused", () => {
  for (
    const text of [
      "conference@room",
      "{}conference@room",
      `{${FOCUS}}@room`,
      `{${FOCUS}}conference`,
      `{${FOCUS}}conference@`,
      `{${FOCUS}conference@room`,
      `{${FOCUS}}con ference@room`,
      `{${FOCUS}}conference@room@x`,
      `{${FOCUS}}f:conference@room`,
      "",
    ]
  ) {
    assert.equal(parseAffinityShape(text), undefined, text);
  }
});

Deno.test("affinity key: the attribute of a matching payload, read from text or tree alike", () => {
  const payload =
    `<conference xmlns="${FOCUS}" machine-uid="m1" room="abc@conference.example.org">` +
    `<property name="x" value="y"/></conference>`;
  assert.deepEqual(keysOf(payload), ["abc@conference.example.org", "abc@conference.example.org"]);
  assert.deepEqual(keysOf(`\n  <conference xmlns='${FOCUS}' room='r1'/>`), ["r1", "r1"]);
});

Deno.test("affinity key: normalised as a JID when it is one, else kept as written", () => {
  assert.deepEqual(
    keysOf(`<conference xmlns="${FOCUS}" room="Room@Conference.Example.ORG."/>`),
    ["room@conference.example.org", "room@conference.example.org"],
  );
  // Not a JID: an empty localpart. Kept, case and all.
  assert.deepEqual(keysOf(`<conference xmlns="${FOCUS}" room="@Weird"/>`), ["@Weird", "@Weird"]);
  // References are read as any parser reads them.
  assert.deepEqual(keysOf(`<conference xmlns="${FOCUS}" room="a&amp;b"/>`), ["a&b", "a&b"]);
});

Deno.test("affinity key: none without a match, without the attribute, or with it empty", () => {
  const none = [undefined, undefined];
  assert.deepEqual(keysOf(""), none);
  assert.deepEqual(keysOf(`<conference xmlns="urn:other" room="r1"/>`), none);
  assert.deepEqual(keysOf(`<conferences xmlns="${FOCUS}" room="r1"/>`), none);
  assert.deepEqual(keysOf(`<conference xmlns="${FOCUS}"/>`), none);
  assert.deepEqual(keysOf(`<conference xmlns="${FOCUS}" room=""/>`), none);
  assert.deepEqual(keysOf(`<conference xmlns="${FOCUS}" rooms="r1"/>`), none);
  // Only the payload element counts, not one inside it.
  assert.deepEqual(
    keysOf(`<query xmlns="urn:x"><conference xmlns="${FOCUS}" room="r1"/></query>`),
    none,
  );
  // Not in the namespace: the default one is the stream's.
  assert.deepEqual(keysOf(`<conference room="r1"/>`), none);
});

Deno.test("affinity key: a prefixed payload, declared on itself or on the stanza", () => {
  assert.deepEqual(keysOf(`<f:conference xmlns:f="${FOCUS}" room="r1"/>`), ["r1", "r1"]);
  assert.deepEqual(
    keysOf(`<f:conference room="r2"/>`, [CONFERENCE], ` xmlns:f="${FOCUS}"`),
    ["r2", "r2"],
  );
  assert.deepEqual(keysOf(`<g:conference xmlns:f="${FOCUS}" room="r1"/>`), [
    undefined,
    undefined,
  ]);
});

Deno.test("affinity key: the first shape that matches gives it; others are tried in turn", () => {
  const shapes: AffinityShape[] = [
    { namespace: "urn:a", element: "q", attribute: "one" },
    { namespace: "urn:b", element: "q", attribute: "two" },
  ];
  assert.deepEqual(keysOf(`<q xmlns="urn:b" one="1" two="2"/>`, shapes), ["2", "2"]);
  assert.deepEqual(keysOf(`<q xmlns="urn:a" one="1" two="2"/>`, shapes), ["1", "1"]);
});

Deno.test("affinity key: text or CDATA before the element is read through the tree", () => {
  assert.deepEqual(keysOf(`<![CDATA[x]]><conference xmlns="${FOCUS}" room="r1"/>`), ["r1", "r1"]);
});

Deno.test("affinity key: reading it leaves a stanza read from the stream unparsed", () => {
  const text = `<iq type="set" id="1" to="focus.example.org" from="a@example.org/x">` +
    `<conference xmlns="${FOCUS}" room="r1"><x a="1"/></conference></iq>`;
  const stanza = parseStanza(text);
  assert.equal(affinityKeyOf(stanza, [CONFERENCE]), "r1");
  assert.equal(
    unparsedContent(stanza),
    `<conference xmlns="${FOCUS}" room="r1"><x a="1"/></conference>`,
  );
  assert.equal(serialize(stanza), text);
});

Deno.test("affinity key: the prepared form is the same, however the value is spelled", () => {
  const cases: Array<[string, string]> = [
    ["room1@conference.example.org", "room1@conference.example.org"],
    ["a_b-c.d@x-y.example", "a_b-c.d@x-y.example"],
    ["Room1@conference.example.org", "room1@conference.example.org"],
    ["room1@conference.example.org.", "room1@conference.example.org"],
    ["room1@xn--bcher-kva.example", "room1@xn--bcher-kva.example"],
    ["room1@bücher.example", "room1@xn--bcher-kva.example"],
    ["room1@conference..example", "room1@conference..example"],
    ["room@conference/res", "room@conference/res"],
    ["conference.example.org", "conference.example.org"],
    ["a@b@c", "a@b@c"],
    ["@x", "@x"],
  ];
  for (const [written, key] of cases) {
    assert.deepEqual(
      keysOf(`<conference xmlns="${FOCUS}" room="${written}"/>`),
      [key, key],
      written,
    );
  }
});

Deno.test("affinity key: its shortcut for plain JIDs gives what preparing gives", () => {
  const chars = fc.constantFrom(..."aZ0_.-@/xn-é ".split(""));
  fc.assert(
    fc.property(
      fc.array(chars, { minLength: 1, maxLength: 12 }).map((c) => c.join("")),
      (value) => {
        const stanza = parseXml(
          `<iq type="set"><conference xmlns="${FOCUS}" room="${
            value.replaceAll("&", "&amp;")
          }"/></iq>`,
        );
        // Prepared as a JID when it is one, until that changes nothing more.
        let expected = value;
        for (let next = ""; next !== expected;) {
          next = expected;
          expected = isPlausibleJid(next) ? jidKey(next) : next;
        }
        assert.equal(affinityKeyOf(stanza, [CONFERENCE]), expected);
      },
    ),
    { numRuns: 3_000 },
  );
});

Deno.test("affinity key: a value with empty labels is kept as written, so preparing it twice changes nothing", () => {
  for (const value of ["a.\u3002.\u3002\u3002", "room@a..b", "room@conference.example.org.."]) {
    assert.equal(affinityKey(value), value);
  }
  assert.equal(affinityKey("Room@Conference.Example.org."), "room@conference.example.org");
});

Deno.test("affinity key: preparing a key prepared already changes nothing (looked up as written first)", () => {
  const chars = fc.constantFrom(..."aZ0_.-@/xnß İ\u00adｆ。é".split(""));
  fc.assert(
    fc.property(
      fc.array(chars, { minLength: 1, maxLength: 12 }).map((c) => c.join("")),
      (value) => {
        const key = affinityKey(value);
        assert.equal(affinityKey(key), key, JSON.stringify(value));
      },
    ),
    { numRuns: 5_000 },
  );
});

Deno.test("affinity key: read through a payload that is not XML, the request is still forwarded whole", () => {
  const router = affinityRouter(["a", "b"]);
  // A reference in the key sends the lookup to the tree; the payload's bare & does not parse.
  const payload = `<conference xmlns="${FOCUS}" room="r&amp;1@x"/><note>fish & chips</note>`;
  const request = parseStanza(
    `<iq type="set" id="bad1" from="alice@example.org/web" to="${DOMAIN}">${payload}</iq>`,
  );
  const fx = router.receive(request, 5_000);
  placed(fx);
  const forward = fx.send.find((s) => s.attrs.type === "set")!;
  assert.equal(forward.attrs.id, "bad1");
  assert.ok(serialize(forward).endsWith(`>${payload}</iq>`), serialize(forward));
});

/** A disco#info answer as the live check shows it (src/app/live_disco.ts). */
import assert from "node:assert/strict";
import { describeDisco, discoFact, readDisco } from "../../src/app/live_disco.ts";
import { oversizedElement, parseXml } from "../../src/core/xml.ts";

const NS = "http://jabber.org/protocol/disco#info";

Deno.test("disco: identities and features, in order; the name only when given", () => {
  const info = readDisco(parseXml(
    `<iq type='result'><query xmlns='${NS}'>` +
      `<identity category='client' type='pc' name='Focus'/><identity category='component' type='generic'/>` +
      `<feature var='${NS}'/><feature var='urn:xmpp:ping'/><feature/></query></iq>`,
  ));
  assert.deepEqual(info, {
    identities: [
      { category: "client", type: "pc", name: "Focus" },
      { category: "component", type: "generic" },
    ],
    features: [NS, "urn:xmpp:ping"],
  });
  assert.equal(
    describeDisco(info),
    'identities (client/pc "Focus", component/generic), 2 features',
  );
});

Deno.test("disco: a result without a query, or with one feature", () => {
  assert.equal(
    describeDisco(readDisco(parseXml("<iq type='result'/>"))),
    "no identity, 0 features",
  );
  assert.equal(
    describeDisco({ identities: [{ category: "component", type: "generic" }], features: ["x"] }),
    "identity (component/generic), 1 feature",
  );
});

Deno.test("disco fact: an answer over max_stanza_size fails the step and says what requests would get", () => {
  const resource = "service@example.org/bot";
  const big = oversizedElement("iq", { type: "result", id: "d1", from: resource }, null);
  const fact = discoFact(resource, big, "");
  assert.equal(fact.step, "disco");
  assert.equal(fact.ok, false);
  assert.match(
    fact.text,
    /^disco#info to bot answered over max_stanza_size: .*internal-server-error/,
  );
  // The same answer read in full passes.
  const whole = discoFact(resource, parseXml(`<iq type="result" id="d1" from="${resource}"/>`), "");
  assert.equal(whole.ok, true);
});

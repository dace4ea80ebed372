/** Relays (src/link/relay.ts): what one instance hands its sibling through the server. */
import assert from "node:assert/strict";
import { parseXml, serialize } from "../../src/core/xml.ts";
import { relayText, unwrapRelay } from "../../src/link/relay.ts";

const DOMAIN = "proxy.example.org";

Deno.test("relay: a stanza comes out of its relay as it went in, addresses and namespaces untouched", () => {
  const stanza = parseXml(
    `<iq type='get' id='q&amp;1' from='alice@example.org/r' to='${DOMAIN}'>` +
      `<query xmlns='jabber:iq:version'><x>1 &lt; 2</x></query></iq>`,
  );
  const relay = parseXml(relayText(stanza, DOMAIN));
  assert.equal(relay.name, "message");
  assert.deepEqual({ from: relay.attrs.from, to: relay.attrs.to }, { from: DOMAIN, to: DOMAIN });
  const out = unwrapRelay(relay, DOMAIN);
  assert.ok(out);
  assert.equal(serialize(out), serialize(stanza));
});

Deno.test("relay: a relay the server bounced, or that does not parse, is dropped", () => {
  const inner = `<iq type='result' id='x' from='${DOMAIN}' to='${DOMAIN}'/>`;
  const bounced = parseXml(
    `<message type='error' from='${DOMAIN}' to='${DOMAIN}'>` +
      `<relay xmlns='urn:xmpp:client-proxy:relay:0'>${inner.replaceAll("<", "&lt;")}</relay>` +
      `<error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
      `</error></message>`,
  );
  assert.equal(unwrapRelay(bounced, DOMAIN), undefined);
  const broken = parseXml(
    `<message from='${DOMAIN}' to='${DOMAIN}'>` +
      `<relay xmlns='urn:xmpp:client-proxy:relay:0'>&lt;iq&gt;&lt;/message&gt;</relay></message>`,
  );
  assert.equal(unwrapRelay(broken, DOMAIN), undefined);
});

Deno.test("relay: only our domain relays: anything else is the stanza itself", () => {
  const wrapped = relayText(parseXml("<iq id='1' type='get'/>"), DOMAIN);
  for (
    const text of [
      wrapped.replace(`from="${DOMAIN}"`, `from="mallory@example.org/x"`),
      wrapped.replace(`to="${DOMAIN}"`, `to="other.example.org"`),
      `<message from='${DOMAIN}' to='${DOMAIN}'><body>hi</body></message>`,
      `<iq type='get' id='1' from='${DOMAIN}' to='${DOMAIN}'/>`,
    ]
  ) {
    const el = parseXml(text);
    assert.equal(unwrapRelay(el, DOMAIN), el, text);
  }
});

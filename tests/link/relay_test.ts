/**
 * Relays (src/link/relay.ts): what one instance hands its sibling through
 * the server, and the proof that comes with it.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { isOversized, oversizedElement, parseXml, serialize, xml } from "../../src/core/xml.ts";
import { Prover } from "../../src/link/proof.ts";
import { readRelay, relayText } from "../../src/link/relay.ts";
import type { CheckProof } from "../../src/link/self_ping.ts";

const DOMAIN = "proxy.example.org";
const BY = "cp-ping-0123abcd-1700000000000-";
const T0 = 1_700_000_000_000;

/** A sender's and a receiver's provers, and the receiver's check at T0. */
function provers() {
  const sender = new Prover(DOMAIN, "s3cret");
  const receiver = new Prover(DOMAIN, "s3cret");
  const sign = (fields: readonly string[]) => sender.sign(fields, T0);
  const check: CheckProof = (fields, proof) => receiver.check(fields, proof, T0 + 20);
  return { sign, check };
}

Deno.test("relay: a stanza comes out of its relay as it went in, addresses and namespaces untouched", () => {
  const { sign, check } = provers();
  const stanza = parseXml(
    `<iq type='get' id='q&amp;1' from='alice@example.org/r' to='${DOMAIN}'>` +
      `<query xmlns='jabber:iq:version'><x>1 &lt; 2 &#13; </x></query></iq>`,
  );
  const relay = parseXml(relayText(stanza, DOMAIN, BY, sign));
  assert.equal(relay.name, "message");
  assert.deepEqual({ from: relay.attrs.from, to: relay.attrs.to }, { from: DOMAIN, to: DOMAIN });
  const out = readRelay(relay, DOMAIN, check);
  assert.equal(out?.kind, "relay");
  assert.ok(out?.kind === "relay");
  assert.equal(serialize(out.stanza), serialize(stanza));
  assert.equal(out.by, BY);
  // The same relay again: its proof is used up.
  assert.deepEqual(readRelay(relay, DOMAIN, check), {
    kind: "refused",
    verdict: "replayed",
    by: BY,
  });
});

Deno.test("relay: a stanza over max_stanza_size comes out as one, never as a stanza without its payload", () => {
  const { sign, check } = provers();
  const attrs = {
    type: "result",
    id: "q1",
    from: "service@example.org/a",
    to: `${DOMAIN}/alice@x/r`,
  };
  const relay = parseXml(relayText(oversizedElement("iq", attrs, null), DOMAIN, BY, sign));
  const out = readRelay(relay, DOMAIN, check);
  assert.ok(out?.kind === "relay", JSON.stringify(out));
  assert.ok(isOversized(out.stanza), "the sibling must not relay an empty answer as the answer");
  assert.equal(out.stanza.name, "iq");
  assert.deepEqual({ ...out.stanza.attrs }, attrs);
  // The mark is under the proof: taken off (or put on another relay), the proof fails.
  const unmarked = serialize(relay).replace(/ oversized="[^"]*"/, "");
  assert.notEqual(unmarked, serialize(relay));
  assert.deepEqual(readRelay(parseXml(unmarked), DOMAIN, provers().check)?.kind, "refused");
  const plain = parseXml(relayText(parseXml("<iq type='get' id='q2'/>"), DOMAIN, BY, sign));
  plain.getChild("relay")!.attrs.oversized = "true";
  assert.deepEqual(readRelay(plain, DOMAIN, check), { kind: "refused", verdict: "bad", by: BY });
});

Deno.test("relay: one that would come out over the sibling's max_stanza_size goes as too big instead", () => {
  const { sign, check } = provers();
  // 600 KB of tags, under a 1 MB limit; escaped, each `<` and `>` takes 4 characters.
  const payload = "<x/>".repeat(150 * 1024);
  const attrs = { type: "result", id: "q1", from: "service@example.org/a", to: `${DOMAIN}/a@x/r` };
  const stanza = parseXml(
    `<iq type="result" id="q1" from="${attrs.from}" to="${attrs.to}">${payload}</iq>`,
  );
  const limit = 1024 * 1024;
  assert.ok(serialize(stanza).length < limit);
  const text = relayText(stanza, DOMAIN, BY, sign, limit);
  assert.ok(text.length < 1_000, `${text.length} characters`);
  const out = readRelay(parseXml(text), DOMAIN, check);
  assert.ok(out?.kind === "relay" && isOversized(out.stanza), JSON.stringify(out));
  assert.deepEqual({ ...out.stanza.attrs }, attrs);
  // Quotes count as the server writes them again (&quot;): within the limit as we write the
  // relay, over it as the sibling reads it.
  const quoted = parseXml(`<iq type="get" id="q2">${'<x a="1"/>'.repeat(1_000)}</iq>`);
  const ours = relayText(quoted, DOMAIN, BY, sign).length;
  const asRead = relayText(quoted, DOMAIN, BY, sign, ours + 100);
  const read = readRelay(parseXml(asRead), DOMAIN, check);
  assert.ok(read?.kind === "relay" && isOversized(read.stanza), "goes as too big");
  // Under the limit once escaped, it goes whole.
  const whole = readRelay(parseXml(relayText(stanza, DOMAIN, BY, sign, 4 * limit)), DOMAIN, check);
  assert.ok(whole?.kind === "relay" && !isOversized(whole.stanza));
  assert.equal(serialize(whole.stanza), serialize(stanza));
});

Deno.test("relay: a stanza whose start tag alone is too big goes with its addressing only", () => {
  const { sign, check } = provers();
  const attrs = { type: "get", id: "q1", from: "alice@example.net/r", to: DOMAIN };
  const head = oversizedElement("iq", { ...attrs, thumb: "t".repeat(20_000) }, null);
  const text = relayText(head, DOMAIN, BY, sign, 10_000);
  assert.ok(text.length < 1_000, `${text.length} characters`);
  const out = readRelay(parseXml(text), DOMAIN, check);
  assert.ok(out?.kind === "relay" && isOversized(out.stanza), JSON.stringify(out));
  assert.deepEqual({ ...out.stanza.attrs }, attrs);
});

Deno.test("relay: without a proof that holds, it is refused, whatever it carries", () => {
  const { sign, check } = provers();
  const inner =
    `<iq type='result' id='1' from='service@example.org/b' to='${DOMAIN}/alice@example.org/x'/>`;
  const escaped = inner.replaceAll("<", "&lt;");
  const relayOf = (attrs: string) =>
    parseXml(
      `<message from='${DOMAIN}' to='${DOMAIN}'><relay xmlns='urn:xmpp:client-proxy:relay:0'${attrs}>` +
        `${escaped}</relay></message>`,
    );
  // What the implementing client could make the server deliver: no proof.
  assert.deepEqual(readRelay(relayOf(""), DOMAIN, check), { kind: "refused", verdict: "missing" });
  assert.deepEqual(readRelay(relayOf(` by='${BY}'`), DOMAIN, check), {
    kind: "refused",
    verdict: "missing",
    by: BY,
  });
  // A proof made for other text, or by someone without the secret.
  const genuine = parseXml(relayText(parseXml("<iq id='2' type='get'/>"), DOMAIN, BY, sign));
  const { t, nonce, mac } = genuine.getChild("relay")!.attrs;
  assert.deepEqual(
    readRelay(relayOf(` by='${BY}' t='${t}' nonce='${nonce}' mac='${mac}'`), DOMAIN, check),
    { kind: "refused", verdict: "bad", by: BY },
  );
  const other = new Prover(DOMAIN, "guessed");
  const forged = relayText(parseXml(inner), DOMAIN, BY, (fields) => other.sign(fields, T0));
  assert.deepEqual(readRelay(parseXml(forged), DOMAIN, check), {
    kind: "refused",
    verdict: "bad",
    by: BY,
  });
  // Another name on a genuine proof.
  const renamed = serialize(genuine).replace(BY, "cp-ping-9876fedc-1700000000000-");
  assert.equal(readRelay(parseXml(renamed), DOMAIN, check)?.kind, "refused");
});

Deno.test("relay: a relay the server bounced, or that does not parse, is dropped", () => {
  const { sign, check } = provers();
  const inner = `<iq type='result' id='x' from='${DOMAIN}' to='${DOMAIN}'/>`;
  const bounced = parseXml(
    `<message type='error' from='${DOMAIN}' to='${DOMAIN}'>` +
      `<relay xmlns='urn:xmpp:client-proxy:relay:0'>${inner.replaceAll("<", "&lt;")}</relay>` +
      `<error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
      `</error></message>`,
  );
  assert.deepEqual(readRelay(bounced, DOMAIN, check), { kind: "bounced" });
  // Genuine, but what it carries is no stanza.
  const text = "<iq><message>";
  const proof = sign(["relay", BY, text]);
  const broken = parseXml(
    `<message from='${DOMAIN}' to='${DOMAIN}'><relay xmlns='urn:xmpp:client-proxy:relay:0' ` +
      `by='${BY}' t='${proof.t}' nonce='${proof.nonce}' mac='${proof.mac}'>` +
      `&lt;iq&gt;&lt;message&gt;</relay></message>`,
  );
  assert.deepEqual(readRelay(broken, DOMAIN, check), { kind: "refused", verdict: "bad", by: BY });
});

Deno.test("relay: only a message from our domain to itself with a relay in it is one", () => {
  const { sign, check } = provers();
  const wrapped = relayText(parseXml("<iq id='1' type='get'/>"), DOMAIN, BY, sign);
  for (
    const text of [
      wrapped.replace(`from="${DOMAIN}"`, `from="mallory@example.org/x"`),
      wrapped.replace(`to="${DOMAIN}"`, `to="other.example.org"`),
      wrapped.replace(`to="${DOMAIN}"`, `to="${DOMAIN}/${DOMAIN}"`),
      `<message from='${DOMAIN}' to='${DOMAIN}'><body>hi</body></message>`,
      `<iq type='get' id='1' from='${DOMAIN}' to='${DOMAIN}'/>`,
    ]
  ) {
    assert.equal(readRelay(parseXml(text), DOMAIN, check), undefined, text);
  }
});

Deno.test("relay: changed anywhere on the way, a relay is refused or carries exactly what was sent", () => {
  const text = fc.string({ unit: fc.constantFrom(..."aZ<>&'\"é😀 ]]\n".split("")), maxLength: 12 });
  const stanza = fc.record({
    name: fc.constantFrom("iq", "message", "presence"),
    id: text,
    body: text,
    oversized: fc.boolean(),
  });
  // Where the change goes: the wrapper's text as sent, at a place, by a character.
  const change = fc.record({ at: fc.nat(), char: fc.constantFrom(..."a0\"'<>&=/ ") });
  fc.assert(
    fc.property(stanza, change, ({ name, id, body, oversized }, { at, char }) => {
      const attrs = { id, from: "service@example.org/a", to: `${DOMAIN}/a@x/r` };
      const el = oversized
        ? oversizedElement(name, attrs, null)
        : parseXml(serialize(xml(name, attrs, xml("body", {}, body))));
      const { sign, check } = provers();
      const sent = relayText(el, DOMAIN, BY, sign);
      const i = at % sent.length;
      const changed = sent.slice(0, i) + char + sent.slice(i + 1);
      let wrapper;
      try {
        wrapper = parseXml(changed);
      } catch {
        return; // no longer XML: the stream would end, nothing is taken
      }
      const out = readRelay(wrapper, DOMAIN, check);
      if (out?.kind !== "relay") return;
      assert.equal(serialize(out.stanza), serialize(el), changed);
      assert.equal(isOversized(out.stanza), oversized, changed);
    }),
    { numRuns: 3_000 },
  );
});

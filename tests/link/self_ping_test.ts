/** Self-pings (src/link/self_ping.ts): who sent a ping, who answered it. */
import assert from "node:assert/strict";
import { parseXml } from "../../src/core/xml.ts";
import {
  answerText,
  pingPrefix,
  pingSender,
  pingText,
  readSelfPing,
} from "../../src/link/self_ping.ts";

const DOMAIN = "proxy.example.org";
const SELF = { id: "0123abcd", since: 1_700_000_000_000 };

Deno.test("self-ping: its id and an answer's signature name the instance and its start", () => {
  const prefix = pingPrefix(SELF);
  assert.equal(prefix, "cp-ping-0123abcd-1700000000000-");
  assert.deepEqual(pingSender(prefix + "12"), SELF);
  assert.deepEqual(pingSender(prefix), SELF);
  for (
    const other of [undefined, "", "q1", "cp-ping-XYZ-1-2", "cp-ping-0123abcd-x-1", "a" + prefix]
  ) {
    assert.equal(pingSender(other), undefined, other);
  }
});

Deno.test("self-ping: a ping, its signed answer and a bounce, as read back", () => {
  const id = pingPrefix(SELF) + "3";
  assert.deepEqual(readSelfPing(parseXml(pingText(DOMAIN, id)), DOMAIN), {
    type: "get",
    id,
    by: undefined,
    asks: true,
  });
  const by = "cp-ping-9876fedc-1700000000500-";
  assert.deepEqual(readSelfPing(parseXml(answerText(DOMAIN, id, by)), DOMAIN), {
    type: "result",
    id,
    by,
    asks: false,
  });
  const bounce = parseXml(
    `<iq type='error' id='${id}' from='${DOMAIN}' to='${DOMAIN}'><ping xmlns='urn:xmpp:ping'/>` +
      `<error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
      `</error></iq>`,
  );
  assert.deepEqual(readSelfPing(bounce, DOMAIN), { type: "error", id, by: undefined, asks: false });
});

Deno.test("self-ping: only an iq from our domain to itself is one", () => {
  const id = pingPrefix(SELF) + "1";
  for (
    const text of [
      `<iq type='get' id='${id}' from='alice@example.org/r' to='${DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>`,
      `<iq type='get' id='${id}' from='${DOMAIN}' to='other.example.org'><ping xmlns='urn:xmpp:ping'/></iq>`,
      `<message id='${id}' from='${DOMAIN}' to='${DOMAIN}'/>`,
    ]
  ) {
    assert.equal(readSelfPing(parseXml(text), DOMAIN), undefined, text);
  }
  // A get without its ping child is ours, but not one to answer.
  const bare = readSelfPing(
    parseXml(`<iq type='get' id='x' from='${DOMAIN}' to='${DOMAIN}'/>`),
    DOMAIN,
  );
  assert.equal(bare?.asks, false);
});

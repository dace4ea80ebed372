/** Self-pings (src/link/self_ping.ts): who sent a ping, who answered it, and its proof. */
import assert from "node:assert/strict";
import { parseXml } from "../../src/core/xml.ts";
import { Prover } from "../../src/link/proof.ts";
import {
  answerText,
  type CheckProof,
  pingFields,
  pingPrefix,
  pingSender,
  pingText,
  readSelfPing,
} from "../../src/link/self_ping.ts";

const DOMAIN = "proxy.example.org";
const SELF = { id: "0123abcd", since: 1_700_000_000_000 };
const T0 = 1_700_000_000_000;

/** Proofs made by one instance and checked by another, at T0. */
function provers() {
  const sender = new Prover(DOMAIN, "s3cret");
  const receiver = new Prover(DOMAIN, "s3cret");
  const sign = (fields: readonly string[]) => sender.sign(fields, T0);
  const check: CheckProof = (fields, proof) => receiver.check(fields, proof, T0 + 3);
  return { sign, check };
}

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
  const { sign, check } = provers();
  const id = pingPrefix(SELF) + "3";
  assert.deepEqual(
    readSelfPing(
      parseXml(pingText(DOMAIN, id, sign(pingFields("get", id, undefined)))),
      DOMAIN,
      check,
    ),
    { type: "get", id, by: undefined, asks: true, verdict: "valid" },
  );
  const by = "cp-ping-9876fedc-1700000000500-";
  const answer = answerText(DOMAIN, id, by, sign(pingFields("result", id, by)));
  assert.deepEqual(readSelfPing(parseXml(answer), DOMAIN, check), {
    type: "result",
    id,
    by,
    asks: false,
    verdict: "valid",
  });
  // Its proof counts once.
  assert.equal(readSelfPing(parseXml(answer), DOMAIN, check)?.verdict, "replayed");
  const bounce = parseXml(
    `<iq type='error' id='${id}' from='${DOMAIN}' to='${DOMAIN}'><ping xmlns='urn:xmpp:ping'/>` +
      `<error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
      `</error></iq>`,
  );
  assert.deepEqual(readSelfPing(bounce, DOMAIN, check), {
    type: "error",
    id,
    by: undefined,
    asks: false,
    verdict: "missing",
  });
});

Deno.test("self-ping: a ping or answer shaped right but without a proof that holds is told so", () => {
  const { sign, check } = provers();
  const older = "cp-ping-00000001-1000000000000-";
  const unsigned = parseXml(
    `<iq type='get' id='${older}0' from='${DOMAIN}' to='${DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>`,
  );
  assert.equal(readSelfPing(unsigned, DOMAIN, check)?.verdict, "missing");
  // A genuine proof moved to another id, or to an answer by someone else.
  const proof = sign(pingFields("get", older + "0", undefined));
  assert.equal(
    readSelfPing(parseXml(pingText(DOMAIN, older + "1", proof)), DOMAIN, check)?.verdict,
    "bad",
  );
  assert.equal(
    readSelfPing(parseXml(answerText(DOMAIN, older + "0", older, proof)), DOMAIN, check)?.verdict,
    "bad",
  );
  const guessed = new Prover(DOMAIN, "guessed").sign(pingFields("get", older + "2", undefined), T0);
  assert.equal(
    readSelfPing(parseXml(pingText(DOMAIN, older + "2", guessed)), DOMAIN, check)?.verdict,
    "bad",
  );
});

Deno.test("self-ping: only an iq from our domain to itself is one", () => {
  const { check } = provers();
  const id = pingPrefix(SELF) + "1";
  for (
    const text of [
      `<iq type='get' id='${id}' from='alice@example.org/r' to='${DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>`,
      `<iq type='get' id='${id}' from='${DOMAIN}' to='other.example.org'><ping xmlns='urn:xmpp:ping'/></iq>`,
      `<iq type='get' id='${id}' from='service@example.org/a' to='${DOMAIN}/${DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>`,
      `<message id='${id}' from='${DOMAIN}' to='${DOMAIN}'/>`,
    ]
  ) {
    assert.equal(readSelfPing(parseXml(text), DOMAIN, check), undefined, text);
  }
  // A get without its ping child is ours, but not one to answer.
  const bare = readSelfPing(
    parseXml(`<iq type='get' id='x' from='${DOMAIN}' to='${DOMAIN}'/>`),
    DOMAIN,
    check,
  );
  assert.equal(bare?.asks, false);
  assert.equal(bare?.verdict, "missing");
});

/**
 * Proofs (src/link/proof.ts): only the secret makes one, each counts once,
 * and only near the receiver's clock. Times are given by the test.
 */
import assert from "node:assert/strict";
import { PROOF_WINDOW_MS, Prover, SeenNonces } from "../../src/link/proof.ts";

const DOMAIN = "proxy.example.org";
const SECRET = "s3cret";
const T0 = 1_700_000_000_000;
const FIELDS = ["relay", "cp-ping-0123abcd-1700000000000-", "<iq id='1'/>"];

Deno.test("proof: made with the secret, it holds once, for what it was made for", () => {
  const sender = new Prover(DOMAIN, SECRET);
  const receiver = new Prover(DOMAIN, SECRET);
  const proof = sender.sign(FIELDS, T0);
  assert.match(proof.nonce, /^[0-9a-f]{24}$/);
  assert.equal(proof.t, String(T0));
  assert.equal(receiver.check(FIELDS, proof, T0 + 5), "valid");
  // Played again, within the window: refused.
  assert.equal(receiver.check(FIELDS, proof, T0 + 10), "replayed");
  // Two proofs of the same fields are two nonces: both hold.
  assert.equal(receiver.check(FIELDS, sender.sign(FIELDS, T0), T0), "valid");
});

Deno.test("proof: another secret, another domain, other fields or a changed part: it does not hold", () => {
  const receiver = new Prover(DOMAIN, SECRET);
  const proof = new Prover(DOMAIN, SECRET).sign(FIELDS, T0);
  assert.equal(receiver.check(FIELDS, new Prover(DOMAIN, "other").sign(FIELDS, T0), T0), "bad");
  assert.equal(
    receiver.check(FIELDS, new Prover("other.example.org", SECRET).sign(FIELDS, T0), T0),
    "bad",
  );
  assert.equal(receiver.check([...FIELDS.slice(0, 2), "<iq id='2'/>"], proof, T0), "bad");
  // The parts are told apart: moving text from one field to the next is another proof.
  assert.equal(receiver.check(["relay", FIELDS[1] + "<iq", " id='1'/>"], proof, T0), "bad");
  assert.equal(receiver.check(FIELDS, { ...proof, t: String(T0 + 1) }, T0), "bad");
  assert.equal(receiver.check(FIELDS, { ...proof, nonce: "x" + proof.nonce }, T0), "bad");
  assert.equal(receiver.check(FIELDS, { ...proof, mac: proof.mac.slice(1) }, T0), "bad");
  assert.equal(receiver.check(FIELDS, { ...proof, t: "-1" }, T0), "bad");
  // Untouched, it still holds: the failures above used nothing up.
  assert.equal(receiver.check(FIELDS, proof, T0), "valid");
});

Deno.test("proof: none, or a part missing", () => {
  const receiver = new Prover(DOMAIN, SECRET);
  const proof = new Prover(DOMAIN, SECRET).sign(FIELDS, T0);
  assert.equal(receiver.check(FIELDS, undefined, T0), "missing");
  assert.equal(receiver.check(FIELDS, {}, T0), "missing");
  assert.equal(receiver.check(FIELDS, { t: proof.t, nonce: proof.nonce }, T0), "missing");
  assert.equal(receiver.check(FIELDS, { ...proof, mac: "" }, T0), "missing");
});

Deno.test("proof: only within the window of the receiver's clock, either way", () => {
  const sender = new Prover(DOMAIN, SECRET);
  const receiver = new Prover(DOMAIN, SECRET);
  assert.equal(receiver.check(FIELDS, sender.sign(FIELDS, T0), T0 + PROOF_WINDOW_MS), "valid");
  assert.equal(receiver.check(FIELDS, sender.sign(FIELDS, T0), T0 - PROOF_WINDOW_MS), "valid");
  assert.equal(receiver.check(FIELDS, sender.sign(FIELDS, T0), T0 + PROOF_WINDOW_MS + 1), "stale");
  assert.equal(receiver.check(FIELDS, sender.sign(FIELDS, T0), T0 - PROOF_WINDOW_MS - 1), "stale");
  // A captured proof played again after the window: stale, whether remembered or not.
  const captured = sender.sign(FIELDS, T0);
  assert.equal(receiver.check(FIELDS, captured, T0 + 1), "valid");
  assert.equal(receiver.check(FIELDS, captured, T0 + PROOF_WINDOW_MS + 1_000), "stale");
});

Deno.test("proof: the memory of nonces is bounded, and a forgotten one is still refused", () => {
  const sender = new Prover(DOMAIN, SECRET);
  const receiver = new Prover(DOMAIN, SECRET, { kept: 100 });
  const first = sender.sign(FIELDS, T0);
  assert.equal(receiver.check(FIELDS, first, T0), "valid");
  // A flood of valid proofs, all within the window, pushes the first out.
  for (let i = 1; i <= 150; i++) {
    assert.equal(receiver.check(FIELDS, sender.sign(FIELDS, T0 + i), T0 + i), "valid");
  }
  assert.equal(receiver.check(FIELDS, first, T0 + 200), "replayed");
  // Fresh proofs still hold.
  assert.equal(receiver.check(FIELDS, sender.sign(FIELDS, T0 + 300), T0 + 300), "valid");
});

Deno.test("proof: nonces out of the window are forgotten as time goes on", () => {
  const seen = new SeenNonces(1_000);
  for (let i = 0; i < 500; i++) assert.ok(seen.admit(`n${i}`, T0 + i, T0 + i));
  assert.equal(seen.size, 500);
  assert.ok(seen.admit("late", T0 + 10 * PROOF_WINDOW_MS, T0 + 10 * PROOF_WINDOW_MS));
  assert.equal(seen.size, 1);
  assert.equal(seen.admit("late", T0 + 10 * PROOF_WINDOW_MS, T0 + 10 * PROOF_WINDOW_MS), false);
});

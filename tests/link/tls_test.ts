/** src/link/tls.ts: what a failed TLS handshake means, in the operator's words. */
import assert from "node:assert/strict";
import { tlsFailure } from "../../src/link/tls.ts";

/** What Deno (rustls) says, and the reason the operator reads. */
const CASES: [string, string, RegExp][] = [
  ["invalid peer certificate: UnknownIssuer", "certificate not trusted (unknown issuer)", /tls_ca/],
  [
    'invalid peer certificate: certificate not valid for name "10.0.0.2"; certificate is only ' +
    'valid for DnsName("xmpp.example.org")',
    'certificate not valid for "10.0.0.2"',
    /tls_server_name/,
  ],
  [
    "invalid peer certificate: certificate expired: verification time 1796643641 (UNIX), but " +
    "certificate is not valid after 1580515200 (216128441 seconds ago)",
    "certificate expired",
    /renew/,
  ],
  [
    "invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))",
    "the server presents a CA certificate as its own",
    /CA:FALSE/,
  ],
  ["received corrupt message of type InvalidContentType", "no TLS on this port", /xmpp:\/\//],
  [
    "received fatal alert: UnrecognisedName",
    "the server ended the handshake (UnrecognisedName)",
    /server's log/,
  ],
];

Deno.test("TLS failures: each reason said plainly, with what to do and the library's words", () => {
  for (const [detail, reason, hint] of CASES) {
    const failure = tlsFailure(new Error(detail), "10.0.0.2");
    assert.equal(failure.reason, reason, detail);
    assert.match(failure.hint, hint, detail);
    assert.equal(failure.detail, detail);
    assert.equal(failure.code, "tls-failed");
  }
});

Deno.test("TLS failures: anything else is said as the library says it", () => {
  const failure = tlsFailure(new Error("something new"), "h");
  assert.equal(failure.reason, "something new");
  assert.equal(failure.detail, "something new");
});

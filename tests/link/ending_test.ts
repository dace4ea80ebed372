/** src/link/ending.ts: what the link says and does when a stream ends. */
import assert from "node:assert/strict";
import { ending, NO_ANSWER, reportEnd, SIBLING } from "../../src/link/ending.ts";
import { describe } from "../../src/link/xmpp_stream.ts";
import { TlsFailure } from "../../src/link/tls.ts";
import { NoStream } from "../../src/link/transport.ts";

const CONTEXT = { domain: "proxy.example.org", url: "xmpps://10.0.0.2:5348", serverName: "x.org" };

Deno.test("ending: a TLS failure is refused, said with the server, the name and the reason", () => {
  const error = new TlsFailure("certificate expired", "renew it", "rustls words");
  const end = { failure: "tls-failed", error };
  assert.equal(ending(end), "refused");
  assert.deepEqual(reportEnd(end, undefined, 1234, CONTEXT), {
    state: "refused",
    line: {
      level: "error",
      event: "stream.tls_failed",
      fields: {
        domain: "proxy.example.org",
        server: "xmpps://10.0.0.2:5348",
        server_name: "x.org",
        reason: "certificate expired",
        hint: "renew it",
        detail: "rustls words",
        retry_in_ms: 1234,
      },
    },
    streamError: true,
  });
});

Deno.test("ending: a lost stream is offline, with the error's hint when it has one", () => {
  const error = new NoStream("closed");
  const end = { failure: error.message, error };
  assert.equal(ending(end), "offline");
  const report = reportEnd(end, undefined, 10, CONTEXT);
  assert.equal(report.state, "offline");
  assert.equal(report.line?.event, "stream.offline");
  assert.match(String(report.line?.fields.hint), /xmpps:\/\//);
  assert.equal(
    reportEnd({ failure: undefined }, undefined, 10, CONTEXT).line?.fields.reason,
    "connection closed",
  );
});

Deno.test("ending: refused credentials, and standing by said once", () => {
  const refused = reportEnd({ failure: "not-authorized" }, undefined, 10, CONTEXT);
  assert.equal(refused.state, "refused");
  assert.equal(refused.line?.event, "stream.refused");
  assert.equal(ending({ failure: "not-authorized" }), "refused");
  const first = reportEnd({ failure: "conflict" }, undefined, 10, CONTEXT);
  assert.equal(first.line?.event, "stream.standby");
  assert.equal(first.streamError, true);
  const again = reportEnd({ failure: "conflict" }, "conflict", 10, CONTEXT);
  assert.equal(again.line, undefined);
  assert.equal(again.streamError, false);
  assert.equal(reportEnd({ failure: SIBLING }, undefined, 10, CONTEXT).streamError, false);
});

Deno.test("ending: a server that takes the connection and opens no stream is said so, with a hint", () => {
  // What xmpp.js rejects with when the stream's header does not come: no message.
  const error = Object.assign(new Error(), { name: "TimeoutError" });
  const end = { failure: describe(error), error };
  assert.equal(end.failure, NO_ANSWER);
  assert.equal(ending(end), "offline");
  assert.deepEqual(reportEnd(end, undefined, 250, CONTEXT).line, {
    level: "warning",
    event: "stream.offline",
    fields: {
      domain: "proxy.example.org",
      reason: "no answer from the server",
      retry_in_ms: 250,
      hint: "the server took the connection but opened no XMPP stream: check that this is its " +
        "component port (XEP-0114)",
    },
  });
});

/** src/link/endpoint.ts: a server's URL as the transport dials it, and loopback addresses. */
import assert from "node:assert/strict";
import { endpointOf, isLoopback } from "../../src/link/endpoint.ts";

Deno.test("endpoint: xmpp:// is plaintext, xmpps:// TLS checked for the host or the name given", () => {
  assert.deepEqual(endpointOf("xmpp://127.0.0.1:5347"), { host: "127.0.0.1", port: 5347 });
  assert.deepEqual(endpointOf("xmpp://[::1]:6000"), { host: "::1", port: 6000 });
  assert.deepEqual(endpointOf("xmpps://XMPP.example.org"), {
    host: "xmpp.example.org",
    port: 5347,
    tls: { serverName: "xmpp.example.org" },
  });
  assert.deepEqual(
    endpointOf("xmpps://10.0.0.2:5348", { ca: "PEM", serverName: "xmpp.example.org" }),
    { host: "10.0.0.2", port: 5348, tls: { ca: "PEM", serverName: "xmpp.example.org" } },
  );
  // TLS settings mean nothing to a plaintext link.
  assert.deepEqual(endpointOf("xmpp://h:1", { ca: "PEM" }), { host: "h", port: 1 });
  assert.throws(() => endpointOf("http://h:1"), /xmpp:\/\/ or xmpps:\/\//);
});

Deno.test("loopback: localhost, 127.0.0.0/8 and ::1 in any spelling; nothing else", () => {
  for (
    const host of ["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1", "0:0:0:0:0:0:0:1"]
  ) {
    assert.ok(isLoopback(host), host);
  }
  for (const host of ["10.0.0.2", "xmpp.example.org", "proxy.localhost", "::2", "128.0.0.1"]) {
    assert.ok(!isLoopback(host), host);
  }
});

/**
 * The link over TLS (`server: xmpps://…`) against each server's direct TLS
 * component listener: ejabberd's with `tls: true`, Prosody's through
 * mod_net_multiplex's `ssl_ports`. Certificates are made now with openssl
 * (tests/support/certs.ts): one listener per certificate, one server per
 * kind, a proxy per case. A certificate that verifies gets a working
 * proxy; one that does not gets `stream.tls_failed` naming the server, the
 * name checked and the reason, and the server never sees the component
 * authenticate. A plaintext port given `xmpps://`, and a TLS port given
 * `xmpp://`, each fail with words that say so.
 */
import assert from "node:assert/strict";
import { type CertKind, makeCerts, type TestCerts } from "../support/certs.ts";
import { connectClient, echoHandler, type TestClient } from "../support/client.ts";
import { type ProxyProcess, startProxy } from "../support/proxy.ts";
import { liveCheck, steps } from "../support/live_check.ts";
import { until } from "../support/tcp_peer.ts";
import { SERVER_KINDS, startServer, type XmppServer } from "../support/server.ts";
import { DOMAIN, request, SECRET, TARGET } from "../support/world.ts";
import { xml } from "../../src/core/xml.ts";

const KINDS: readonly CertKind[] = ["signed", "expired", "wrong-name", "self-signed"];

const ONLINE = "stream\\.online";
const TLS_FAILED = "stream\\.tls_failed";

/** The component the refused links are for: the server must never see it authenticate. */
const REFUSED = { domain: "refused.localhost", secret: "refused-secret" };

/** What the server (Prosody or ejabberd) logs once component `domain` authenticated. */
function authenticated(domain: string): RegExp {
  const name = domain.replaceAll(".", "\\.");
  return new RegExp(
    `${name}:component\\s+info\\s+External component successfully authenticated|` +
      `Accepted external component handshake authentication for ${name}`,
  );
}

/**
 * A proxy for `server` with `keys` at the top of its config, started once
 * it logs `ready`; for the refused component unless `ready` is online.
 */
function proxyFor(
  server: string,
  keys: Record<string, unknown>,
  ready: string,
  env?: Record<string, string>,
) {
  const { domain, secret } = ready === ONLINE ? { domain: DOMAIN, secret: SECRET } : REFUSED;
  return startProxy({
    server,
    top: keys,
    proxies: [{ domain, secret, target_address: TARGET }],
    readyEvent: ready,
    ...(env ? { env } : {}),
  });
}

/**
 * The system's trust store made of `ca` alone: Deno's `system` store reads
 * SSL_CERT_FILE, as OpenSSL does. An empty DENO_TLS_CA_STORE is the program's to set.
 */
function systemStoreOf(ca: string): Record<string, string> {
  return { SSL_CERT_FILE: ca, DENO_TLS_CA_STORE: "" };
}

/** The server's TLS listener with certificate `kind`. */
function tlsUrl(server: XmppServer, kind: CertKind): string {
  return server.tlsComponentUrls[KINDS.indexOf(kind)];
}

/** A request from alice through the proxy, answered by a resource of the target. */
async function roundTrip(server: XmppServer, proxy: ProxyProcess): Promise<void> {
  const clients: TestClient[] = [];
  try {
    const login = (username: string, resource: string) =>
      connectClient({
        service: server.c2sUrl,
        domain: server.domain,
        username,
        password: "pw",
        resource,
      }).then((client) => (clients.push(client), client));
    const seen = proxy.lineCount();
    const impl = await login("service", "a");
    impl.onRequest(echoHandler(() => xml("answer", { xmlns: "urn:test" })));
    await proxy.waitForLog(/target\.resource_up .*resource=a/, { after: seen });
    const alice = await login("alice", "r");
    const reply = await alice.request(request("tls1"), { timeoutMs: 10_000 });
    assert.equal(reply.attrs.type, "result", String(reply));
    assert.ok(reply.getChild("answer", "urn:test"), String(reply));
  } finally {
    await Promise.allSettled(clients.map((client) => client.stop()));
  }
}

/**
 * The refused component's secret is nowhere in the proxy's log, and it
 * never came online (the server's side is checked at the end: ejabberd
 * writes its log lazily).
 */
function assertNothingSent(proxy: ProxyProcess): void {
  assert.ok(!proxy.log().includes(REFUSED.secret), "the secret appears in the proxy's log");
  assert.doesNotMatch(proxy.log(), /stream\.online/);
}

/** Waits until the server's log shows `domain` authenticated `times` times in all. */
async function authenticatedTimes(server: XmppServer, domain: string, times: number) {
  const pattern = new RegExp(authenticated(domain).source, "g");
  await until(
    () => (server.log().match(pattern)?.length ?? 0) >= times,
    `${domain} authenticated ${times} times in the server's log`,
  );
}

for (const kind of SERVER_KINDS) {
  Deno.test({
    name: `[${kind}] TLS to the component listener: what verifies serves, what does not is said`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      // Prosody picks a certificate by the name the client asks for (SNI)
      // and refuses one it does not host: the other name is one it hosts.
      const certs: TestCerts = await makeCerts({ otherName: DOMAIN });
      let server: XmppServer | undefined;
      try {
        server = await startServer(kind, {
          components: [{ domain: DOMAIN, secret: SECRET }, REFUSED],
          users: ["service", "alice"].map((username) => ({ username, password: "pw" })),
          tlsListeners: KINDS.map((cert) => ({
            cert: certs.cert[cert],
            key: certs.key,
            full: certs.full[cert],
          })),
        });
        const xmpp = server;
        const step = (name: string, body: () => Promise<void>) =>
          t.step({ name, fn: body, sanitizeOps: false, sanitizeResources: false });

        await step(
          "a CA-signed certificate is accepted through tls_ca, and requests pass",
          async () => {
            await using proxy = await proxyFor(
              tlsUrl(xmpp, "signed"),
              { tls_ca: certs.ca },
              ONLINE,
            );
            await roundTrip(xmpp, proxy);
            // What the refusals below must not show, for their component.
            await authenticatedTimes(xmpp, DOMAIN, 1);
          },
        );

        await step("a self-signed certificate is accepted when it is the tls_ca", async () => {
          await using proxy = await proxyFor(
            tlsUrl(xmpp, "self-signed"),
            { tls_ca: certs.cert["self-signed"] },
            ONLINE,
          );
          await roundTrip(xmpp, proxy);
        });

        await step(
          "tls_server_name: the name the certificate carries is the one checked",
          async () => {
            await using _proxy = await proxyFor(
              tlsUrl(xmpp, "wrong-name"),
              { tls_ca: certs.ca, tls_server_name: DOMAIN },
              ONLINE,
            );
          },
        );

        await step("a wrong name is refused, the reason said, no secret sent", async () => {
          const url = tlsUrl(xmpp, "wrong-name");
          await using proxy = await proxyFor(url, { tls_ca: certs.ca }, TLS_FAILED);
          const line = await proxy.waitForLog(/stream\.tls_failed/);
          assert.ok(line.includes(url), line);
          assert.match(line, /server_name="?127\.0\.0\.1/);
          assert.match(line, /reason=.*certificate not valid for .*127\.0\.0\.1/);
          assert.match(line, /ERROR/);
          assertNothingSent(proxy);
        });

        await step("an expired certificate is refused", async () => {
          await using proxy = await proxyFor(
            tlsUrl(xmpp, "expired"),
            { tls_ca: certs.ca },
            TLS_FAILED,
          );
          assert.match(
            await proxy.waitForLog(/stream\.tls_failed/),
            /reason=.*certificate expired/,
          );
          assertNothingSent(proxy);
        });

        await step("a certificate from a CA not trusted is refused", async () => {
          await using proxy = await proxyFor(tlsUrl(xmpp, "signed"), {}, TLS_FAILED);
          assert.match(await proxy.waitForLog(/stream\.tls_failed/), /reason=.*unknown issuer/);
          assertNothingSent(proxy);
        });

        await step("a plaintext listener given xmpps:// fails clearly", async () => {
          const url = xmpp.componentUrl.replace("xmpp://", "xmpps://");
          await using proxy = await proxyFor(url, { tls_ca: certs.ca }, TLS_FAILED);
          const line = await proxy.waitForLog(/stream\.tls_failed/);
          assert.match(line, /reason=.*no TLS on this port/);
          assert.match(line, /hint=.*use xmpp:\/\//);
        });

        await step("a TLS listener given xmpp:// fails clearly", async () => {
          const url = tlsUrl(xmpp, "signed").replace("xmpps://", "xmpp://");
          await using proxy = await proxyFor(url, {}, "stream\\.offline");
          const line = await proxy.waitForLog(/stream\.offline/);
          assert.match(line, /before its stream began/);
          assert.match(line, /hint=.*use xmpps:\/\//);
          assert.doesNotMatch(proxy.log(), /stream\.online/);
        });

        await step("the server never saw the refused component authenticate", async () => {
          // Three streams of the good one so far: once the log has a fourth,
          // everything before it was written too.
          await authenticatedTimes(xmpp, DOMAIN, 3);
          await using _proxy = await proxyFor(tlsUrl(xmpp, "signed"), { tls_ca: certs.ca }, ONLINE);
          await authenticatedTimes(xmpp, DOMAIN, 4);
          assert.doesNotMatch(xmpp.log(), authenticated(REFUSED.domain));
        });

        await step(
          "a CA in the system's store is trusted without tls_ca, by the proxy and its live check",
          async () => {
            const env = systemStoreOf(certs.ca);
            await using proxy = await proxyFor(tlsUrl(xmpp, "signed"), {}, ONLINE, env);
            // Beside it (ejabberd) or refused as a second connection (Prosody): past TLS either way.
            const run = await liveCheck(proxy.configFile, { timeout: "2s", env });
            assert.equal(steps(run)[0], "handshake:ok", run.output);
          },
        );
      } finally {
        await server?.stop();
        await certs.remove();
      }
    },
  });
}

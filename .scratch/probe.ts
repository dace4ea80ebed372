import { makeCerts } from "../tests/support/certs.ts";
import { startServer } from "../tests/support/server.ts";
const kind = (Deno.args[0] ?? "ejabberd") as "ejabberd" | "prosody";
const certs = await makeCerts();
const server = await startServer(kind, {
  components: [{ domain: "proxy.localhost", secret: "s" }],
  tlsListeners: (["signed", "expired", "wrong-name", "self-signed"] as const).map((k) => ({
    cert: certs.cert[k],
    key: certs.key,
    full: certs.full[k],
  })),
});
console.log(server.tlsComponentUrls);
const ca = Deno.readTextFileSync(certs.ca);
const self = Deno.readTextFileSync(certs.cert["self-signed"]);
const port = (url: string) => Number(url.split(":").pop());
async function tryTls(name: string, url: string, caCerts: string[], hostname = "127.0.0.1") {
  try {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: port(url) });
    const t = await Deno.startTls(tcp, { hostname, caCerts });
    await t.handshake();
    await t.write(
      new TextEncoder().encode(
        "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' to='proxy.localhost'>",
      ),
    );
    const b = new Uint8Array(2000);
    const n = await t.read(b);
    console.log(name, "OK:", new TextDecoder().decode(b.subarray(0, n ?? 0)).slice(0, 200));
    t.close();
  } catch (e) {
    console.log(name, "FAIL:", (e as Error).message);
  }
}
await tryTls("signed", server.tlsComponentUrls[0], [ca]);
await tryTls("expired", server.tlsComponentUrls[1], [ca]);
await tryTls("wrong", server.tlsComponentUrls[2], [ca]);
await tryTls("self", server.tlsComponentUrls[3], [self]);
await tryTls("tls-to-plain", server.componentUrl, [ca]);
// plaintext to TLS port
{
  const c = await Deno.connect({ hostname: "127.0.0.1", port: port(server.tlsComponentUrls[0]) });
  await c.write(
    new TextEncoder().encode(
      "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' to='proxy.localhost'>",
    ),
  );
  const b = new Uint8Array(2000);
  try {
    const n = await c.read(b);
    console.log("plain-to-tls read:", n, n ? Array.from(b.subarray(0, Math.min(n, 16))) : null);
  } catch (e) {
    console.log("plain-to-tls FAIL", (e as Error).message);
  }
  c.close();
}
await server.stop();
await certs.remove();

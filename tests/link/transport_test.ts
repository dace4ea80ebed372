/**
 * The link's own socket (src/link/transport.ts) against peers played by
 * the test: a TLS server whose certificate verifies or not (it records
 * every byte it decrypts: a refused certificate gets none, so no secret),
 * and a server that stops reading while the link keeps writing
 * (backpressure: reading stops, and the link is replaced once the
 * buffer has not drained for keepalive_timeout).
 */
import assert from "node:assert/strict";
import type { Link } from "../../src/link/connection.ts";
import { xml } from "../../src/core/xml.ts";
import { makeCerts, type TestCerts } from "../support/certs.ts";
import { captureLogs } from "../support/logs.ts";
import { peer, until } from "../support/tcp_peer.ts";
import { DOMAIN, serverHeader, testLink } from "../support/component_peer.ts";

const SECRET = "s3cret-never-sent";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const HEADER = serverHeader();

/** Plays a component server on `conn`: header, handshake; `received` collects what it read. */
async function serveStream(conn: Deno.Conn, received: string[]): Promise<void> {
  const buf = new Uint8Array(65536);
  for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
    const text = decoder.decode(buf.subarray(0, n));
    received.push(text);
    if (text.includes("<stream:stream")) await conn.write(encoder.encode(HEADER));
    if (text.includes("<handshake")) await conn.write(encoder.encode("<handshake/>"));
    if (text.includes("</stream:stream>")) {
      await conn.write(encoder.encode("</stream:stream>"));
      return;
    }
  }
}

/** A TLS component server on a free port with the certificate `cert` (PEM files). */
function tlsServer(cert: string, key: string) {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: Deno.readTextFileSync(cert),
    key: Deno.readTextFileSync(key),
  });
  const received: string[] = [];
  const handshakes: string[] = [];
  const conns = new Set<Deno.TlsConn>();
  (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      conn.handshake()
        .then(() => (handshakes.push("ok"), serveStream(conn, received)))
        .catch((error) => handshakes.push(`failed: ${error.message}`))
        .finally(() => {
          conns.delete(conn);
          try {
            conn.close();
          } catch { /* closed already */ }
        });
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    received,
    handshakes,
    close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed already */ }
      }
    },
  };
}

function tlsLink(url: string, tls: { ca?: string; serverName?: string }, seen: string[]) {
  return testLink(url, {
    onOnline: () => seen.push("online"),
    onOffline: () => seen.push("offline"),
  }, { tls, secret: SECRET, random: () => 0 });
}

/** Runs `body` with certificates made for it, removed afterwards. */
async function withCerts(body: (certs: TestCerts) => Promise<void>): Promise<void> {
  const certs = await makeCerts();
  try {
    await body(certs);
  } finally {
    await certs.remove();
  }
}

Deno.test("TLS: a certificate signed by tls_ca, for the address's IP: the stream comes online", () =>
  withCerts(async ({ ca, cert, key }) => {
    const server = tlsServer(cert.signed, key);
    const seen: string[] = [];
    const link = tlsLink(`xmpps://127.0.0.1:${server.port}`, {
      ca: Deno.readTextFileSync(ca),
    }, seen);
    try {
      await until(() => seen.includes("online"), "online over TLS");
      assert.match(server.received.join(""), /<handshake>[0-9a-f]{40}<\/handshake>/);
    } finally {
      await link.stop();
      server.close();
    }
  }));

Deno.test("TLS: a wrong name fails before a byte of the stream is sent, said with the reason", () =>
  withCerts(async ({ ca, cert, key }) => {
    const logs = captureLogs();
    const server = tlsServer(cert["wrong-name"], key);
    const seen: string[] = [];
    const link = tlsLink(`xmpps://127.0.0.1:${server.port}`, {
      ca: Deno.readTextFileSync(ca),
    }, seen);
    try {
      await until(() => logs.lines.some((line) => line.includes("stream.tls_failed")), "refused");
      assert.equal(link.state, "refused");
      assert.deepEqual(seen, []);
      // The server's side of the handshake failed; it decrypted nothing.
      await until(() => server.handshakes.length > 0, "the server's handshake ended");
      assert.match(server.handshakes[0], /failed/);
      assert.deepEqual(server.received, []);
      const line = logs.lines.find((line) => line.includes("stream.tls_failed")) ?? "";
      assert.match(line, /server_name="?127\.0\.0\.1/);
      assert.match(line, /reason="certificate not valid for \\"127\.0\.0\.1\\""/);
      assert.match(line, /hint="set tls_server_name/);
      assert.ok(!logs.lines.join("").includes(SECRET));
    } finally {
      await link.stop();
      server.close();
      logs.restore();
    }
  }));

Deno.test("TLS: tls_server_name is the name checked in the certificate", () =>
  withCerts(async ({ ca, cert, key }) => {
    const server = tlsServer(cert["wrong-name"], key);
    const seen: string[] = [];
    const link = tlsLink(`xmpps://127.0.0.1:${server.port}`, {
      ca: Deno.readTextFileSync(ca),
      serverName: "other.example",
    }, seen);
    try {
      await until(() => seen.includes("online"), "online with the certificate's name");
    } finally {
      await link.stop();
      server.close();
    }
  }));

/** A plaintext link to `url` that gives up quickly; `errors` collects its stream errors. */
function plainLink(url: string, errors: string[]) {
  return testLink(url, { onStreamError: (condition) => errors.push(condition) }, {
    secret: SECRET,
    random: () => 0,
  });
}

Deno.test("a plaintext stream answered with a TLS alert: said as a TLS port, use xmpps://", async () => {
  const logs = captureLogs();
  // What a TLS server sends a client whose first bytes are no handshake.
  const alert = new Uint8Array([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32]);
  const server = peer(async (conn) => {
    await conn.read(new Uint8Array(4096));
    await conn.write(alert);
  });
  const errors: string[] = [];
  const link = plainLink(server.url, errors);
  try {
    await until(() => errors.length > 0, "a failure");
    // Retried at once (random 0), and refused again the same way.
    assert.ok(errors.every((error) => error === "tls-failed"), errors.join());
    assert.equal(link.state, "refused");
    const line = logs.lines.find((line) => line.includes("stream.tls_failed")) ?? "";
    assert.match(line, /reason="the server speaks TLS on this port" hint="use xmpps:\/\//);
  } finally {
    await link.stop();
    server.close();
    logs.restore();
  }
});

for (const how of ["closed", "reset"] as const) {
  Deno.test(`a plaintext stream the server ${how} before a byte: offline, with a hint to use xmpps://`, async () => {
    const logs = captureLogs();
    const server = peer(async (conn) => {
      // A reset: data left unread in the socket when it closes makes the
      // kernel send RST (as Prosody's TLS port does), else FIN (ejabberd's).
      if (how === "closed") await conn.read(new Uint8Array(4096));
      else await new Promise((resolve) => setTimeout(resolve, 50));
    });
    const errors: string[] = [];
    const link = plainLink(server.url, errors);
    try {
      await until(() => logs.lines.some((line) => line.includes("stream.offline")), "offline");
      assert.equal(link.state, "offline");
      const line = logs.lines.find((line) => line.includes("stream.offline")) ?? "";
      assert.match(
        line,
        /reason="the server (closed|reset) the connection before its stream began"/,
      );
      assert.match(line, /hint=".*use xmpps:\/\/"/);
    } finally {
      await link.stop();
      server.close();
      logs.restore();
    }
  });
}

Deno.test("a plaintext link is warned about once when its server is not on this machine", () => {
  const logs = captureLogs();
  const links = ["xmpp://10.0.0.2:5347", "xmpp://127.0.0.1:1", "xmpp://[::1]:1", "xmpps://h:1"]
    .map((url) => testLink(url, {}, { secret: SECRET }));
  try {
    const warned = logs.lines.filter((line) => line.includes("stream.plaintext"));
    assert.equal(warned.length, 1, warned.join(""));
    assert.match(warned[0], /WARN.*server=xmpp:\/\/10\.0\.0\.2:5347 .*hint=.*xmpps:\/\//);
  } finally {
    for (const link of links) link.stop();
    logs.restore();
  }
});

Deno.test({
  name:
    "backpressure: a server that stops reading is not read from, and is replaced after keepalive_timeout",
  // The stalled stream's last writes are refused by the closing socket.
  sanitizeOps: false,
  async fn() {
    const logs = captureLogs("debug");
    const LIMIT = 256 * 1024;
    const TIMEOUT_MS = 600;
    // Ten times what each request takes (the proxy itself writes about what it reads).
    const REPLY = "x".repeat(1024);
    let connections = 0;
    let sentBytes = 0;
    let stop = false;
    const server = peer(async (conn) => {
      const mine = ++connections;
      const received: string[] = [];
      // The stream and handshake, read while they come.
      while (!received.join("").includes("<handshake")) {
        const buf = new Uint8Array(4096);
        const n = await conn.read(buf);
        if (n === null) return;
        const text = decoder.decode(buf.subarray(0, n));
        received.push(text);
        if (text.includes("<stream:stream")) await conn.write(encoder.encode(HEADER));
      }
      await conn.write(encoder.encode("<handshake/>"));
      if (mine > 1) {
        // The replacement: read what comes, until the test ends.
        const buf = new Uint8Array(65536);
        while (!stop && (await conn.read(buf)) !== null);
        return;
      }
      // From now on nothing is read: requests only, as fast as they are taken.
      const request = encoder.encode(
        `<iq type='get' id='q' from='alice@example.org/r' to='${DOMAIN}'/>`.repeat(16),
      );
      while (!stop) {
        await conn.write(request);
        sentBytes += request.length;
      }
    });
    const link: Link = testLink(server.url, {
      // Every request gets a big answer: the link writes far more than it reads.
      onStanza: () => link.send(xml("message", { to: "alice@example.org/r" }, REPLY)),
    }, {
      secret: SECRET,
      keepaliveTimeoutMs: TIMEOUT_MS,
      maxSendBuffer: LIMIT,
      random: () => 0,
    });
    const heapBefore = Deno.memoryUsage().heapUsed;
    try {
      await until(() => logs.lines.some((line) => line.includes("send_buffer_full")), "paused");
      const pausedAt = performance.now();
      await until(() => connections >= 2, "the link replaced", 30_000);
      // Replaced after keepalive_timeout of not draining (and a reconnect).
      const replacedMs = performance.now() - pausedAt;
      assert.ok(replacedMs < TIMEOUT_MS + 1_000, `replaced ${Math.round(replacedMs)} ms after`);
      const stalled = logs.lines.find((line) => line.includes("stream.send_stalled")) ?? "";
      assert.match(stalled, new RegExp(`limit_bytes=${LIMIT} stalled_ms=${TIMEOUT_MS}`));
      // Reading stopped once over the limit: what waited stayed near it,
      // past it by the answers to one read (64 KB of requests) at most.
      const buffered = Number(/buffered_bytes=(\d+)/.exec(stalled)?.[1]);
      assert.ok(buffered > LIMIT && buffered < LIMIT + 10 * 64 * 1024, `buffered ${buffered}`);
      // The server could hand over only what the sockets hold: the link
      // stopped taking requests, so their answers stopped growing.
      assert.ok(sentBytes < 64 * 1024 * 1024, `server sent ${sentBytes} bytes`);
      assert.ok(
        Deno.memoryUsage().heapUsed - heapBefore < 64 * 1024 * 1024,
        "the heap stayed bounded",
      );
    } finally {
      stop = true;
      await link.stop();
      server.close();
      logs.restore();
    }
  },
});

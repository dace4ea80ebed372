/**
 * The reconnect loop against peers that a real server would not be: a
 * port that answers with something other than XMPP, a server that sends a
 * stanza in the same write as its handshake, one that drops each stream at
 * once. (What a real server does is tested in tests/integration/, against
 * Prosody and ejabberd; a sibling on a shared domain in
 * tests/link/shared_domain_test.ts.)
 */
import assert from "node:assert/strict";
import {
  componentServer,
  DOMAIN,
  recordingLink,
  serverHeader,
  testLink,
} from "../support/component_peer.ts";
import { captureLogs } from "../support/logs.ts";
import { peer, readText, until } from "../support/tcp_peer.ts";

const encoder = new TextEncoder();

Deno.test("a port that answers with no XMPP: the stream error is logged and retried, never a crash", async () => {
  const logs = captureLogs();
  const http = peer(async (conn) => {
    await readText(conn);
    await conn.write(encoder.encode("HTTP/1.1 400 Bad Request\r\n\r\n<!DOCTYPE html>"));
    await new Promise((resolve) => setTimeout(resolve, 50));
  });
  const errors: string[] = [];
  let onlines = 0;
  const link = testLink(http.url, {
    // Counted, not asserted here: the stream catches what its handlers throw.
    onOnline: () => onlines++,
    onStreamError: (condition) => errors.push(condition),
  }, { keepaliveMs: undefined, random: () => 0 });
  try {
    // Retried (with backoff) rather than given up or crashed: two attempts.
    await until(() => errors.length >= 2, "two failed attempts");
    assert.equal(link.state, "offline");
    assert.equal(onlines, 0, "never online with no server");
    assert.match(errors[0], /DTD|comment|XML/i);
    assert.ok(
      logs.lines.some((line) => / stream\.offline .*reason=/.test(line)),
      logs.lines.join(""),
    );
  } finally {
    await link.stop();
    http.close();
    logs.restore();
  }
});

Deno.test("a stanza in the same write as the handshake reaches the owner after it is online", async () => {
  const logs = captureLogs();
  const server = componentServer(
    `<iq type='get' id='q1' from='alice@example.org/r' to='${DOMAIN}'/>`,
  );
  const seen: string[] = [];
  const link = recordingLink(server.url, seen);
  try {
    await until(() => seen.length >= 2, "online and the stanza");
    assert.deepEqual(seen, ["online", "stanza q1"]);
  } finally {
    await link.stop();
    server.close();
    logs.restore();
  }
});

Deno.test("a server that accepts the stream and drops it at once is retried less and less often", async () => {
  const logs = captureLogs();
  let connections = 0;
  const server = peer(async (conn) => {
    connections++;
    for (let text = await readText(conn); text !== undefined; text = await readText(conn)) {
      if (text.includes("<stream:stream")) {
        await conn.write(encoder.encode(
          serverHeader(`s${connections}`),
        ));
      }
      if (text.includes("<handshake")) {
        await conn.write(encoder.encode("<handshake/>"));
        // Authenticated, then gone.
        await new Promise((resolve) => setTimeout(resolve, 20));
        return;
      }
    }
  });
  const onlines: number[] = [];
  // A hundredth of each step: 5, 10, 20, … ms.
  const link = testLink(server.url, { onOnline: () => onlines.push(1) }, { random: () => 0.01 });
  try {
    const retries = () =>
      logs.lines.filter((line) => line.includes("stream.offline"))
        .map((line) => Number(/retry_in_ms=(\d+)/.exec(line)?.[1]));
    await until(() => retries().length >= 5, "five lost streams");
    assert.ok(onlines.length >= 5, "each came online");
    const delays = retries().slice(0, 5);
    assert.deepEqual(delays, [5, 10, 20, 40, 80]);
  } finally {
    await link.stop();
    server.close();
    logs.restore();
  }
});

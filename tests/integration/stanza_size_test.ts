/**
 * max_stanza_size (issue 16, hole 6), end to end: an oversized request
 * through real Prosody is refused and the link stays up; and the proxy
 * process's memory stays bounded while a 50 MB stanza streams through
 * (against a component server played by the test, which Prosody would not
 * be: it caps stanzas itself).
 */
import assert from "node:assert/strict";
import { rssMb, sampleRss } from "../support/process_tree.ts";
import { startProxy } from "../support/proxy.ts";
import { peer, readText, until, writeAll } from "../support/tcp_peer.ts";
import { assertError, request, withWorld } from "../support/world.ts";

withWorld(
  "an oversized get through Prosody gets policy-violation; the link stays up and the next request works",
  async (world) => {
    const impl = await world.resource("a");
    const alice = await world.client("alice", "r");
    const seen = world.proxy.lineCount();
    // 128 KB: over the proxy's 64 KB, under Prosody's own c2s limit (256 KB in 0.12).
    const big = request("big", { payload: "x".repeat(128 * 1024) });
    const reply = await alice.request(big, { timeoutMs: 10_000 });
    assertError(reply, { id: "big", type: "modify", condition: "policy-violation" });
    await world.proxy.waitForLog(/stanza\.too_big .*stanza=iq .*action=refused/, { after: seen });
    // The link stayed up, and serves the next request as ever.
    const next = await alice.request(request("after"), { timeoutMs: 10_000 });
    assert.equal(next.attrs.type, "result", String(next));
    const since = world.proxy.log().split("\n").slice(seen).join("\n");
    assert.doesNotMatch(since, /stream\.(offline|error|connecting)/);
    // The implementing client never saw the big one.
    assert.deepEqual(impl.received.filter((el) => el.attrs.id === "big"), []);
  },
  { entry: { max_stanza_size: "64KB" } },
);

const DOMAIN = "proxy.localhost";
const SECRET = "s3cret-for-tests";
const MB = 1024 * 1024;

Deno.test({
  name: "a 50 MB stanza streams through the proxy with its memory bounded, and is refused",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    let received = "";
    let send: ((text: string) => Promise<void>) | undefined;
    const server = peer(async (conn) => {
      send = (text) => writeAll(conn, text);
      for (let text = await readText(conn); text !== undefined; text = await readText(conn)) {
        received += text;
        if (text.includes("<stream:stream")) {
          await send(
            `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' ` +
              `xmlns='jabber:component:accept' id='s1' from='${DOMAIN}'>`,
          );
        }
        if (text.includes("<handshake")) await send("<handshake/>");
      }
    });
    await using proxy = await startProxy({
      server: server.url,
      proxies: [{ domain: DOMAIN, secret: SECRET, target_address: "service@localhost" }],
      logLevel: "info",
    });
    try {
      const pid = proxy.pid();
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const before = await rssMb(pid);
      await using sampler = sampleRss(pid);
      const started = performance.now();
      await send!(
        `<iq type='get' id='big' from='alice@localhost/r' to='${DOMAIN}'><data xmlns='urn:test'>`,
      );
      const chunk = `<part n='1'>${"x".repeat(64 * 1024 - 40)}<![CDATA[ ]]></part>`;
      for (let sent = 0; sent < 50 * MB; sent += chunk.length) await send!(chunk);
      await send!(
        `</data></iq><iq type='get' id='small' from='alice@localhost/r' to='${DOMAIN}'/>`,
      );
      await until(() => /id="small"/.test(received), "the answers to both requests", 30_000)
        .catch((error) => {
          throw new Error(`${error.message}\nreceived: ${received.slice(-2000)}\n${proxy.log()}`);
        });
      const seconds = (performance.now() - started) / 1000;
      const peak = await sampler.stop();
      console.log(
        `50 MB stanza: RSS ${before.toFixed(1)} MB before, ${peak.toFixed(1)} MB at most, ` +
          `${seconds.toFixed(1)} s`,
      );
      assert.match(received, /<iq [^>]*type="error"[^>]*id="big"[^>]*>.*?policy-violation/s);
      assert.ok(peak - before < 40, `RSS grew by ${(peak - before).toFixed(1)} MB`);
      assert.match(proxy.log(), /stanza\.too_big .*action=refused limit=1048576/);
      assert.doesNotMatch(proxy.log(), /stream\.(offline|error)/);
    } finally {
      server.close();
    }
  },
});

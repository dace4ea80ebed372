/**
 * max_stanza_size (issue 16, hole 6), end to end: an oversized request
 * through real Prosody is refused and the link stays up, an oversized
 * answer settles its request with an error at once; and the proxy
 * process's memory stays bounded while a 50 MB stanza of mixed ASCII and
 * multi-byte text streams through (against a component server played by
 * the test, which Prosody would not be: it caps stanzas itself).
 */
import assert from "node:assert/strict";
import { rssMb, sampleRss } from "../support/process_tree.ts";
import { startProxy } from "../support/proxy.ts";
import { peer, readText, until, writeAll } from "../support/tcp_peer.ts";
import { resultFor } from "../support/client.ts";
import { assertError, request, withWorld } from "../support/world.ts";
import { xml } from "../../src/core/xml.ts";
import { serverHeader } from "../support/component_peer.ts";

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

withWorld(
  "max_stanza_size counts bytes: 20 K characters of € (60 KB) pass a 64 KB limit, 24 K (72 KB) do not",
  async (world) => {
    const impl = await world.resource("a");
    const alice = await world.client("alice", "r");
    const kept = await alice.request(request("kept", { payload: "€".repeat(20 * 1024) }), {
      timeoutMs: 10_000,
    });
    assert.equal(kept.attrs.type, "result", String(kept).slice(0, 500));
    const query = impl.received.find((el) => el.attrs.id === "kept")?.getChild("query");
    assert.equal(query?.getText(), "€".repeat(20 * 1024));
    // Under the limit in characters, over it in bytes.
    const over = await alice.request(request("over", { payload: "€".repeat(24 * 1024) }), {
      timeoutMs: 10_000,
    });
    assertError(over, { id: "over", type: "modify", condition: "policy-violation" });
    assert.deepEqual(impl.received.filter((el) => el.attrs.id === "over"), []);
  },
  { entry: { max_stanza_size: "64KB" } },
);

withWorld(
  "an answer over max_stanza_size: the requester gets internal-server-error at once, not the timeout",
  async (world) => {
    const { impl, reply, held } = await world.heldRequest("q1", { timeoutMs: 10_000 });
    const seen = world.proxy.lineCount();
    const asked = performance.now();
    // 128 KB: over the proxy's 64 KB, under Prosody's own c2s limit.
    await impl.send(resultFor(held, xml("big", { xmlns: "urn:test" }, "x".repeat(128 * 1024))));
    const answer = await reply;
    // request_timeout is 60 s: this is no timeout.
    assert.ok(performance.now() - asked < 10_000);
    assertError(answer, { id: "q1", type: "cancel", condition: "internal-server-error" });
    assert.equal(answer.attrs.from, "proxy.localhost");
    assert.doesNotMatch(String(answer), /urn:test/, "nothing of the answer is passed on");
    await world.proxy.waitForLog(/stanza\.too_big .*stanza=iq/, { after: seen });
    // The link stayed up, and the next answer, small, goes through as ever.
    const alice = await world.client("alice", "r2");
    const next = alice.request(request("q2"), { timeoutMs: 10_000 });
    const heldNext = await impl.waitFor((el) => el.attrs.id === "q2", { includePast: true });
    await impl.send(resultFor(heldNext));
    assert.equal((await next).attrs.type, "result");
    const since = world.proxy.log().split("\n").slice(seen).join("\n");
    assert.doesNotMatch(since, /stream\.(offline|error|connecting)/);
  },
  { entry: { max_stanza_size: "64KB", request_timeout: "60s" } },
);

const DOMAIN = "proxy.localhost";
const SECRET = "s3cret-for-tests";
const MB = 1024 * 1024;
/** How fast the 50 MB go out: slowly enough for the RSS samples to see the whole of it. */
const BYTES_PER_MS = 20_000;
const SAMPLE_EVERY_MS = 20;

Deno.test({
  name:
    "a 50 MB stanza of non-ASCII text streams through the proxy with its memory bounded, and is refused",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    let received = "";
    let send: ((data: string | Uint8Array) => Promise<void>) | undefined;
    const server = peer(async (conn) => {
      send = (data) => writeAll(conn, data);
      for (let text = await readText(conn); text !== undefined; text = await readText(conn)) {
        received += text;
        if (text.includes("<stream:stream")) {
          await send(
            serverHeader("s1", DOMAIN),
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
      await using sampler = sampleRss(pid, SAMPLE_EVERY_MS);
      const started = performance.now();
      await send!(
        `<iq type='get' id='big' from='alice@localhost/r' to='${DOMAIN}'><data xmlns='urn:test'>`,
      );
      // 64 KB of UTF-8, half of it text of 2, 3 and 4 bytes a character (in
      // characters, about a quarter): the reads cut characters apart.
      const chunk = new TextEncoder().encode(
        `<part n='é€'>${"x".repeat(32 * 1024 - 40)}${"é€日😀".repeat(2_730)}<![CDATA[ ]]></part>`,
      );
      assert.ok(Math.abs(chunk.length - 64 * 1024) < 100, `${chunk.length} bytes a chunk`);
      for (let sent = 0; sent < 50 * MB; sent += chunk.length) {
        await send!(chunk);
        // Paced, so that the samples see it stream: ahead of time, wait.
        const ahead = (sent + chunk.length) / BYTES_PER_MS - (performance.now() - started);
        if (ahead > 1) await new Promise((resolve) => setTimeout(resolve, ahead));
      }
      const sampledWhileSent = sampler.count;
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
          `${seconds.toFixed(1)} s, ${sampledWhileSent} samples while it was sent`,
      );
      // One sample every 20 ms or so over some 2.5 s (each `ps` takes a few ms).
      assert.ok(sampledWhileSent >= 25, `only ${sampledWhileSent} RSS samples`);
      assert.match(received, /<iq [^>]*type="error"[^>]*id="big"[^>]*>.*?policy-violation/s);
      assert.ok(peak - before < 40, `RSS grew by ${(peak - before).toFixed(1)} MB`);
      assert.match(proxy.log(), /stanza\.too_big .*action=refused limit=1048576/);
      assert.doesNotMatch(proxy.log(), /stream\.(offline|error)/);
    } finally {
      server.close();
    }
  },
});

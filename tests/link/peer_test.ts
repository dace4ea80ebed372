/** The standby's question to its peer (src/link/peer.ts), with the answers a peer may give. */
import assert from "node:assert/strict";
import { askPeer, peerServes } from "../../src/link/peer.ts";

const METRICS =
  `# HELP client_proxy_up Whether the proxy's component stream is online (1) or not (0).
# TYPE client_proxy_up gauge
client_proxy_up{proxy="a.example.org"} 1
client_proxy_up{proxy="b.example.org"} 0
client_proxy_connects_total{proxy="a.example.org"} 3
`;

Deno.test("the peer serves a domain whose stream it reports up, and no other", () => {
  assert.equal(peerServes(METRICS, "a.example.org"), true);
  assert.equal(peerServes(METRICS, "b.example.org"), false, "its stream is down");
  assert.equal(peerServes(METRICS, "c.example.org"), false, "not among its proxies");
  assert.equal(peerServes(METRICS, "a.example"), false, "a prefix of a domain is another domain");
  assert.equal(peerServes("", "a.example.org"), false);
});

function answering(response: () => Response | Promise<Response>): typeof fetch {
  return (() => Promise.resolve().then(response)) as typeof fetch;
}

Deno.test("askPeer: only a clear yes is yes", async () => {
  const asked: string[] = [];
  const recording = ((input: string | URL | Request) => {
    asked.push(String(input));
    return Promise.resolve(new Response(METRICS));
  }) as typeof fetch;
  assert.equal(await askPeer("http://10.0.0.2:9347", "a.example.org", { fetch: recording }), true);
  assert.deepEqual(asked, ["http://10.0.0.2:9347/metrics"]);
  const ask = (fetch: typeof globalThis.fetch) =>
    askPeer("http://10.0.0.2:9347", "a.example.org", { fetch, timeoutMs: 50 });
  assert.equal(await ask(answering(() => new Response(METRICS, { status: 500 }))), false);
  assert.equal(await ask(answering(() => new Response("not metrics"))), false);
  assert.equal(await ask(answering(() => Promise.reject(new TypeError("refused")))), false);
});

Deno.test("askPeer: a peer that does not answer in time is no", async () => {
  const hanging =
    ((_input: string, init?: RequestInit) =>
      new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener("abort", () => reject(init.signal?.reason));
      })) as unknown as typeof fetch;
  // Without the timeout this would never settle (and Deno would fail the test).
  assert.equal(
    await askPeer("http://h:1", "a.example.org", { fetch: hanging, timeoutMs: 30 }),
    false,
  );
});

/**
 * Backpressure end to end (issue 17): the proxy as a user starts it, real
 * Prosody, and between them a relay (tests/support/stall_relay.ts) that
 * stops reading what the proxy sends while Prosody's side keeps flowing:
 * a server that stops reading. Requesters push far more than
 * `max_send_buffer` at the proxy; it stops reading, its memory stays
 * bounded, the link is replaced within `keepalive_timeout`, and it serves
 * again. Every request it read gets exactly one reply. Of those it never
 * read, the server bounces the ones that reach it while no stream is up;
 * the rest were in the dropped connection's buffers (the server's queue,
 * the sockets), lost with it as with any cut connection.
 */
import assert from "node:assert/strict";
import { bounded } from "../support/bounded.ts";
import type { TestClient } from "../support/client.ts";
import { rssMb, sampleRss } from "../support/process_tree.ts";
import { type StallRelay, stallRelay } from "../support/stall_relay.ts";
import { until } from "../support/tcp_peer.ts";
import { assertError, DOMAIN, request, withWorld, type World } from "../support/world.ts";
import type { XmlElement } from "../../src/core/xml.ts";

const KB = 1024;
const MB = 1024 * KB;
/** `max_send_buffer` and `keepalive_timeout` as configured below. */
const LIMIT = 256 * KB;
const TIMEOUT_MS = 2_000;
/** A reconnect's first pause (at most 0.5 s, src/link/backoff.ts), with room for a busy machine. */
const RECONNECT_MS = 1_000;
/** Each request's payload; each requester sends at most this many. */
const PAYLOAD = 96 * KB;
const PER_REQUESTER = 256;
/** Pushed at the proxy while it stalls, at least: 32 times `max_send_buffer`. */
const PUSHED_AT_LEAST = 32 * LIMIT;
/**
 * The proxy's RSS may grow by this much while it stalls: without
 * backpressure it would read all that is pushed at it, and grow by
 * several times that.
 */
const RSS_GROWTH_MB = 16;

withWorld(
  "backpressure: a server that stops reading is not read from, the proxy's memory stays " +
    "bounded, the link is replaced within keepalive_timeout, and every request taken is answered",
  async (world) => {
    const relay = stallRelay(world.server.componentPort);
    try {
      await bounded(60_000, () => scenario(world, relay));
    } finally {
      relay.close();
    }
  },
  { proxy: false },
);

async function scenario(world: World, relay: StallRelay): Promise<void> {
  await world.startProxy(
    {
      max_send_buffer: "256KB",
      keepalive_timeout: "2s",
      request_timeout: "4s",
      // None refused for being too many: a refusal sent into the stalled
      // stream would be lost with it.
      max_pending_per_requester: 10_000,
    },
    {},
    { server: relay.url },
  );
  await world.resource("a");
  const alice = await world.client("alice", "r");
  const bob = await world.client("bob", "r");
  await assertServed(alice, "before");
  const pid = world.proxy.pid();
  const before = await rssMb(pid);
  const seen = world.proxy.lineCount();

  // The relay reads nothing more from the proxy; the requesters push
  // requests at it until it connects anew.
  relay.stall();
  const started = performance.now();
  let pushed = 0;
  let stalledFor = 0;
  const payload = "x".repeat(PAYLOAD);
  const flood = async (client: TestClient, name: string) => {
    const ids: string[] = [];
    for (let i = 0; i < PER_REQUESTER && relay.connections < 2; i++) {
      const id = `flood-${name}-${i}`;
      const text = `<iq type='get' id='${id}' to='${DOMAIN}'>` +
        `<query xmlns='urn:test'>${payload}</query></iq>`;
      ids.push(id);
      await client.send(text);
      if (relay.connections < 2) pushed += text.length;
    }
    return ids;
  };
  let peak: number;
  const flooding = Promise.all([flood(alice, "alice"), flood(bob, "bob")]);
  flooding.catch(() => {}); // awaited below, unless the wait fails first
  {
    // Sampled until the proxy gives the stalled link up: after that, it serves as ever.
    await using sampler = sampleRss(pid, 200);
    await world.proxy.waitForLog(/stream\.send_stalled/, { after: seen, timeoutMs: 30_000 });
    stalledFor = performance.now() - started;
    peak = await sampler.stop();
  }
  const ids = (await flooding).flat();
  await world.proxy.waitForLog(/stream\.online/, { after: seen, timeoutMs: 10_000 });
  assert.equal(relay.connections, 2, "one new connection");
  const lines = world.proxy.log().split("\n").slice(seen);
  const stalledAt = lines.findIndex((line) => /stream\.send_stalled/.test(line));
  const stalled = lines[stalledAt];
  // Reading may have stopped and resumed before; the last stop is the one that lasted.
  const full = lines.slice(0, stalledAt).findLast((line) => /stream\.send_buffer_full/.test(line));
  const connecting = lines.slice(stalledAt).find((line) => /stream\.connecting/.test(line));
  const readWhileStalled = forwardedIds(lines.slice(0, stalledAt)).size;
  console.log(
    `${(pushed / MB).toFixed(1)} MB pushed at the proxy, ` +
      `${(readWhileStalled * PAYLOAD / MB).toFixed(1)} MB of it read; ` +
      `send_stalled ${Math.round(stalledFor)} ms after the relay stalled; ` +
      `RSS ${before.toFixed(1)} MB before, ${peak.toFixed(1)} MB at most`,
  );

  // What an operator sees: the proxy stopped reading, and why it replaced the link.
  assert.ok(full, `stream.send_buffer_full before stream.send_stalled:\n${lines.join("\n")}`);
  assert.match(full, /DEBUG .*stream\.send_buffer_full .*buffered_bytes=\d+ action="not reading/);
  assert.match(
    stalled,
    new RegExp(`WARNING .*stream\\.send_stalled .*limit_bytes=${LIMIT} stalled_ms=${TIMEOUT_MS}`),
  );
  // Over the limit by the last stanzas handed on, at most.
  const buffered = Number(/buffered_bytes=(\d+)/.exec(stalled)?.[1]);
  assert.ok(buffered > LIMIT && buffered < LIMIT + 2 * PAYLOAD, `buffered ${buffered}`);
  // Replaced keepalive_timeout after reading stopped, and connecting again at once.
  const stalledMs = time(stalled) - time(full);
  assert.ok(stalledMs >= TIMEOUT_MS && stalledMs < TIMEOUT_MS + 500, `stalled ${stalledMs} ms`);
  assert.ok(connecting, "stream.connecting after stream.send_stalled");
  const replacedMs = time(connecting) - time(full);
  assert.ok(replacedMs < TIMEOUT_MS + RECONNECT_MS, `connecting ${replacedMs} ms after`);
  // Far more pushed at it than it may hold, and its memory stayed bounded.
  assert.ok(pushed >= PUSHED_AT_LEAST, `only ${pushed} bytes pushed`);
  assert.ok(peak - before < RSS_GROWTH_MB, `RSS grew by ${(peak - before).toFixed(1)} MB`);

  // Served again through the new connection.
  await assertServed(alice, "after-1");
  await assertServed(bob, "after-2");

  // Every request the proxy read got one reply: a result (a get whose
  // forward was lost is sent again once its resource is back), or a
  // timeout. Of those it never read, some the server bounced while no
  // stream was up; the rest were in the dropped connection, lost with it.
  const takenNow = () => forwardedIds(world.proxy.log().split("\n").slice(seen));
  await until(
    () => {
      const replies = repliesTo([alice, bob]);
      return [...takenNow()].every((id) => replies.has(id));
    },
    "a reply to every request the proxy read",
    10_000,
  );
  // Time for a second reply, which must not come.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const taken = takenNow();
  const replies = repliesTo([alice, bob]);
  for (const id of ids) {
    const [reply, ...more] = replies.get(id) ?? [];
    assert.deepEqual(more.map(String), [], `one reply to ${id} at most`);
    if (reply?.attrs.type === "result" && taken.has(id)) {
      assert.equal(reply.getChild("answer", "urn:test")?.attrs.resource, "a", String(reply));
    } else if (reply || taken.has(id)) {
      assert.ok(reply, `a reply to ${id}, which the proxy read`);
      assertError(reply, { id, type: "wait", condition: "remote-server-timeout" });
    }
  }
  const results = [...taken].filter((id) => replies.get(id)![0].attrs.type === "result");
  const bounced = ids.filter((id) => !taken.has(id) && replies.has(id));
  console.log(
    `${ids.length} requests: ${taken.size} read by the proxy and answered ` +
      `(${results.length} results), ${bounced.length} bounced by the server, ` +
      `${ids.length - taken.size - bounced.length} lost with the connection`,
  );
}

/** The replies each flood request got, by id. */
function repliesTo(clients: readonly TestClient[]): Map<string, XmlElement[]> {
  const replies = new Map<string, XmlElement[]>();
  for (const client of clients) {
    for (const el of client.received) {
      const id = el.attrs.id;
      if (el.name === "iq" && id?.startsWith("flood-")) {
        replies.set(id, [...replies.get(id) ?? [], el]);
      }
    }
  }
  return replies;
}

/** The ids of the flood requests that `lines` show forwarded. */
function forwardedIds(lines: readonly string[]): Set<string> {
  const ids = lines.map((line) => /request\.forwarded .*\bid=(flood-\S+)/.exec(line)?.[1]);
  return new Set(ids.filter((id) => id !== undefined));
}

/** A request from `client` answered by resource a, attribute by attribute. */
async function assertServed(client: TestClient, id: string): Promise<void> {
  const reply = await client.request(request(id), { timeoutMs: 10_000 });
  assert.equal(reply.attrs.type, "result", String(reply));
  assert.equal(reply.attrs.from, DOMAIN);
  assert.equal(reply.attrs.to, client.jid);
  assert.equal(reply.attrs.id, id);
  assert.equal(reply.getChild("answer", "urn:test")?.attrs.resource, "a", String(reply));
}

/** A log line's time (its ISO timestamp), in ms. */
function time(line: string): number {
  return Date.parse(line.slice(0, line.indexOf(" ")));
}

/**
 * The keepalive (src/link/keepalive.ts) with short real timings: probes,
 * pings every period, a dead link when one goes unanswered and nothing else
 * arrives (or the ping is stuck in the send buffer).
 */
import assert from "node:assert/strict";
import { parseXml } from "../../src/core/xml.ts";
import { Keepalive } from "../../src/link/keepalive.ts";
import { logger } from "../../src/ops/log.ts";
import { captureLogs } from "../support/logs.ts";

const DOMAIN = "proxy.example.org";
const PREFIX = "cp-ping-0123abcd-1700000000000-";

/**
 * A keepalive that records what it writes and whether it found the link
 * dead. Its socket takes every write, until `socket.stuck` is set.
 */
function keepalive(keepaliveMs: number, keepaliveTimeoutMs: number) {
  const written: string[] = [];
  /** How many times the link was found dead, and how much was written by then. */
  const state = { dead: 0, writtenThen: 0 };
  /** Writes the socket took; while stuck, no more. */
  const socket = { stuck: false, taken: 0 };
  const timings = { keepaliveMs, keepaliveTimeoutMs };
  const it = new Keepalive(DOMAIN, logger(DOMAIN), PREFIX, {
    timings: () => timings,
    write: (text) => {
      written.push(text);
      if (!socket.stuck) socket.taken = written.length;
    },
    mark: () => written.length,
    taken: (mark) => socket.taken >= mark,
    sign: () => ({ t: "1700000000000", nonce: "n", mac: "m" }),
    dead: () => {
      state.dead++;
      state.writtenThen = written.length;
    },
  });
  const ids = () => written.map((text) => parseXml(text).attrs.id ?? "");
  return { it, written, state, ids, socket };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("keepalive: eight probes at once, 25 ms apart, each with its own id", async () => {
  const { it, ids } = keepalive(0, 1_000);
  try {
    it.start();
    await sleep(250);
    assert.deepEqual(ids(), Array.from({ length: 8 }, (_, i) => PREFIX + i));
  } finally {
    it.stop();
  }
});

Deno.test("keepalive: an unanswered ping with nothing heard meanwhile: the link is dead, said once", async () => {
  const logs = captureLogs();
  const { it, state, written } = keepalive(30, 40);
  try {
    it.start();
    await sleep(300);
    assert.equal(state.dead, 1);
    assert.equal(logs.lines.filter((line) => line.includes("stream.dead_link")).length, 1);
    assert.match(logs.lines.join(""), /stream\.dead_link .*unanswered_ms=40/);
    // Stopped: nothing written after the link was found dead.
    assert.equal(written.length, state.writtenThen);
  } finally {
    it.stop();
    logs.restore();
  }
});

for (const keptBy of ["answers", "stanzas heard"]) {
  Deno.test(`keepalive: ${keptBy} keep the link alive, and the pings going`, async () => {
    const { it, state, written, ids } = keepalive(30, 250);
    try {
      it.start();
      const until = Date.now() + 700;
      while (Date.now() < until) {
        await sleep(5);
        if (keptBy === "stanzas heard") it.heard();
        else ids().forEach((id) => it.answered(id));
      }
      assert.equal(state.dead, 0);
      // Eight probes, then a ping at least every 30 + 250 ms.
      assert.ok(written.length >= 8 + 2, `pinged on: ${written.length}`);
    } finally {
      it.stop();
    }
  });
}

Deno.test("keepalive: while its ping is stuck in the send buffer, stanzas heard are no sign of life", async () => {
  const logs = captureLogs();
  const { it, state, socket } = keepalive(30, 60);
  try {
    socket.stuck = true;
    it.start();
    const until = Date.now() + 400;
    while (Date.now() < until && state.dead === 0) {
      await sleep(5);
      it.heard();
    }
    assert.equal(state.dead, 1);
    assert.match(logs.lines.join(""), /stream\.dead_link .*unanswered_ms=60 .*writes=stuck/);
  } finally {
    it.stop();
    logs.restore();
  }
});

Deno.test("keepalive: while writes are stuck, the ping's own answer keeps the link alive", async () => {
  const { it, state, socket, ids } = keepalive(30, 250);
  try {
    socket.stuck = true;
    it.start();
    const until = Date.now() + 700;
    while (Date.now() < until) {
      await sleep(5);
      ids().forEach((id) => it.answered(id));
    }
    assert.equal(state.dead, 0);
  } finally {
    it.stop();
  }
});

Deno.test("keepalive: a ping is answered with this stream's signature", () => {
  const { it, written } = keepalive(0, 1_000);
  it.answer("cp-ping-9876fedc-1700000000500-4");
  const answer = parseXml(written[0]);
  assert.deepEqual(answer.attrs, {
    type: "result",
    id: "cp-ping-9876fedc-1700000000500-4",
    from: DOMAIN,
    to: DOMAIN,
  });
  assert.equal(answer.getChild("ping", "urn:xmpp:ping")?.attrs.by, PREFIX);
});

Deno.test("keepalive: each ping and answer carries a proof of its type, id and signature", async () => {
  const signed: string[][] = [];
  const written: string[] = [];
  const it = new Keepalive(DOMAIN, logger(DOMAIN), PREFIX, {
    timings: () => ({ keepaliveMs: 0 }),
    write: (text) => written.push(text),
    mark: () => written.length,
    taken: () => true,
    sign: (fields) => {
      signed.push([...fields]);
      return { t: "1700000000000", nonce: `n${signed.length}`, mac: "m" };
    },
    dead: () => {},
  });
  try {
    it.answer("cp-ping-9876fedc-1700000000500-4");
    it.start();
    await sleep(250);
    assert.deepEqual(signed[0], ["ping", "result", "cp-ping-9876fedc-1700000000500-4", PREFIX]);
    assert.deepEqual(signed[1], ["ping", "get", PREFIX + "0", ""]);
    assert.equal(written.length, signed.length);
    written.forEach((text, i) => {
      const ping = parseXml(text).getChild("ping", "urn:xmpp:ping");
      assert.deepEqual(
        { t: ping?.attrs.t, nonce: ping?.attrs.nonce, mac: ping?.attrs.mac },
        { t: "1700000000000", nonce: `n${i + 1}`, mac: "m" },
      );
    });
  } finally {
    it.stop();
  }
});

/** The link's writes (src/link/writer.ts): one socket write per turn, held while offline. */
import assert from "node:assert/strict";
import { logger } from "../../src/ops/log.ts";
import { type Socket, StreamWriter } from "../../src/link/writer.ts";
import { captureLogs } from "../support/logs.ts";

const DOMAIN = "proxy.example.org";

/** A socket that records each write, and fails those told to. */
class FakeSocket implements Socket {
  readonly writes: string[] = [];
  failing = false;
  write(text: string): Promise<void> {
    if (this.failing) return Promise.reject(new Error("socket closed"));
    this.writes.push(text);
    return Promise.resolve();
  }
}

/** A writer over `socket` while `online.now`. */
function writer(socket: FakeSocket, online: { now: boolean }, outboxLimit?: number) {
  return new StreamWriter({
    domain: DOMAIN,
    log: logger(DOMAIN),
    outboxLimit,
    socket: () => (online.now ? socket : undefined),
  });
}

/** Lets queued microtasks (the batch's flush) run. */
const turn = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("writer: what is written in one turn goes out in one socket write, in order", async () => {
  const socket = new FakeSocket();
  const out = writer(socket, { now: true });
  out.write("<a/>");
  out.write("<b/>");
  out.write("<c/>");
  assert.deepEqual(socket.writes, [], "not before the turn ends");
  await turn();
  assert.deepEqual(socket.writes, ["<a/><b/><c/>"]);
  out.write("<d/>");
  out.flush();
  assert.deepEqual(socket.writes, ["<a/><b/><c/>", "<d/>"], "flush writes at once");
});

Deno.test("writer: a burst goes out in slices of 256", async () => {
  const socket = new FakeSocket();
  const out = writer(socket, { now: true });
  for (let i = 0; i < 600; i++) out.write(`<i n='${i}'/>`);
  await turn();
  assert.deepEqual(socket.writes.map((text) => text.split("/>").length - 1), [256, 256, 88]);
  assert.equal(
    socket.writes.join(""),
    Array.from({ length: 600 }, (_, i) => `<i n='${i}'/>`).join(""),
  );
});

Deno.test("writer: held while offline, and sent first, in order, once back", async () => {
  const socket = new FakeSocket();
  const online = { now: false };
  const out = writer(socket, online);
  out.write("<a/>");
  out.write("<b/>");
  await turn();
  assert.deepEqual(socket.writes, []);
  online.now = true;
  out.resume();
  out.write("<c/>");
  await turn();
  assert.deepEqual(socket.writes, ["<a/><b/><c/>"]);
});

Deno.test("writer: a failed socket write is held for the next stream", async () => {
  const socket = new FakeSocket();
  const online = { now: true };
  const out = writer(socket, online);
  socket.failing = true;
  out.write("<lost?/>");
  await turn();
  assert.deepEqual(socket.writes, []);
  socket.failing = false;
  out.resume();
  await turn();
  assert.deepEqual(socket.writes, ["<lost?/>"]);
});

Deno.test("writer: a full outbox drops the oldest, says so once, and counts the drops when back", async () => {
  const logs = captureLogs();
  try {
    const socket = new FakeSocket();
    const online = { now: false };
    const out = writer(socket, online, 2);
    for (const text of ["<1/>", "<2/>", "<3/>", "<4/>"]) out.write(text);
    assert.equal(logs.lines.filter((line) => line.includes("stream.outbox_full")).length, 1);
    assert.match(logs.lines.join(""), /stream\.outbox_full .*limit=2/);
    online.now = true;
    out.resume();
    await turn();
    assert.deepEqual(socket.writes, ["<3/><4/>"]);
    assert.match(logs.lines.join(""), /stream\.outbox_dropped .*dropped=2/);
  } finally {
    logs.restore();
  }
});

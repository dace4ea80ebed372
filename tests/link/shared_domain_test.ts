/**
 * A domain shared with a sibling instance, played by the test on a fake
 * server: its pings and relays, genuine, forged, bounced or replayed, and
 * what the link does with each (src/link/shared_domain.ts).
 */
import assert from "node:assert/strict";
import { SharedDomain } from "../../src/link/shared_domain.ts";
import { LOOK_MS } from "../../src/link/sibling.ts";
import { Prover } from "../../src/link/proof.ts";
import { readRelay, relayText } from "../../src/link/relay.ts";
import { answerText, pingFields, pingText } from "../../src/link/self_ping.ts";
import { isOversized, parseXml } from "../../src/core/xml.ts";
import {
  componentServer,
  DOMAIN,
  recordingLink,
  SECRET,
  serverHeader,
  testLink,
  testLinkOptions,
} from "../support/component_peer.ts";
import { captureLogs } from "../support/logs.ts";
import { peer, readText, until } from "../support/tcp_peer.ts";

const encoder = new TextEncoder();

/** Another instance holding the secret: its pings, answers and relays, proved now. */
const sibling = new Prover(DOMAIN, SECRET);
/** The ping prefix of a sibling online since long ago (older than any stream of the test's). */
const OLDER = "cp-ping-0123abcd-1000000000000-";
const now = (fields: readonly string[]) => sibling.sign(fields, Date.now());
const signedPing = (id: string) => pingText(DOMAIN, id, now(pingFields("get", id, undefined)));
const signedAnswer = (id: string, by: string) =>
  answerText(DOMAIN, id, by, now(pingFields("result", id, by)));
const signedRelay = (stanza: string, by: string) => relayText(parseXml(stanza), DOMAIN, by, now);

Deno.test("bounces and relays of a gone sibling's pings are no sign of a sibling: the stream serves on", async () => {
  const logs = captureLogs();
  // What ejabberd hands back, maybe seconds later, when a stanza for the
  // domain found no connection: an instance killed meanwhile is named in it.
  const goneBy = "cp-ping-0123abcd-1700000000000-";
  const gone = `${goneBy}4`;
  const relayed = signedAnswer(gone, goneBy);
  const bounces = `<iq type='error' id='${gone}' from='${DOMAIN}' to='${DOMAIN}'>` +
    `<ping xmlns='urn:xmpp:ping'/><error type='cancel'><remote-server-not-found ` +
    `xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>` +
    `<message type='error' from='${DOMAIN}' to='${DOMAIN}'>` +
    `<relay xmlns='urn:xmpp:client-proxy:relay:0'>${
      relayed.replaceAll("&", "&amp;").replaceAll("<", "&lt;")
    }</relay><error type='cancel'><remote-server-not-found ` +
    `xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>` +
    // A relay of it, come back (the sibling it was for is gone).
    signedRelay(relayed, "cp-ping-5555aaaa-1700000000000-") +
    `<iq type='get' id='q1' from='alice@example.org/r' to='${DOMAIN}'/>`;
  const written: string[] = [];
  const server = componentServer(bounces, written);
  const seen: string[] = [];
  const link = recordingLink(server.url, seen);
  try {
    await until(() => seen.length >= 2, "online and the request after the bounces");
    assert.deepEqual(seen, ["online", "stanza q1"]);
    assert.equal(link.state, "online");
    assert.deepEqual(logs.lines.filter((line) => /stream\.(sibling|standby)/.test(line)), []);
    // Nothing was passed on to a sibling through the server.
    assert.ok(!written.join("").includes("client-proxy:relay"), written.join(""));
    assert.equal(logs.lines.filter((line) => line.includes("stream.sibling_seen")).length, 0);
    assert.deepEqual(logs.lines.filter((line) => line.includes("stream.forged")), []);
  } finally {
    await link.stop();
    server.close();
    logs.restore();
  }
});

Deno.test("an older sibling's ping: the stream hands over, relays, stands by; its next look takes over", async () => {
  const logs = captureLogs();
  // A sibling online since long ago (its ping names it), then a request
  // that should have gone to it; on the next connection, one for us.
  const first = signedPing(`${OLDER}0`) +
    `<iq type='get' id='q1' from='alice@example.org/r' to='${DOMAIN}'/>`;
  const second = `<iq type='get' id='q2' from='alice@example.org/r' to='${DOMAIN}'/>`;
  const written: string[][] = [];
  let connections = 0;
  const server = peer(async (conn) => {
    const mine: string[] = [];
    written.push(mine);
    const after = connections++ === 0 ? first : second;
    for (let text = await readText(conn); text !== undefined; text = await readText(conn)) {
      mine.push(text);
      if (text.includes("<stream:stream")) {
        await conn.write(encoder.encode(
          serverHeader(`s${connections}`),
        ));
      }
      if (text.includes("<handshake")) {
        await conn.write(encoder.encode("<handshake/>"));
        // Once the stream is online.
        setTimeout(() => conn.write(encoder.encode(after)).catch(() => {}), 50);
      }
      if (text.includes("</stream:stream>")) {
        await conn.write(encoder.encode("</stream:stream>"));
        return;
      }
    }
  });
  const seen: string[] = [];
  const link = testLink(server.url, {
    onStanza: (el) => seen.push(`stanza ${el.attrs.id}`),
    onOnline: () => seen.push("online"),
    onOffline: () => seen.push("offline"),
    onHandOver: () => seen.push("hand over"),
    onTakeOver: () => seen.push("take over"),
  }, { standbyRetryMs: 50 });
  try {
    await until(() => seen.includes("stanza q2"), "the look's takeover");
    assert.deepEqual(seen, ["online", "hand over", "offline", "online", "take over", "stanza q2"]);
    assert.equal(link.state, "online");
    const firstStream = written[0].join("");
    // The sibling's ping answered (signed), the request relayed to it, the stream closed.
    assert.match(
      firstStream,
      new RegExp(`<iq type="result" id="${OLDER}0"[^>]*><ping [^>]*by="cp-ping-`),
    );
    assert.match(
      firstStream,
      /<relay xmlns="urn:xmpp:client-proxy:relay:0" by="cp-ping-[^>]*>&lt;iq [^<]*id='q1'/,
    );
    assert.match(firstStream, /<\/stream:stream>$/);
    const said = logs.lines.join("");
    assert.match(said, /stream\.sibling .*sibling=0123abcd action="?standing by/);
    assert.equal(logs.lines.filter((line) => line.includes("stream.standby ")).length, 1);
    assert.match(said, /stream\.taking_over .*held=1/);
  } finally {
    await link.stop();
    server.close();
    logs.restore();
  }
});

Deno.test("stepping back, a stanza over max_stanza_size is relayed as too big, never as one without payload", async () => {
  const logs = captureLogs();
  const big = `<iq type='result' id='q1' from='service@example.org/a' ` +
    `to='${DOMAIN}/alice@example.org/r'><big xmlns='urn:x'>${"x".repeat(4_000)}</big></iq>`;
  const written: string[] = [];
  const server = scriptedServer(signedPing(`${OLDER}0`) + big, (text) => written.push(text));
  const seen: string[] = [];
  const link = testLink(server.url, {
    onStanza: (el) => seen.push(`stanza ${el.attrs.id}`),
    onHandOver: () => seen.push("hand over"),
  }, { standbyRetryMs: 60_000, maxStanzaSize: 1_024 });
  try {
    await until(() => written.join("").includes("client-proxy:relay"), "the relay");
    assert.deepEqual(seen, ["hand over"]);
    const relay = /<relay [^>]*>[^<]*<\/relay>/.exec(written.join(""))?.[0] ?? "";
    // What is left of it (its start tag), marked under the proof.
    assert.match(relay, / oversized="true"/);
    assert.match(relay, /&lt;iq [^&]*id=(?:"|&quot;|')q1/);
    assert.doesNotMatch(relay, /big|xxxx/);
    const out = readRelay(
      parseXml(`<message from='${DOMAIN}' to='${DOMAIN}'>${relay}</message>`),
      DOMAIN,
      (fields, proof) => sibling.check(fields, proof, Date.now()),
    );
    assert.ok(out?.kind === "relay" && isOversized(out.stanza), JSON.stringify(out));
  } finally {
    await link.stop();
    server.close();
    logs.restore();
  }
});

/**
 * A server that accepts the stream, writes `after(written)` once the
 * stream is online, and hands `onRead` each read (with a writer), so that
 * the test can play a peer that sees what the link sends.
 */
function scriptedServer(
  after: string,
  onRead: (text: string, write: (text: string) => void) => void = () => {},
) {
  return peer(async (conn) => {
    const write = (text: string) => void conn.write(encoder.encode(text)).catch(() => {});
    for (let text = await readText(conn); text !== undefined; text = await readText(conn)) {
      if (text.includes("<stream:stream")) {
        write(
          serverHeader(),
        );
      }
      if (text.includes("<handshake")) {
        write("<handshake/>");
        setTimeout(() => write(after), 50);
      }
      onRead(text, write);
      if (text.includes("</stream:stream>")) {
        write("</stream:stream>");
        return;
      }
    }
  });
}

/** A link that records what reaches its owner, what it drops, and whether it hands over. */
function watchedLink(url: string) {
  const seen: string[] = [];
  const dropped: string[] = [];
  const link = testLink(url, {
    onStanza: (el) => seen.push(`stanza ${el.attrs.id}`),
    onOnline: () => seen.push("online"),
    onOffline: () => seen.push("offline"),
    onHandOver: () => seen.push("hand over"),
    onDropped: (reason) => dropped.push(reason),
  });
  return { link, seen, dropped };
}

const request = (id: string) =>
  `<iq type='get' id='${id}' from='alice@example.org/r' to='${DOMAIN}'/>`;

Deno.test("a forged sibling's ping never makes the stream stand down: dropped, said, counted", async () => {
  const logs = captureLogs();
  // "Online since 2001": genuine, it would make us hand over at once.
  const older = "cp-ping-00000000-1000000000000-";
  const guessed = new Prover(DOMAIN, "guessed");
  const forgeries = [
    // What the implementing client could shape (the server stamps no other `from`).
    `<iq type='get' id='${older}0' from='${DOMAIN}' to='${DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>`,
    pingText(
      DOMAIN,
      `${older}1`,
      guessed.sign(pingFields("get", `${older}1`, undefined), Date.now()),
    ),
    // A genuine one captured a minute ago.
    pingText(
      DOMAIN,
      `${older}2`,
      sibling.sign(pingFields("get", `${older}2`, undefined), Date.now() - 60_000),
    ),
    // An answer to our ping "by" the older instance, unproved.
    `<iq type='result' id='${older}3' from='${DOMAIN}' to='${DOMAIN}'><ping xmlns='urn:xmpp:ping' by='${older}'/></iq>`,
  ];
  let echoed = false;
  const server = scriptedServer(forgeries.join("") + request("q1"), (text, write) => {
    // Our own first probe, played back to us twice: the second is a replay.
    const probe = /<iq [^>]*type="get"[^>]*>.*?<\/iq>/.exec(text)?.[0];
    if (probe && !echoed) {
      echoed = true;
      write(probe + probe);
    }
  });
  const { link, seen, dropped } = watchedLink(server.url);
  try {
    await until(() => dropped.length >= 5 && seen.includes("stanza q1"), "five forgeries dropped");
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(seen, ["online", "stanza q1"]);
    assert.equal(link.state, "online");
    assert.deepEqual(dropped, Array(5).fill("forged_ping"));
    const said = logs.lines.filter((line) => line.includes("stream.forged_ping"));
    // Counted each, said once a minute per rule: the second unproved one is left out.
    assert.equal(said.length, 4, said.join(""));
    for (
      const rule of [
        "no proof",
        "proof does not match",
        "proof outside the validity window",
        "proof used before",
      ]
    ) {
      assert.ok(said.some((line) => line.includes(rule)), `${rule}:\n${said.join("")}`);
    }
    assert.ok(
      said.some((line) => /WARN.*peer="?cp-ping-00000000-1000000000000-0 /.test(line)),
      said.join(""),
    );
    assert.deepEqual(logs.lines.filter((line) => /stream\.(sibling|standby)/.test(line)), []);
  } finally {
    await link.stop();
    server.close();
    logs.restore();
  }
});

Deno.test("relays: only one whose proof holds is opened; the rest are dropped, said, counted", async () => {
  const logs = captureLogs();
  const by = "cp-ping-5555aaaa-1700000000000-";
  const genuine = signedRelay(request("q2"), by);
  const guessed = new Prover(DOMAIN, "guessed");
  const relays = [
    // Shaped by hand, no proof.
    `<message from='${DOMAIN}' to='${DOMAIN}'><relay xmlns='urn:xmpp:client-proxy:relay:0'>${
      request("q0").replaceAll("<", "&lt;")
    }</relay></message>`,
    relayText(parseXml(request("q1")), DOMAIN, by, (fields) => guessed.sign(fields, Date.now())),
    genuine,
    genuine,
  ];
  const server = scriptedServer(relays.join("") + request("q3"));
  const { link, seen, dropped } = watchedLink(server.url);
  try {
    await until(() => seen.includes("stanza q3"), "the request after the relays");
    assert.deepEqual(seen, ["online", "stanza q2", "stanza q3"]);
    assert.deepEqual(dropped, ["forged_relay", "forged_relay", "forged_relay"]);
    const said = logs.lines.filter((line) => line.includes("stream.forged_relay")).join("");
    assert.match(said, /peer="?unnamed.*rule="?no proof/);
    assert.match(said, /peer="?cp-ping-5555aaaa-1700000000000-.*rule="?proof does not match/);
    assert.match(said, /rule="?proof used before/);
  } finally {
    await link.stop();
    server.close();
    logs.restore();
  }
});

Deno.test("one connection per domain (as on Prosody): even a genuine relay naming this stream is not taken", async () => {
  const logs = captureLogs();
  let sent = false;
  // The server plays a relay back as if this stream had sent it: proved
  // with the secret, named after the stream (read from its own pings).
  const server = scriptedServer("", (text, write) => {
    const mark = /id="(cp-ping-[0-9a-f]+-\d+-)\d+"/.exec(text)?.[1];
    if (mark && !sent) {
      sent = true;
      write(signedRelay(request("q1"), mark) + request("q2"));
    }
  });
  const { link, seen, dropped } = watchedLink(server.url);
  try {
    await until(() => seen.includes("stanza q2"), "the request after the relay");
    assert.deepEqual(seen, ["online", "stanza q2"]);
    assert.deepEqual(dropped, ["forged_relay"]);
    assert.match(
      logs.lines.join(""),
      /stream\.forged_relay .*rule="?no sibling is known to be connected/,
    );
  } finally {
    await link.stop();
    server.close();
    logs.restore();
  }
});

Deno.test("a genuine answer that comes by twice, the second time inside a relay, is no forgery", async () => {
  const logs = captureLogs();
  // Newer siblings than this stream (online since 2286): it serves on.
  const by = "cp-ping-5555aaaa-9999999999999-";
  // The answer of one to the other's ping, straight, then relayed back (as
  // ejabberd hands a stepping-back instance's relays to any connection).
  const theirs = signedAnswer("cp-ping-0123abcd-9999999999999-3", by);
  const server = scriptedServer(theirs + signedRelay(theirs, by) + request("q1"));
  const { link, seen, dropped } = watchedLink(server.url);
  try {
    await until(() => seen.includes("stanza q1"), "the request after the answers");
    assert.deepEqual(dropped, []);
    assert.deepEqual(logs.lines.filter((line) => line.includes("stream.forged")), []);
  } finally {
    await link.stop();
    server.close();
    logs.restore();
  }
});

Deno.test("a look's timer ends with the link: stopped while looking, it never takes over", async () => {
  const tookOver: string[] = [];
  const shared = new SharedDomain(
    testLinkOptions("xmpp://127.0.0.1:1", { onTakeOver: () => tookOver.push("took over") }),
    new Prover(DOMAIN, SECRET),
    {
      keepalive: () => undefined,
      online: () => true,
      mark: () => "m",
      maxStanza: () => 1024 * 1024,
      write: () => {},
      serve: () => {},
      closeIn: () => {},
    },
  );
  shared.open({ id: "i1", since: 0 }, true);
  shared.online();
  shared.stop();
  await new Promise((resolve) => setTimeout(resolve, LOOK_MS + 100));
  assert.deepEqual(tookOver, []);
});

/**
 * The guest stream (src/link/guest.ts) against a component server played
 * by the test: what it does with what its owner does not claim, alone and
 * beside a sibling; its answers and relays, proved; how it fails to
 * connect; and that no instance ever steps back for it.
 */
import assert from "node:assert/strict";
import { type Guest, GuestError, type GuestOptions, openGuest } from "../../src/link/guest.ts";
import { type Proof, Prover } from "../../src/link/proof.ts";
import { readRelay } from "../../src/link/relay.ts";
import { pingFields, pingSender, pingText, readSelfPing } from "../../src/link/self_ping.ts";
import { SiblingWatch } from "../../src/link/sibling.ts";
import { parseXml, type XmlElement } from "../../src/core/xml.ts";
import { peer, readText, until, writeAll } from "../support/tcp_peer.ts";
import { answeringServer, DOMAIN, serverHeader } from "../support/component_peer.ts";

const SECRET = "s3cret";
/** The serving instance: online since long ago. */
const SIBLING = "cp-ping-0123abcd-1000000000000-";
const sibling = new Prover(DOMAIN, SECRET);
const siblingPing = (id: string) =>
  pingText(DOMAIN, id, sibling.sign(pingFields("get", id, undefined), Date.now()));
const request = (id: string) =>
  `<iq type='get' id='${id}' from='alice@example.org/r' to='${DOMAIN}'/>`;

/** A guest whose owner claims the stanzas with an id starting with "mine". */
async function guestOf(
  url: string,
  orphans: XmlElement[] = [],
  timeoutMs = 2_000,
  more: Partial<GuestOptions> = {},
): Promise<Guest> {
  return await openGuest({
    ...more,
    url,
    domain: DOMAIN,
    secret: SECRET,
    timeoutMs,
    handlers: {
      onStanza: (el) => (el.attrs.id ?? "").startsWith("mine"),
      onOrphan: (el) => orphans.push(el),
    },
  });
}

/** Checks proofs as the serving instance does (afresh each time: a valid proof counts once). */
function checker() {
  const prover = new Prover(DOMAIN, SECRET);
  return (fields: readonly string[], proof: Partial<Proof>) =>
    prover.check(fields, proof, Date.now());
}

/** The stanzas relayed in `text`, read as the serving instance reads them. */
function relayed(text: string): XmlElement[] {
  const check = checker();
  const out: XmlElement[] = [];
  for (const match of text.matchAll(/<message[^>]*>.*?<\/message>/gs)) {
    const relay = readRelay(parseXml(match[0]), DOMAIN, check);
    if (relay?.kind === "relay") out.push(relay.stanza);
  }
  return out;
}

Deno.test("guest alone: what its owner does not claim is an orphan once the look is over", async () => {
  const srv = answeringServer();
  const orphans: XmlElement[] = [];
  const guest = await guestOf(srv.url, orphans);
  try {
    await srv.write(request("r1") + request("mine-1"));
    assert.equal(await guest.look, false);
    assert.deepEqual(orphans.map((el) => el.attrs.id), ["r1"]);
    await srv.write(request("r2"));
    await until(() => orphans.length === 2, "the second orphan");
    assert.equal(guest.beside, false);
    assert.equal(guest.passedOn, 0);
    assert.ok(!srv.text().includes("client-proxy:relay"), "nothing relayed");
  } finally {
    await guest.close(1_000);
    srv.close();
  }
});

Deno.test("guest beside a sibling: it answers the sibling's ping and relays what is not its owner's", async () => {
  const srv = answeringServer();
  const orphans: XmlElement[] = [];
  const guest = await guestOf(srv.url, orphans);
  try {
    // Held by the look until the sibling shows itself, then relayed.
    await srv.write(request("early"));
    await srv.write(siblingPing(`${SIBLING}7`));
    assert.equal(await guest.look, true);
    await srv.write(request("later") + request("mine-2"));
    await until(() => relayed(srv.text()).length >= 2, "two relays");
    assert.deepEqual(relayed(srv.text()).map((el) => el.attrs.id), ["early", "later"]);
    assert.equal(guest.passedOn, 2);
    assert.deepEqual(orphans, []);
    // One of its relays, handed back to it by the server: it goes on again,
    // counted once.
    const own = srv.text().match(/<message[^>]*>.*?<\/message>/s)![0];
    await srv.write(own);
    await until(() => relayed(srv.text()).length >= 3, "the relay passed on again");
    assert.deepEqual(relayed(srv.text()).map((el) => el.attrs.id), ["early", "later", "early"]);
    assert.equal(guest.passedOn, 2);
    // Its answer to the sibling's ping is signed, and names the guest.
    const answer = srv.text().match(/<iq[^>]*type="result"[^>]*>.*?<\/iq>/s)?.[0];
    assert.ok(answer, srv.text());
    const ping = readSelfPing(parseXml(answer), DOMAIN, checker());
    assert.equal(ping?.id, `${SIBLING}7`);
    assert.equal(ping?.verdict, "valid");
    // The guest is the newest instance there can be: the sibling serves on.
    const watch = new SiblingWatch<string>();
    watch.open({ id: "0123abcd", since: 1000000000000 }, false);
    watch.online();
    const decisions = watch.selfPing(ping!, false, answer, Date.now());
    assert.ok(decisions.some((d) => d.kind === "serve-on"), JSON.stringify(decisions));
    assert.ok(!decisions.some((d) => d.kind === "step-back"));
    assert.equal(pingSender(ping?.by)?.since, Number.MAX_SAFE_INTEGER);
  } finally {
    await guest.close(1_000);
    srv.close();
  }
});

Deno.test("guest: its own instance showing (a look of it) ends no look; another's does", async () => {
  const srv = answeringServer();
  const own = "cp-ping-5eff0001-1700000000000-";
  const guest = await guestOf(srv.url, [], 2_000, { ownInstance: "5eff0001" });
  try {
    let settled = false;
    guest.look.then(() => settled = true);
    await srv.write(siblingPing(`${own}1`));
    await until(() => guest.siblings.has("5eff0001"), "its own instance seen");
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(settled, false, "still looking");
    assert.equal(guest.beside, false);
    await srv.write(siblingPing(`${SIBLING}1`));
    assert.equal(await guest.look, true);
    assert.deepEqual([...guest.siblings.keys()].sort(), ["0123abcd", "5eff0001"]);
  } finally {
    await guest.close(1_000);
    srv.close();
  }
});

Deno.test("guest: a ping without a valid proof shows no sibling and is not answered", async () => {
  const srv = answeringServer();
  const orphans: XmlElement[] = [];
  const guest = await guestOf(srv.url, orphans);
  try {
    await srv.write(
      `<iq type='get' id='${SIBLING}1' from='${DOMAIN}' to='${DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>`,
    );
    assert.equal(await guest.look, false, "a forged ping shows no sibling");
    assert.ok(!srv.text().includes('type="result"'), "and is not answered");
  } finally {
    await guest.close(1_000);
    srv.close();
  }
});

Deno.test("guest: a ping proved with the secret it also pings with is a stranger's, not a sibling's", async () => {
  const srv = answeringServer();
  const guest = await openGuest({
    url: srv.url,
    domain: DOMAIN,
    secret: SECRET,
    timeoutMs: 2_000,
    alsoPingWith: "old-secret",
    handlers: { onStanza: () => false, onOrphan: () => {} },
  });
  try {
    // One still holding the old secret, and one holding neither: only the first is said.
    for (const [secret, n] of [["old-secret", 8], ["third-secret", 9]] as const) {
      const id = `cp-ping-0000000${n}-1000000000000-1`;
      const prover = new Prover(DOMAIN, secret);
      await srv.write(
        pingText(DOMAIN, id, prover.sign(pingFields("get", id, undefined), Date.now())),
      );
    }
    assert.equal(await guest.look, false);
    assert.deepEqual([...guest.strangers], [["00000008", 1000000000000]]);
    assert.deepEqual([...guest.siblings], []);
    // It also pinged with the old secret, so that such an instance answers.
    const pings = srv.text().match(/<iq [^>]*type="get"[^>]*>/g) ?? [];
    assert.ok(pings.length >= 2, srv.text());
  } finally {
    await guest.close(1_000);
    srv.close();
  }
});

Deno.test("guest: a refused handshake names the condition; a silent server is given up", async () => {
  const refusing = answeringServer({ refuse: "not-authorized" });
  try {
    const error = await guestOf(refusing.url).then(() => undefined, (e) => e);
    assert.ok(error instanceof GuestError, String(error));
    assert.equal(error.condition, "not-authorized");
  } finally {
    refusing.close();
  }
  const silent = answeringServer({ silent: true });
  try {
    const started = performance.now();
    const error = await openGuest({
      url: silent.url,
      domain: DOMAIN,
      secret: SECRET,
      timeoutMs: 300,
      handlers: { onStanza: () => false, onOrphan: () => {} },
    }).then(() => undefined, (e) => e);
    assert.ok(error instanceof GuestError);
    assert.equal(error.condition, undefined);
    assert.match(error.message, /no answer from the server within 300 ms \(.*component port/);
    assert.ok(performance.now() - started < 2_000);
    // Given longer, xmpp.js's own wait for the stream's header (2 s) ends it, without a message.
    const later = await guestOf(silent.url, [], 5_000).then(() => undefined, (e) => e);
    assert.ok(later instanceof GuestError);
    assert.match(later.message, /^no answer from the server \(the server took the connection/);
  } finally {
    silent.close();
  }
  // TLS asked of a plaintext listener (it answers the TLS hello as XML that is not well formed):
  // what the link's log says, not a bare code.
  const plaintext = peer(async (c) => {
    await readText(c);
    await writeAll(
      c,
      `${serverHeader()}<stream:error><not-well-formed ` +
        `xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`,
    );
    c.close();
  });
  try {
    const url = plaintext.url.replace("xmpp://", "xmpps://");
    const error = await guestOf(url).then(() => undefined, (e) => e);
    assert.ok(error instanceof GuestError);
    assert.match(error.message, /^TLS failed: no TLS on this port \(.*use xmpp:\/\//);
  } finally {
    plaintext.close();
  }
  const closed = await openGuest({
    url: "xmpp://127.0.0.1:1",
    domain: DOMAIN,
    secret: SECRET,
    timeoutMs: 1_000,
    handlers: { onStanza: () => false, onOrphan: () => {} },
  }).then(() => undefined, (e) => e);
  assert.ok(closed instanceof GuestError);
  assert.equal(closed.condition, undefined);
  assert.match(closed.message, /ECONNREFUSED/);
});

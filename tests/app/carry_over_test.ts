/**
 * What a closing stream could not answer (src/app/carry_over.ts), and how a
 * proxy keeps it, hands it on and routes it once it serves (src/app/proxy.ts).
 */
import assert from "node:assert/strict";
import { CarryOver, worthCarrying } from "../../src/app/carry_over.ts";
import { parseXml, serialize } from "../../src/core/xml.ts";
import { within } from "../support/bounded.ts";
import { captureLogs } from "../support/logs.ts";
import {
  ALICE,
  conditionOf,
  DOMAIN,
  online,
  request,
  start,
  TARGET,
} from "../support/proxy_shell.ts";

const FORWARDED = (id: string) =>
  `<iq type="get" id="${id}" from="${DOMAIN}/${ALICE}" to="${TARGET}/a"><ping xmlns="urn:xmpp:ping"/></iq>`;
const carried = (id: string, at = 0) => ({ stanza: parseXml(request(id)), at });

Deno.test("worth carrying: requests, messages and users' presence; not answers, nor the target's presence", () => {
  const worth = (text: string) => worthCarrying(parseXml(text), TARGET);
  assert.equal(worth(request("r")), true);
  assert.equal(worth(`<iq type="set" id="s" from="${ALICE}" to="${DOMAIN}"/>`), true);
  assert.equal(worth(`<message from="${ALICE}" to="${DOMAIN}"><body>hi</body></message>`), true);
  assert.equal(worth(`<presence type="subscribe" from="bob@example.org" to="${DOMAIN}"/>`), true);
  // The requests these answer were settled as the stream closed.
  assert.equal(
    worth(`<iq type="result" id="r" from="${TARGET}/a" to="${DOMAIN}/${ALICE}"/>`),
    false,
  );
  assert.equal(
    worth(`<iq type="error" id="r" from="${TARGET}/a" to="${DOMAIN}/${ALICE}"/>`),
    false,
  );
  // State the next stream asks for afresh, in whatever case the server wrote it.
  assert.equal(worth(`<presence from="${TARGET}/b" to="${DOMAIN}"/>`), false);
  assert.equal(worth(`<presence from="Service@Example.ORG/b" type="unavailable"/>`), false);
  // But its subscribe, which it would not send again, is answered on the next stream.
  assert.equal(worth(`<presence type="subscribe" from="${TARGET}" to="${DOMAIN}"/>`), true);
});

Deno.test("a trial's stanza while the proxy does not serve: only what is worth carrying is kept", () => {
  const { proxy, link } = start();
  online(link);
  link.handlers.onOffline();
  // What reached the trial's connection: the target's presence is stale by the next stream.
  proxy.take(parseXml(`<presence from="${TARGET}/gone" to="${DOMAIN}"/>`));
  proxy.take(parseXml(request("kept")));
  link.online();
  link.receive(`<presence from="${TARGET}/a" to="${DOMAIN}"/>`);
  assert.equal(proxy.readiness().resources, 1, "the stale presence brought back no resource");
  assert.deepEqual(link.take().filter((text) => text.startsWith("<iq")), [FORWARDED("kept")]);
});

Deno.test("the store keeps up to its limit, counts the rest, and hands all over once", () => {
  const store = new CarryOver(2);
  assert.equal(store.keep(carried("a")), true);
  assert.equal(store.keep(carried("b")), true);
  assert.equal(store.keep(carried("c")), false);
  assert.equal(store.dropped, 1);
  assert.deepEqual(store.takeAll().map(({ stanza }) => stanza.attrs.id), ["a", "b"]);
  assert.deepEqual(store.takeAll(), []);
});

Deno.test("the store also keeps no more characters than its limit, and takeAll frees them", () => {
  const size = serialize(parseXml(request("a"))).length;
  const store = new CarryOver(100, size * 2 + 1);
  assert.equal(store.keep(carried("a")), true);
  assert.equal(store.keep(carried("b")), true);
  // A small one still fits where a big one did not: what is dropped is what passes the limit.
  const big = {
    stanza: parseXml(`<message from="${ALICE}"><body>${"x".repeat(size)}</body></message>`),
    at: 0,
  };
  assert.equal(store.keep(big), false);
  assert.equal(store.keep(carried("c")), false);
  assert.equal(store.dropped, 2);
  assert.equal(store.takeAll().length, 2);
  assert.equal(store.keep(carried("d")), true);
  assert.equal(store.keep(carried("e")), true);
});

Deno.test("what crosses the stream's end is not answered there: shutdown hands on what is worth it", async () => {
  const { proxy, link } = start();
  online(link);
  link.onStop = () => {
    link.receive(request("crossed"));
    link.receive(`<presence from="${TARGET}/b" to="${DOMAIN}"/>`);
    link.receive(`<iq type="result" id="settled" from="${TARGET}/a" to="${DOMAIN}/${ALICE}"/>`);
    link.receive(`<presence type="subscribe" from="bob@example.org" to="${DOMAIN}"/>`);
  };
  const unanswered = await proxy.shutdown(0);
  assert.deepEqual(link.take(), [`<presence type="unavailable" to="${TARGET}" from="${DOMAIN}"/>`]);
  assert.deepEqual(unanswered.map(({ stanza }) => stanza.toString()), [
    `<iq type="get" id="crossed" from="${ALICE}" to="${DOMAIN}"><ping xmlns="urn:xmpp:ping"/></iq>`,
    `<presence type="subscribe" from="bob@example.org" to="${DOMAIN}"/>`,
  ]);
});

Deno.test("carried stanzas are routed once the proxy serves, before its own", () => {
  const { proxy, link } = start();
  proxy.carry([carried("crossed")]);
  link.online();
  assert.deepEqual(link.take(), [`<presence type="subscribe" to="${TARGET}" from="${DOMAIN}"/>`]);
  link.receive(request("own"));
  // Both wait for the first resource, the carried one first.
  link.receive(`<presence from="${TARGET}/a" to="${DOMAIN}"/>`);
  assert.deepEqual(link.take(), [FORWARDED("crossed"), FORWARDED("own")]);
  link.receive(`<iq type="result" id="crossed" from="${TARGET}/a" to="${DOMAIN}/${ALICE}"/>`);
  assert.deepEqual(link.take(), [
    `<iq type="result" id="crossed" from="${DOMAIN}" to="${ALICE}"/>`,
  ]);
});

Deno.test("a carried request that waited request_timeout is answered as timed out, not forwarded", () => {
  let now = 0;
  const { proxy, link } = start("request_timeout: 1s", { now: () => now });
  const asked = `<iq type="set" id="stale" from="${ALICE}" to="${DOMAIN.toUpperCase()}/x"/>`;
  proxy.carry([{ stanza: parseXml(asked), at: 0 }, carried("fresh", 500)]);
  now = 1_000;
  link.online();
  const [timeout, ...rest] = link.take().filter((text) => !text.startsWith("<presence"));
  const error = parseXml(timeout);
  assert.deepEqual(
    [error.attrs.type, error.attrs.id, error.attrs.to, error.attrs.from],
    ["error", "stale", ALICE, `${DOMAIN}/x`],
  );
  assert.equal(conditionOf(timeout), "remote-server-timeout");
  assert.deepEqual(rest, []);
  link.receive(`<presence from="${TARGET}/a" to="${DOMAIN}"/>`);
  assert.deepEqual(link.take(), [FORWARDED("fresh")]);
});

Deno.test("a look from standby, or a stream gone, keeps carried stanzas until the proxy serves", () => {
  const { proxy, link } = start();
  link.online(true);
  proxy.carry([carried("during-look")]);
  link.receive(`<presence from="${TARGET}/a" to="${DOMAIN}"/>`);
  assert.deepEqual(link.take().filter((text) => text.startsWith("<iq")), []);
  link.handlers.onTakeOver?.();
  assert.deepEqual(link.take().filter((text) => text.startsWith("<iq")), [
    FORWARDED("during-look"),
  ]);
  link.handlers.onOffline();
  proxy.carry([carried("while-offline")]);
  assert.deepEqual(link.take(), []);
  link.online();
  link.receive(`<presence from="${TARGET}/a" to="${DOMAIN}"/>`);
  assert.deepEqual(link.take().filter((text) => text.startsWith("<iq")), [
    FORWARDED("while-offline"),
  ]);
  link.handlers.onHandOver?.();
  link.take();
  proxy.carry([carried("after-hand-over")]);
  assert.deepEqual(link.take(), []);
});

Deno.test("a proxy that stops before it served hands on what it was given to carry", async () => {
  const { proxy, link } = start();
  proxy.carry([carried("crossed")]);
  link.online(true);
  link.handlers.onHandOver?.();
  const unanswered = await proxy.shutdown(0);
  assert.deepEqual(unanswered.map(({ stanza }) => stanza.attrs.id), ["crossed"]);
  assert.deepEqual(link.take().filter((text) => text.includes('id="crossed"')), []);
});

Deno.test("carried during a shutdown's grace: kept for the next stream, not refused by the draining one", async () => {
  const { proxy, link } = start();
  online(link);
  link.receive(request("in-flight"));
  link.take();
  const stopping = proxy.shutdown(60_000);
  proxy.carry([carried("late")]);
  assert.deepEqual(link.take(), []);
  link.receive(`<iq type="result" id="in-flight" from="${TARGET}/a" to="${DOMAIN}/${ALICE}"/>`);
  const unanswered = await within(stopping, 5_000, "the shutdown");
  assert.deepEqual(unanswered.map(({ stanza }) => stanza.attrs.id), ["late"]);
});

Deno.test("a second shutdown shares the first: one goodbye, one hand-on", async () => {
  const { proxy, link } = start();
  online(link);
  link.onStop = () => link.receive(request("crossed"));
  const [first, second] = await Promise.all([proxy.shutdown(0), proxy.shutdown(0)]);
  assert.equal(first, second);
  assert.deepEqual(first.map(({ stanza }) => stanza.attrs.id), ["crossed"]);
  assert.deepEqual(link.take(), [`<presence type="unavailable" to="${TARGET}" from="${DOMAIN}"/>`]);
});

Deno.test("what comes to carry is kept up to a limit: the first one left out is said, and the count at the stop", async () => {
  const { proxy, link } = start();
  online(link);
  link.onStop = () => {
    for (let i = 0; i < 1_005; i++) link.receive(request(`flood-${i}`));
  };
  const logs = captureLogs();
  let unanswered;
  try {
    unanswered = await proxy.shutdown(0);
  } finally {
    logs.restore();
  }
  assert.equal(unanswered.length, 1_000);
  assert.equal(unanswered[999].stanza.attrs.id, "flood-999");
  const said = logs.lines.join("");
  assert.match(
    said,
    /WARNING +proxy\.example\.org proxy\.carry_limit domain=proxy\.example\.org dropped=1 limit=1000 limit_chars=33554432 when=first/,
  );
  assert.match(
    said,
    /proxy\.carry_limit domain=proxy\.example\.org dropped=5 limit=1000 limit_chars=33554432 when=at_stop/,
  );
});

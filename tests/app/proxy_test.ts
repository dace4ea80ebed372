/**
 * The shell around the router (src/app/proxy.ts), with a fake stream: what it
 * writes, its timer, its readiness, and shutdown.
 */
import assert from "node:assert/strict";
import { Metrics } from "../../src/ops/metrics.ts";
import { Proxy } from "../../src/app/proxy.ts";
import { parseXml } from "../../src/core/xml.ts";
import { within } from "../support/bounded.ts";
import { captureLogs } from "../support/logs.ts";
import {
  ALICE,
  conditionOf,
  config,
  DOMAIN,
  FakeLink,
  online,
  request,
  start,
  TARGET,
} from "../support/proxy_shell.ts";

Deno.test("opens its stream with the proxy's server, domain, secret and keepalive", () => {
  const { link } = start("keepalive: 45s\nkeepalive_timeout: 5s\nstandby_retry: 3s");
  assert.equal(link.options.url, "xmpp://127.0.0.1:5347");
  assert.equal(link.options.domain, DOMAIN);
  assert.equal(link.options.secret, "s3cret");
  assert.equal(link.options.keepaliveMs, 45_000);
  assert.equal(link.options.keepaliveTimeoutMs, 5_000);
  assert.equal(link.options.standbyRetryMs, 3_000);
  // No standby_peer: the stream is not told to ask one.
  assert.equal(link.options.siblingServes, undefined);
});

Deno.test("long-address tokens come from a secure source, not from `random`", async () => {
  // Both runs' `random` stuck at 0, as two restarts with the same seed would be.
  const tokenOf = async () => {
    const { proxy, link } = start();
    online(link);
    link.receive(
      `<iq type="get" id="L" from="alice@example.org/${
        "r".repeat(1010)
      }" to="${DOMAIN}"><ping xmlns="urn:xmpp:ping"/></iq>`,
    );
    const from = link.sent[0].attrs.from as string;
    await proxy.shutdown(0);
    return from;
  };
  const [first, second] = [await tokenOf(), await tokenOf()];
  assert.match(first, new RegExp(`^${DOMAIN.replaceAll(".", "\\.")}//[0-9a-z]{15}$`));
  assert.notEqual(first, second);
});

Deno.test("a TLS server: the stream gets its url and the name its certificate must carry", () => {
  const { link } = start(
    "server: xmpps://xmpp.example.org:5223\ntls_server_name: cert.example.org",
  );
  assert.equal(link.options.url, "xmpps://xmpp.example.org:5223");
  assert.deepEqual(link.options.tls, { serverName: "cert.example.org" });
  // A plaintext one gets none.
  assert.equal(start().link.options.tls, undefined);
});

Deno.test("reconfigure hands the new timings to the running stream", () => {
  const { proxy, link } = start("keepalive: 30s");
  online(link);
  proxy.reconfigure(config("keepalive: 5s\nkeepalive_timeout: 2s\nstandby_retry: 700ms"));
  assert.deepEqual(link.retuned, [{
    keepaliveMs: 5_000,
    keepaliveTimeoutMs: 2_000,
    standbyRetryMs: 700,
    // The size limit is the stream's too: it changes in place.
    maxStanzaSize: 1_048_576,
    maxSendBuffer: 8_388_608,
  }]);
  assert.equal(link.stopped, false, "the stream stays");
});

Deno.test("online: subscribes to the target; a request goes out and its reply comes back", () => {
  const { link } = start();
  link.online();
  assert.deepEqual(link.take(), [`<presence type="subscribe" to="${TARGET}" from="${DOMAIN}"/>`]);
  link.receive(`<presence from="${TARGET}/a" to="${DOMAIN}"/>`);
  link.take();

  link.receive(request("r1"));
  assert.deepEqual(link.take(), [
    `<iq type="get" id="r1" from="${DOMAIN}/${ALICE}" to="${TARGET}/a"><ping xmlns="urn:xmpp:ping"/></iq>`,
  ]);
  link.receive(`<iq type="result" id="r1" from="${TARGET}/a" to="${DOMAIN}/${ALICE}"/>`);
  assert.deepEqual(link.take(), [`<iq type="result" id="r1" from="${DOMAIN}" to="${ALICE}"/>`]);
});

Deno.test("readiness follows the stream's state and the resources known", () => {
  const { proxy, link } = start();
  assert.deepEqual(proxy.readiness(), {
    proxy: DOMAIN,
    online: false,
    resources: 0,
    standingBy: false,
    refused: false,
    shuttingDown: false,
    targetResources: [],
  });
  online(link);
  assert.equal(proxy.readiness().online, true);
  assert.equal(proxy.readiness().resources, 1);
  assert.deepEqual(proxy.readiness().targetResources, [
    { name: "a", draining: false, pending: 0, keys: 0 },
  ]);
  link.state = "standby";
  assert.equal(proxy.readiness().standingBy, true);
  assert.equal(proxy.readiness().online, false);
});

Deno.test("readiness says shutting down from the start of a shutdown's grace", async () => {
  const { proxy, link } = start();
  online(link);
  link.receive(request("held"));
  assert.equal(proxy.readiness().shuttingDown, false);
  const stopping = proxy.shutdown(10_000);
  assert.equal(proxy.readiness().shuttingDown, true);
  link.receive(`<iq type="result" id="held" from="${TARGET}/a" to="${DOMAIN}/${ALICE}"/>`);
  await stopping;
});

Deno.test("the timer answers a request that outlives request_timeout", async () => {
  // The real clock: a short timeout, awaited with a bound.
  const link = new FakeLink();
  const proxy = new Proxy(config("request_timeout: 20ms"), { openLink: link.open });
  online(link);
  link.receive(request("slow"));
  link.take();
  const bound = Date.now() + 5_000;
  while (link.sent.length === 0 && Date.now() < bound) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const [answer] = link.take();
  assert.ok(answer, "no answer within 5 s");
  assert.equal(parseXml(answer).attrs.id, "slow");
  assert.equal(parseXml(answer).attrs.to, ALICE);
  assert.equal(conditionOf(answer), "remote-server-timeout");
  await proxy.shutdown(0);
});

Deno.test("shutdown answers what is pending, says goodbye to the target and stops the stream", async () => {
  const metrics = new Metrics();
  const { proxy, link } = start("", { metrics });
  online(link);
  link.receive(request("late"));
  link.take();
  await proxy.shutdown(0);
  const sent = link.take();
  assert.equal(sent.length, 2, sent.join("\n"));
  assert.equal(parseXml(sent[0]).attrs.to, ALICE);
  assert.equal(parseXml(sent[0]).attrs.id, "late");
  assert.equal(conditionOf(sent[0]), "service-unavailable");
  assert.equal(sent[1], `<presence type="unavailable" to="${TARGET}" from="${DOMAIN}"/>`);
  assert.equal(link.stopped, true);
  const text = await metrics.text();
  assert.match(text, new RegExp(`client_proxy_up\\{proxy="${DOMAIN}"\\} 0`));
  assert.match(text, /client_proxy_requests_total\{[^}]*outcome="shutdown"[^}]*\} 1/);
});

Deno.test("shutdown waits for a reply within the grace period", async () => {
  const { proxy, link } = start();
  online(link);
  link.receive(request("inflight"));
  link.take();
  const done = proxy.shutdown(10_000);
  // New requests are refused while draining; the one in flight is not.
  link.receive(request("new"));
  assert.equal(conditionOf(link.take()[0]), "service-unavailable");
  link.receive(`<iq type="result" id="inflight" from="${TARGET}/a" to="${DOMAIN}/${ALICE}"/>`);
  await done;
  const sent = link.take();
  assert.equal(sent[0], `<iq type="result" id="inflight" from="${DOMAIN}" to="${ALICE}"/>`);
  assert.equal(sent.length, 2, sent.join("\n"));
});

Deno.test("hurry ends the grace at once: what is in flight is answered, the stream closed", async () => {
  const { proxy, link } = start();
  online(link);
  link.receive(request("held"));
  link.take();
  let done = false;
  const stopping = proxy.shutdown(60_000).then(() => done = true);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(done, false, "waiting out its grace");
  proxy.hurry();
  await within(stopping, 5_000, "the shutdown after hurry");
  const [answer] = link.take();
  assert.equal(parseXml(answer).attrs.id, "held");
  assert.equal(parseXml(answer).attrs.to, ALICE);
  assert.equal(conditionOf(answer), "service-unavailable");
  assert.equal(link.stopped, true);
});

Deno.test("a grace that runs out with requests in flight is said, and they are answered", async () => {
  const { proxy, link } = start();
  online(link);
  link.receive(request("slow"));
  link.take();
  const logs = captureLogs();
  try {
    await within(proxy.shutdown(10), 5_000, "the shutdown");
  } finally {
    logs.restore();
  }
  assert.match(
    logs.lines.join(""),
    /WARNING +proxy\.example\.org proxy\.grace_ended domain=proxy\.example\.org pending=1 hint="these get service-unavailable \(wait\) now/,
  );
  const [answer] = link.take();
  assert.equal(parseXml(answer).attrs.id, "slow");
  assert.equal(conditionOf(answer), "service-unavailable");
});

Deno.test("hurry before the shutdown: it takes no grace at all", async () => {
  const { proxy, link } = start();
  online(link);
  link.receive(request("held"));
  link.take();
  proxy.hurry();
  await within(proxy.shutdown(60_000), 5_000, "a shutdown with no grace");
  assert.equal(conditionOf(link.take()[0]), "service-unavailable");
});

Deno.test("an exception while reporting an event is logged, and the step's stanzas still go out", () => {
  const logs = captureLogs();
  try {
    const metrics = new Metrics();
    const observe = metrics.observe.bind(metrics);
    metrics.observe = (proxy, event) => {
      if (event.type === "forwarded") throw new Error("boom");
      observe(proxy, event);
    };
    const { link } = start("", { metrics });
    online(link);
    link.receive(request("first"));
    const failed = logs.lines.filter((line) => line.includes("event.failed"));
    assert.equal(failed.length, 1, logs.lines.join(""));
    assert.match(failed[0], / ERROR .*event=forwarded reason=boom/);
    assert.equal(parseXml(link.take()[0]).attrs.id, "first", "forwarded all the same");
  } finally {
    logs.restore();
  }
});

Deno.test("a stanza that cannot be written is logged; the others of the same step go out", () => {
  const logs = captureLogs();
  try {
    const { link } = start("balance: round-robin");
    online(link);
    link.receive(request("g1")); // to a, the only one
    link.receive(request("g2")); // to a
    link.receive(`<presence from="${TARGET}/b" to="${DOMAIN}"/>`);
    link.take();
    const send = link.send.bind(link);
    link.send = (stanza) => {
      if (stanza.attrs.id === "g1") throw new RangeError("Maximum call stack size exceeded");
      send(stanza);
    };
    // a leaves: both gets are re-sent to b in one step; g1's write fails.
    link.receive(`<presence type="unavailable" from="${TARGET}/a" to="${DOMAIN}"/>`);
    assert.deepEqual(link.take().map((text) => parseXml(text).attrs.id), ["g2"]);
    const failed = logs.lines.filter((line) => line.includes("stanza.failed"));
    assert.equal(failed.length, 1, logs.lines.join(""));
    assert.match(failed[0], /stanza=iq type=get reason="Maximum call stack size exceeded"/);
  } finally {
    logs.restore();
  }
});

Deno.test("shutdown waits for the target's own requests too, within the grace period", async () => {
  const { proxy, link } = start("allow_target_requests: true");
  online(link);
  link.receive(`<iq type="get" id="t1" from="${TARGET}/a" to="${DOMAIN}/bob@example.org/pc"/>`);
  const [sent] = link.take();
  const ourId = parseXml(sent).attrs.id;
  let done = false;
  const stopping = proxy.shutdown(10_000).then(() => done = true);
  // A later turn of the event loop: the shutdown has not settled on its own.
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(done, false, "still waiting for bob's answer");
  link.receive(`<iq type="result" id="${ourId}" from="bob@example.org/pc" to="${DOMAIN}"/>`);
  await stopping;
  const [answer] = link.take();
  assert.equal(
    answer,
    `<iq type="result" id="t1" from="${DOMAIN}/bob@example.org/pc" to="${TARGET}/a"/>`,
  );
});

Deno.test("max_stanza_size reaches the link, and a reload changes it in place", async () => {
  const { proxy, link } = start("max_stanza_size: 64KB");
  assert.equal(link.options.maxStanzaSize, 64 * 1024);
  proxy.reconfigure(config("max_stanza_size: 2MB"));
  assert.equal(link.retuned.at(-1)?.maxStanzaSize, 2 * 1024 * 1024);
  await proxy.shutdown(0);
});

Deno.test("no grace, or one a second signal ended, is not said to have run out", async () => {
  for (const hurried of [false, true]) {
    const { proxy, link } = start();
    online(link);
    link.receive(request("held"));
    const logs = captureLogs();
    try {
      const stopping = proxy.shutdown(hurried ? 60_000 : 0);
      if (hurried) proxy.hurry();
      await within(stopping, 5_000, "the shutdown");
    } finally {
      logs.restore();
    }
    assert.doesNotMatch(logs.lines.join(""), /grace_ended/);
  }
});

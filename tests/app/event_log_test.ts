/** What the shell logs of the router's events: broken rules' warnings, rate-limited, and debug lines. */
import assert from "node:assert/strict";
import { Metrics } from "../../src/ops/metrics.ts";
import type { SubscriberStore } from "../../src/ops/subscribers.ts";
import { oversizedElement, parseXml } from "../../src/core/xml.ts";
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

Deno.test("what the link drops (forged relays and pings) is counted with the router's drops", async () => {
  const metrics = new Metrics();
  const { proxy, link } = start("", { metrics });
  online(link);
  link.handlers.onDropped?.("forged_ping");
  link.handlers.onDropped?.("forged_ping");
  link.handlers.onDropped?.("forged_relay");
  const text = await metrics.text();
  assert.match(
    text,
    new RegExp(`client_proxy_dropped_total\\{proxy="${DOMAIN}",reason="forged_ping"\\} 2`),
  );
  assert.match(
    text,
    new RegExp(`client_proxy_dropped_total\\{proxy="${DOMAIN}",reason="forged_relay"\\} 1`),
  );
  await proxy.shutdown(0);
});

Deno.test("a stanza over max_stanza_size: refused or dropped, said as a warning with the sender's domain, counted", async () => {
  const logs = captureLogs();
  const metrics = new Metrics();
  const { proxy, link } = start("max_stanza_size: 64KB", { metrics });
  try {
    online(link);
    const attrs = { type: "get", id: "big", from: ALICE, to: DOMAIN };
    link.handlers.onStanza(oversizedElement("iq", attrs, null));
    const [answer] = link.take();
    assert.equal(conditionOf(answer), "policy-violation");
    assert.equal(parseXml(answer).attrs.to, ALICE);
    link.handlers.onStanza(oversizedElement("message", { ...attrs, type: "chat" }, null));
    const bob = { ...attrs, type: "chat", from: "bob@example.net/pc" };
    link.handlers.onStanza(oversizedElement("message", bob, null));
    assert.deepEqual(link.take(), []);
    // One warning a minute per sender's domain: Alice's message is left out.
    const said = logs.lines.filter((line) => line.includes("stanza.too_big"));
    assert.equal(said.length, 2, said.join(""));
    assert.match(said[0], /WARN.*stanza=iq peer=example\.org action=refused limit=65536/);
    assert.match(said[1], /stanza=message peer=example\.net action=dropped/);
    assert.ok(!/alice|bob/.test(said.join("")), "no JID at warning level");
    const text = await metrics.text();
    assert.match(text, /client_proxy_dropped_total\{[^}]*reason="too_big"\} 2/);
    assert.match(text, /client_proxy_refused_total\{[^}]*condition="policy-violation"\} 1/);
  } finally {
    await proxy.shutdown(0);
    logs.restore();
  }
});

const fromEvil = (user: string, id: string, domain = "evil.example") =>
  `<iq type="get" id="${id}" from="${user}@${domain}/x" to="${DOMAIN}"><ping xmlns="urn:xmpp:ping"/></iq>`;

Deno.test("a denied requester: one warning naming its domain and the rule; a flood of 1,000 makes one, the count comes later", async () => {
  const logs = captureLogs();
  const metrics = new Metrics();
  let clock = 0;
  const { proxy, link } = start('deny: ["@evil.example", "@worse.example"]', {
    metrics,
    now: () => clock,
  });
  const warnings = () => logs.lines.filter((line) => / WARNING /.test(line));
  try {
    online(link);
    for (let i = 0; i < 1000; i++) {
      clock = i;
      link.receive(fromEvil(`user${i}`, `${i}`));
    }
    const answers = link.take();
    assert.equal(answers.length, 1000);
    assert.ok(answers.every((answer) => conditionOf(answer) === "forbidden"));
    assert.equal(warnings().length, 1, warnings().join(""));
    assert.match(
      warnings()[0],
      / WARNING proxy\.example\.org stanza\.refused domain=proxy\.example\.org reason=forbidden stanza=iq peer=evil\.example condition=forbidden\n$/,
    );
    // Another domain has a warning of its own; a requester let in is served as ever.
    link.receive(fromEvil("eve", "w1", "worse.example"));
    assert.equal(warnings().length, 2);
    assert.match(warnings()[1], /reason=forbidden stanza=iq peer=worse\.example/);
    link.receive(request("fine"));
    assert.equal(parseXml(link.take().at(-1)!).attrs.to, `${TARGET}/a`);
    // A minute after the first: said again, with how many were left out.
    clock = 60_000;
    link.receive(fromEvil("user1000", "1000"));
    assert.equal(warnings().length, 3);
    assert.match(
      warnings()[2],
      /reason=forbidden stanza=iq peer=evil\.example .*suppressed=999\n$/,
    );
    assert.ok(!warnings().join("").includes("user"), "no JID at warning level");
    // Counted one by one, as ever.
    const text = await metrics.text();
    assert.match(text, /client_proxy_refused_total\{[^}]*condition="forbidden"\} 1002/);
    assert.match(text, /client_proxy_requests_total\{[^}]*outcome="forbidden"\} 1002/);
  } finally {
    await proxy.shutdown(0);
    logs.restore();
  }
});

Deno.test("a denied user's subscribe or probe: unsubscribed, a rate-limited warning naming its domain, counted", async () => {
  const logs = captureLogs();
  const metrics = new Metrics();
  let clock = 0;
  const store: SubscriberStore = {
    list: () => [],
    add: () => {},
    remove: () => {},
    close: () => {},
  };
  const { proxy, link } = start('presence: true\ndeny: ["@evil.example"]', {
    metrics,
    store,
    now: () => clock,
  });
  const warnings = () => logs.lines.filter((line) => / WARNING /.test(line));
  try {
    online(link);
    for (let i = 0; i < 100; i++) {
      clock = i;
      const type = i % 2 === 0 ? "subscribe" : "probe";
      link.receive(`<presence type="${type}" from="user${i}@evil.example/x" to="${DOMAIN}"/>`);
    }
    const answers = link.take();
    assert.equal(answers.length, 100);
    assert.ok(answers.every((answer) => parseXml(answer).attrs.type === "unsubscribed"));
    assert.equal(warnings().length, 1, warnings().join(""));
    assert.match(
      warnings()[0],
      / WARNING proxy\.example\.org stanza\.refused domain=proxy\.example\.org reason=forbidden stanza=presence peer=evil\.example condition=forbidden\n$/,
    );
    clock = 60_000;
    link.receive(`<presence type="subscribe" from="last@evil.example/x" to="${DOMAIN}"/>`);
    assert.match(
      warnings()[1],
      /reason=forbidden stanza=presence peer=evil\.example .*suppressed=99\n$/,
    );
    const text = await metrics.text();
    assert.match(
      text,
      /client_proxy_refused_total\{proxy="proxy\.example\.org",stanza="presence",condition="forbidden"\} 101/,
    );
    // Not a request: the requests' outcomes stay as they were.
    assert.match(text, /client_proxy_requests_total\{[^}]*outcome="forbidden"\} 0/);
  } finally {
    await proxy.shutdown(0);
    logs.restore();
  }
});

Deno.test("a reply from the target that answers nothing pending: a warning, rate-limited", async () => {
  const logs = captureLogs();
  const { proxy, link } = start();
  try {
    online(link);
    for (const id of ["late1", "late2"]) {
      link.receive(
        `<iq type="result" id="${id}" from="${TARGET}/a" to="${DOMAIN}/${ALICE}"/>`,
      );
    }
    assert.deepEqual(link.take(), []);
    const said = logs.lines.filter((line) => / WARNING /.test(line));
    assert.equal(said.length, 1, said.join(""));
    assert.match(said[0], /stanza\.dropped .*reason=unmatched stanza=iq peer=example\.org\n$/);
  } finally {
    await proxy.shutdown(0);
    logs.restore();
  }
});

Deno.test("a sender's domain from the wire is escaped in the warning: it cannot forge a line", async () => {
  const logs = captureLogs();
  const { proxy, link } = start();
  try {
    online(link);
    link.receive(`<foo from="m@evil&#10;2026-01-01 ERROR x.example/r" to="${DOMAIN}"/>`);
    const said = logs.lines.filter((line) => / WARNING /.test(line));
    assert.equal(said.length, 1, said.join(""));
    assert.equal(said[0].split("\n").length, 2, "one line");
    assert.match(
      said[0],
      / reason=unknown_stanza stanza=foo peer="evil\\n2026-01-01 error x\.example"\n$/,
    );
  } finally {
    await proxy.shutdown(0);
    logs.restore();
  }
});

Deno.test("ordinary refusals and drops stay at debug, one line per stanza", async () => {
  const logs = captureLogs("debug");
  const { proxy, link } = start("max_pending: 1");
  try {
    online(link);
    link.receive(request("1"));
    link.receive(request("2"));
    assert.equal(conditionOf(link.take()[1]), "resource-constraint");
    // A requester's server bouncing an error: nobody broke a rule.
    link.receive(`<iq type="error" id="x" from="${ALICE}" to="${DOMAIN}/someone@example.net"/>`);
    assert.deepEqual(logs.lines.filter((line) => / WARNING /.test(line)), []);
    const debug = logs.lines.filter((line) => / DEBUG /.test(line));
    assert.equal(debug.filter((line) => / stanza\.refused .*reason=busy /.test(line)).length, 1);
    assert.equal(
      debug.filter((line) => / stanza\.dropped .*reason=error_stanza /.test(line)).length,
      1,
    );
  } finally {
    await proxy.shutdown(0);
    logs.restore();
  }
});

Deno.test("requests that find no resource while the target has not approved: a hint, once a minute", async () => {
  const logs = captureLogs();
  let now = 0;
  const { proxy, link } = start("", { now: () => now });
  try {
    link.online();
    link.take();
    const unapproved = () => logs.lines.filter((l) => l.includes("target.subscription_unapproved"));
    // Past the first second online, a request that finds no resource is refused at once.
    now = 2_000;
    link.receive(request("r1"));
    assert.equal(conditionOf(link.take()[0]), "service-unavailable");
    assert.equal(unapproved().length, 1, logs.lines.join(""));
    assert.match(unapproved()[0], /WARNING .*state=requested .*hint="a request found no resource/);
    now = 30_000;
    link.receive(request("r2"));
    assert.equal(unapproved().length, 1, "once a minute");
    now = 63_000;
    link.receive(request("r3"));
    assert.equal(unapproved().length, 2);
    // Approved, with no resource online: nothing to hint at.
    link.receive(`<presence type="subscribed" from="${TARGET}" to="${DOMAIN}"/>`);
    now = 200_000;
    link.receive(request("r4"));
    assert.equal(unapproved().length, 2);
  } finally {
    logs.restore();
    await proxy.shutdown(0);
  }
});

Deno.test("the subscription approved again (a subscribed meant for a live check): said once at info", () => {
  const logs = captureLogs();
  const { link } = start();
  try {
    link.online();
    const subscribed = `<presence type="subscribed" from="${TARGET}" to="${DOMAIN}"/>`;
    link.receive(subscribed);
    link.receive(subscribed);
    link.receive(subscribed);
    const approved = logs.lines.filter((l) => /INFO .*target\.subscription_approved/.test(l));
    assert.equal(approved.length, 1, logs.lines.join(""));
    // A reconnect asks again: the next approval is news.
    link.online();
    link.receive(subscribed);
    assert.equal(
      logs.lines.filter((l) => /INFO .*target\.subscription_approved/.test(l)).length,
      2,
    );
  } finally {
    logs.restore();
  }
});

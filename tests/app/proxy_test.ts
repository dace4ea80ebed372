/**
 * The shell around the router (src/app/proxy.ts), with a fake stream: what it
 * writes, when it stores subscribers, its timer, its metrics and shutdown.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/parse.ts";
import type { ProxyConfig } from "../../src/config/types.ts";
import type {
  Link,
  LinkHandlers,
  LinkOptions,
  LinkState,
  LinkTimings,
} from "../../src/link/connection.ts";
import { Metrics } from "../../src/ops/metrics.ts";
import { Proxy } from "../../src/app/proxy.ts";
import type { SubscriberStore } from "../../src/ops/subscribers.ts";
import type { PinChange, PinStore } from "../../src/ops/pins.ts";
import { oversizedElement, parseXml, serialize, type XmlElement } from "../../src/core/xml.ts";
import { within } from "../support/bounded.ts";
import { captureLogs } from "../support/logs.ts";

const DOMAIN = "proxy.example.org";
const TARGET = "service@example.org";
const ALICE = "alice@example.org/phone";
const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

function config(extra = ""): ProxyConfig {
  const result = parseConfig(
    `server: xmpp://127.0.0.1:5347
state_dir: state
proxies:
  - domain: ${DOMAIN}
    secret: s3cret
    target_address: ${TARGET}
${extra.replace(/^/gm, "    ")}`,
    { file: "test.yaml" },
  );
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config.proxies[0];
}

/** A stream that records what is written and lets the test play the server. */
class FakeLink implements Link {
  state: LinkState = "connecting";
  readonly sent: XmlElement[] = [];
  stopped = false;
  readonly retuned: LinkTimings[] = [];
  handlers!: LinkHandlers;
  options!: LinkOptions;

  open = (options: LinkOptions): Link => {
    this.options = options;
    this.handlers = options.handlers;
    return this;
  };

  send(stanza: XmlElement): void {
    this.sent.push(stanza);
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.state = "stopped";
    return Promise.resolve();
  }

  retune(timings: LinkTimings): void {
    this.retuned.push(timings);
  }

  /** Online; `look`: as a look from standby. */
  online(look = false): void {
    this.state = "online";
    this.handlers.onOnline(look);
  }

  receive(text: string): void {
    this.handlers.onStanza(parseXml(text));
  }

  /** Stanzas sent since the last call, serialised. */
  take(): string[] {
    return this.sent.splice(0).map((el) => serialize(el));
  }
}

function start(
  extra = "",
  deps: {
    store?: SubscriberStore;
    metrics?: Metrics;
    link?: FakeLink;
    pins?: PinStore;
    now?: () => number;
  } = {},
): { proxy: Proxy; link: FakeLink } {
  const link = deps.link ?? new FakeLink();
  const proxy = new Proxy(config(extra), {
    openLink: link.open,
    random: () => 0,
    subscribers: deps.store,
    pins: deps.pins,
    metrics: deps.metrics,
    now: deps.now ?? (() => 0),
  });
  return { proxy, link };
}

/** Online, with resource `a` of the target available. */
function online(link: FakeLink): void {
  link.online();
  link.receive(`<presence from="${TARGET}/a" to="${DOMAIN}"/>`);
  link.take();
}

const request = (id: string) =>
  `<iq type="get" id="${id}" from="${ALICE}" to="${DOMAIN}"><ping xmlns="urn:xmpp:ping"/></iq>`;

function conditionOf(text: string): string | undefined {
  const error = parseXml(text).getChild("error");
  const condition = error?.children.find((c) => typeof c !== "string" && c.attrs.xmlns === STANZAS);
  return typeof condition === "object" ? condition.name : undefined;
}

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
  });
  online(link);
  assert.equal(proxy.readiness().online, true);
  assert.equal(proxy.readiness().resources, 1);
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

Deno.test("a subscriber is stored before its subscribed is sent, and forgotten on unsubscribe", () => {
  const calls: string[] = [];
  const link = new FakeLink();
  const store: SubscriberStore = {
    list: () => [],
    add: (domain, jid) => calls.push(`add ${domain} ${jid} after ${link.sent.length} sent`),
    remove: (domain, jid) => calls.push(`remove ${domain} ${jid}`),
    close: () => {},
  };
  start("presence: true", { store, link });
  online(link);
  link.receive(`<presence type="subscribe" from="bob@example.org/pc" to="${DOMAIN}"/>`);
  assert.deepEqual(calls, [`add ${DOMAIN} bob@example.org after 0 sent`]);
  assert.ok(
    link.take().includes(`<presence type="subscribed" to="bob@example.org" from="${DOMAIN}"/>`),
  );
  link.receive(`<presence type="unsubscribe" from="bob@example.org/pc" to="${DOMAIN}"/>`);
  assert.deepEqual(calls.slice(1), [`remove ${DOMAIN} bob@example.org`]);
});

Deno.test("a store that fails is logged, and neither the stream nor other requests suffer", () => {
  const logs = captureLogs();
  try {
    const store: SubscriberStore = {
      list: () => [],
      add: () => {
        throw new Error("database or disk is full");
      },
      remove: () => {},
      close: () => {},
    };
    const { link } = start("presence: true", { store });
    online(link);
    link.receive(`<presence type="subscribe" from="bob@example.org/pc" to="${DOMAIN}"/>`);
    assert.ok(
      link.take().includes(`<presence type="subscribed" to="bob@example.org" from="${DOMAIN}"/>`),
    );
    const failed = logs.lines.filter((line) => line.includes("service.store_failed"));
    assert.equal(failed.length, 1, logs.lines.join(""));
    assert.match(failed[0], / ERROR /);
    assert.match(failed[0], /change=add/);
    assert.match(failed[0], /reason="database or disk is full"/);
    // The JID stays out of logs above debug.
    assert.doesNotMatch(failed[0], /bob@example\.org/);

    link.receive(request("after"));
    assert.equal(link.take().length, 1);
  } finally {
    logs.restore();
  }
});

/** An in-memory subscriber store, shared by the proxies given it. */
class MemorySubscribers implements SubscriberStore {
  readonly jids = new Set<string>();
  list = (): string[] => [...this.jids];
  add = (_domain: string, jid: string): void => void this.jids.add(jid);
  remove = (_domain: string, jid: string): void => void this.jids.delete(jid);
  close(): void {}
}

const subscribe = (user: string, type = "subscribe") =>
  `<presence type="${type}" from="${user}/pc" to="${DOMAIN}"/>`;

/** The users the service's presence went to, and whether it said available. */
function told(link: FakeLink): string[] {
  return link.take().map((text) => parseXml(text)).filter((el) =>
    el.name === "presence" && el.attrs.from === DOMAIN && el.attrs.to !== TARGET
  ).map((el) => `${el.attrs.to} ${el.attrs.type ?? "available"}`);
}

Deno.test("a standby sharing the subscriber store tells those who subscribed through the active one", () => {
  const store = new MemorySubscribers();
  const active = start("presence: true", { store }).link;
  const standby = start("presence: true", { store, link: new FakeLink() }).link;
  online(active);
  standby.online();
  standby.handlers.onHandOver!(); // the newer instance steps back (ejabberd)
  active.receive(subscribe("bob@example.org"));
  active.receive(subscribe("carol@example.org"));
  assert.deepEqual([...store.jids], ["bob@example.org", "carol@example.org"]);
  standby.online(true); // a look from standby: it reads the store now
  active.receive(subscribe("dave@example.org")); // still serving while the look is held
  active.receive(subscribe("carol@example.org", "unsubscribe"));
  // The active instance is gone; the look finds nobody and serves.
  standby.handlers.onTakeOver!();
  standby.take();
  standby.receive(`<presence from="${TARGET}/a" to="${DOMAIN}"/>`);
  assert.deepEqual(told(standby), ["bob@example.org available", "dave@example.org available"]);
});

Deno.test("a subscriber store that cannot be read as the proxy comes to serve: logged, the subscribers held stay", () => {
  const logs = captureLogs();
  try {
    const store = new MemorySubscribers();
    const { link } = start("presence: true", { store });
    online(link);
    link.receive(subscribe("bob@example.org"));
    link.take();
    link.handlers.onHandOver!();
    store.list = () => {
      throw new Error("database is locked");
    };
    link.online(); // serving again after the hand-over: the store is read, and fails
    link.receive(`<presence from="${TARGET}/a" to="${DOMAIN}"/>`);
    assert.deepEqual(told(link), ["bob@example.org available"]);
    const failed = logs.lines.filter((line) => line.includes("service.store_failed"));
    assert.equal(failed.length, 1, logs.lines.join(""));
    assert.match(failed[0], / ERROR .*change=read reason="database is locked"/);
  } finally {
    logs.restore();
  }
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

Deno.test("presence turned on by a reload stores its subscribers", () => {
  const added: string[] = [];
  const store: SubscriberStore = {
    list: () => [],
    add: (_domain, jid) => added.push(jid),
    remove: () => {},
    close: () => {},
  };
  const { proxy, link } = start("", { store });
  online(link);
  proxy.reconfigure(config("presence: true"));
  link.receive(`<presence type="subscribe" from="bob@example.org/pc" to="${DOMAIN}"/>`);
  assert.deepEqual(added, ["bob@example.org"]);
});

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

// --- a broken rule's warning -------------------------------------------------

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

// --- affinity --------------------------------------------------------------

const AFFINITY = 'affinity: ["{http://jitsi.org/protocol/focus}conference@room"]';

const conference = (id: string, room: string, type = "set") =>
  `<iq type="${type}" id="${id}" from="${ALICE}" to="${DOMAIN}">` +
  `<conference xmlns="http://jitsi.org/protocol/focus" room="${room}"/></iq>`;

/** An in-memory pin store: its pins, in the order pinned, and each step's changes. */
class MemoryPins implements PinStore {
  readonly pins = new Map<string, string>();
  readonly steps: PinChange[][] = [];
  list = (): Array<[string, string]> => [...this.pins];
  apply(_domain: string, changes: readonly PinChange[]): void {
    this.steps.push([...changes]);
    for (const [key, resource] of changes) {
      this.pins.delete(key);
      if (resource !== undefined) this.pins.set(key, resource);
    }
  }
  close(): void {}
}

/** The resource a forwarded stanza (the last sent) went to. */
function sentTo(link: FakeLink): string | undefined {
  const to = link.sent.at(-1)?.attrs.to;
  return to?.slice(to.indexOf("/") + 1);
}

Deno.test("affinity pins are stored as made and forgotten; a new proxy starts from them", () => {
  const pins = new MemoryPins();
  const { link } = start(AFFINITY, { pins });
  online(link);
  link.receive(`<presence from="${TARGET}/b" to="${DOMAIN}"/>`);
  link.receive(conference("1", "room1@conference.example.org"));
  const first = sentTo(link)!;
  assert.deepEqual(pins.list(), [["room1@conference.example.org", first]]);
  // The other resource announces itself first to a new proxy: the room stays.
  const again = start(AFFINITY, { pins, link: new FakeLink() }).link;
  again.online();
  for (const name of first === "a" ? ["b", "a"] : ["a", "b"]) {
    again.receive(`<presence from="${TARGET}/${name}" to="${DOMAIN}"/>`);
  }
  again.receive(conference("2", "Room1@Conference.example.org"));
  assert.equal(sentTo(again), first);
  // It leaves: the room is forgotten with it.
  again.receive(`<presence type="unavailable" from="${TARGET}/${first}" to="${DOMAIN}"/>`);
  assert.deepEqual(pins.steps.at(-1), [["room1@conference.example.org", undefined]]);
  assert.deepEqual(pins.list(), []);
});

Deno.test("a standby sharing the pin store serves every room where the active pinned it, also during its look", () => {
  const pins = new MemoryPins();
  const active = start(AFFINITY, { pins }).link;
  const standby = start(AFFINITY, { pins, link: new FakeLink() }).link;
  online(active); // only a: every room is pinned to a
  standby.online();
  standby.handlers.onHandOver!(); // the newer instance steps back (ejabberd)
  standby.online(true); // a look from standby: it reads the store now
  const rooms = Array.from({ length: 10 }, (_, i) => `room${i}@conference.example.org`);
  rooms.forEach((room, i) => active.receive(conference(`a${i}`, room)));
  assert.equal(pins.list().length, 10);
  // The active instance is gone; the look finds nobody and serves.
  standby.handlers.onTakeOver!();
  for (const name of ["c", "b", "a"]) {
    standby.receive(`<presence from="${TARGET}/${name}" to="${DOMAIN}"/>`);
  }
  for (const [i, room] of rooms.entries()) {
    standby.receive(conference(`s${i}`, room));
    assert.equal(sentTo(standby), "a", room);
  }
});

Deno.test("a step's pin changes are written together: a get re-sent with its room", () => {
  const pins = new MemoryPins();
  const { link } = start(AFFINITY, { pins });
  online(link);
  link.receive(`<presence from="${TARGET}/b" to="${DOMAIN}"/>`);
  link.receive(conference("1", "r1@conference.example.org", "get"));
  const first = sentTo(link)!;
  const before = pins.steps.length;
  link.receive(`<presence type="unavailable" from="${TARGET}/${first}" to="${DOMAIN}"/>`);
  const next = sentTo(link)!;
  assert.notEqual(next, first);
  assert.equal(pins.steps.length, before + 1);
  assert.deepEqual(pins.steps.at(-1), [
    ["r1@conference.example.org", undefined],
    ["r1@conference.example.org", next],
  ]);
});

Deno.test("a pin store that fails is logged, and the request goes out all the same", () => {
  const logs = captureLogs();
  try {
    const pins = new MemoryPins();
    pins.apply = () => {
      throw new Error("database is locked");
    };
    const { link } = start(AFFINITY, { pins });
    online(link);
    link.receive(conference("1", "r1@conference.example.org"));
    assert.equal(link.take().length, 1);
    const failed = logs.lines.filter((line) => line.includes("affinity.store_failed"));
    assert.equal(failed.length, 1, logs.lines.join(""));
    assert.match(failed[0], / ERROR /);
    assert.match(failed[0], /reason="database is locked"/);
    assert.doesNotMatch(failed[0], /r1@conference/);
  } finally {
    logs.restore();
  }
});

Deno.test("a pin store that cannot be read is logged, and the proxy serves all the same", () => {
  const logs = captureLogs();
  try {
    const pins = new MemoryPins();
    pins.list = () => {
      throw new Error("database disk image is malformed");
    };
    const { link } = start(AFFINITY, { pins });
    // Coming online, a look coming online and its take-over each read the store.
    online(link);
    link.handlers.onHandOver!();
    link.online(true);
    link.handlers.onTakeOver!();
    link.receive(`<presence from="${TARGET}/a" to="${DOMAIN}"/>`);
    link.receive(conference("1", "r1@conference.example.org"));
    assert.equal(sentTo(link), "a");
    const failed = logs.lines.filter((line) => line.includes("affinity.store_failed"));
    assert.equal(failed.length, 3, logs.lines.join(""));
    for (const line of failed) {
      assert.match(line, / ERROR /);
      assert.match(line, /change=read/);
      assert.match(line, /reason="database disk image is malformed"/);
    }
  } finally {
    logs.restore();
  }
});

Deno.test("max_stanza_size reaches the link, and a reload changes it in place", async () => {
  const { proxy, link } = start("max_stanza_size: 64KB");
  assert.equal(link.options.maxStanzaSize, 64 * 1024);
  proxy.reconfigure(config("max_stanza_size: 2MB"));
  assert.equal(link.retuned.at(-1)?.maxStanzaSize, 2 * 1024 * 1024);
  await proxy.shutdown(0);
});

Deno.test("a draining resource is logged, and its state is in the metrics", async () => {
  const logs = captureLogs();
  try {
    const metrics = new Metrics();
    const { link } = start(AFFINITY, { metrics });
    online(link);
    link.receive(`<presence from="${TARGET}/a" to="${DOMAIN}"><show>dnd</show></presence>`);
    assert.equal(logs.lines.filter((l) => l.includes("target.resource_draining")).length, 1);
    const text = await metrics.text();
    assert.match(
      text,
      /client_proxy_target_resources_by_state\{proxy="[^"]+",state="draining"\} 1/,
    );
    assert.match(text, /client_proxy_target_resources_by_state\{proxy="[^"]+",state="serving"\} 0/);
    link.receive(`<presence from="${TARGET}/a" to="${DOMAIN}"/>`);
    assert.equal(logs.lines.filter((l) => l.includes("target.resource_undrained")).length, 1);
  } finally {
    logs.restore();
  }
});

Deno.test("a reload that turns affinity on keeps the balancing until then, and pins from then on", () => {
  const pins = new MemoryPins();
  const { proxy, link } = start("", { pins });
  online(link);
  link.receive(conference("1", "r1@conference.example.org"));
  assert.deepEqual(pins.list(), []);
  proxy.reconfigure(config(AFFINITY));
  link.receive(conference("2", "r1@conference.example.org"));
  assert.deepEqual(pins.list(), [["r1@conference.example.org", "a"]]);
});

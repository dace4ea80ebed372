/** The shell's subscriber store (`presence: true`): written before it is said, shared by a standby. */
import assert from "node:assert/strict";
import { Metrics } from "../../src/ops/metrics.ts";
import type { SubscriberStore } from "../../src/ops/subscribers.ts";
import { parseXml } from "../../src/core/xml.ts";
import { captureLogs } from "../support/logs.ts";
import {
  config,
  DOMAIN,
  FakeLink,
  online,
  request,
  start,
  TARGET,
} from "../support/proxy_shell.ts";

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

Deno.test("the subscribers gauge counts the users subscribed when scraped", async () => {
  const metrics = new Metrics();
  const link = new FakeLink();
  start("presence: true", { link, metrics });
  online(link);
  const gauge = async () =>
    /^client_proxy_subscribers\{proxy="[^"]+"\} (\d+)$/m.exec(await metrics.text())?.[1];
  assert.equal(await gauge(), "0");
  for (const user of ["bob@example.org", "carol@example.net"]) {
    link.receive(`<presence type="subscribe" from="${user}/pc" to="${DOMAIN}"/>`);
  }
  assert.equal(await gauge(), "2");
  link.receive(`<presence type="unsubscribe" from="bob@example.org/pc" to="${DOMAIN}"/>`);
  assert.equal(await gauge(), "1");
});

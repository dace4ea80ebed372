/** The shell's pin store (`affinity`), draining resources, and affinity turned on by a reload. */
import assert from "node:assert/strict";
import { Metrics } from "../../src/ops/metrics.ts";
import type { PinChange, PinStore } from "../../src/ops/pins.ts";
import { captureLogs } from "../support/logs.ts";
import { ALICE, config, DOMAIN, FakeLink, online, start, TARGET } from "../support/proxy_shell.ts";

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
  const room = "room1@conference.example.org";
  const presence = (name: string) => `<presence from="${TARGET}/${name}" to="${DOMAIN}"/>`;
  // Where the room goes with a and b online and nothing pinned.
  const fresh = start(AFFINITY).link;
  fresh.online();
  for (const name of ["a", "b"]) fresh.receive(presence(name));
  fresh.receive(conference("0", room));
  const unpinned = sentTo(fresh)!;
  const home = unpinned === "a" ? "b" : "a";
  // Pinned while only the other one was online.
  const pins = new MemoryPins();
  const { link } = start(AFFINITY, { pins });
  link.online();
  link.receive(presence(home));
  link.receive(conference("1", room));
  assert.equal(sentTo(link), home);
  assert.deepEqual(pins.list(), [[room, home]]);
  // A new proxy sees both (the other first): the stored pin, not the choice, keeps the room.
  const again = start(AFFINITY, { pins, link: new FakeLink() }).link;
  again.online();
  for (const name of [unpinned, home]) again.receive(presence(name));
  again.receive(conference("2", "Room1@Conference.example.org"));
  assert.equal(sentTo(again), home);
  // It leaves: the room is forgotten with it.
  again.receive(`<presence type="unavailable" from="${TARGET}/${home}" to="${DOMAIN}"/>`);
  assert.deepEqual(pins.steps.at(-1), [[room, undefined]]);
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

Deno.test("a reload naming a resource in drain: logged, in the metrics and in /status's resources", async () => {
  const logs = captureLogs();
  try {
    const metrics = new Metrics();
    const { proxy, link } = start(AFFINITY, { metrics });
    online(link);
    link.receive(`<presence from="${TARGET}/b" to="${DOMAIN}"/>`);
    link.receive(conference("1", "r1@conference.example.org"));
    const home = sentTo(link)!;
    proxy.reconfigure(config(`${AFFINITY}\ndrain: ["${home}"]`));
    assert.equal(logs.lines.filter((l) => l.includes("target.resource_draining")).length, 1);
    assert.match(
      await metrics.text(),
      /client_proxy_target_resources_by_state\{proxy="[^"]+",state="draining"\} 1/,
    );
    // The room's request is still held by its resource: what a drain waits for.
    const other = home === "a" ? "b" : "a";
    assert.deepEqual(
      proxy.readiness().targetResources?.toSorted((x, y) => x.name.localeCompare(y.name)),
      [
        { name: home, draining: true, pending: 1, keys: 1 },
        { name: other, draining: false, pending: 0, keys: 0 },
      ].toSorted((x, y) => x.name.localeCompare(y.name)),
    );
  } finally {
    logs.restore();
  }
});

Deno.test("a reload's drain: a name none online has is said, and so is every resource draining", () => {
  const logs = captureLogs();
  try {
    const { proxy, link } = start(AFFINITY);
    online(link);
    link.receive(`<presence from="${TARGET}/b" to="${DOMAIN}"/>`);
    proxy.reconfigure(config(`${AFFINITY}\ndrain: ["A", "b"]`));
    assert.match(logs.lines.join(""), /INFO +\S+ config\.drain_unknown domain=\S+ names=A /);
    assert.doesNotMatch(logs.lines.join(""), /target\.all_draining/);
    proxy.reconfigure(config(`${AFFINITY}\ndrain: ["a", "b"]`));
    assert.match(logs.lines.join(""), /WARNING +\S+ target\.all_draining domain=\S+ resources=2 /);
  } finally {
    logs.restore();
  }
});

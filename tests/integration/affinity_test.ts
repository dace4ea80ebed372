/**
 * Active-active Jitsi against Prosody: three implementing resources (as
 * three Jicofo instances of one account) and Jicofo-shaped conference
 * requests about 300 rooms, several per room from different requesters.
 * Every request about a room reaches one resource; a resource leaving
 * moves only its rooms, one joining takes none of the running ones, a
 * draining one (dnd, or named in `drain` by a reload) keeps its rooms and
 * gets no new one, and a restart of the proxy with state_dir keeps every
 * room where it was, as does a standby on the same state_dir taking over
 * after a kill -9.
 */
import assert from "node:assert/strict";
import type { TestClient } from "../support/client.ts";
import { freePort } from "../support/prosody.ts";
import { SERVER_KINDS } from "../support/server.ts";
import { DOMAIN, withWorld, type World } from "../support/world.ts";
import { xml, type XmlElement } from "../../src/core/xml.ts";

const FOCUS = "http://jitsi.org/protocol/focus";
const AFFINITY = [`{${FOCUS}}conference@room`];
const ROOMS = Array.from({ length: 300 }, (_, i) => `room${i}@conference.localhost`);
/** Requests in flight at once (under every per-requester and per-domain limit). */
const BATCH = 60;

let serial = 0;

/** A conference request about `room`, as a Jitsi client sends it to the focus component. */
function conference(room: string): XmlElement {
  return xml(
    "iq",
    { type: "set", id: `c${serial++}`, to: DOMAIN },
    xml("conference", { xmlns: FOCUS, room, "machine-uid": "m1" }),
  );
}

/** The resource that answered (the world's resources say their name). */
function answeredBy(reply: XmlElement): string {
  assert.equal(reply.attrs.type, "result", String(reply));
  const name = reply.getChild("answer", "urn:test")?.attrs.resource;
  assert.ok(name, `no answer in ${reply}`);
  return name;
}

/**
 * Asks about every room, once per requester (in turn, several rooms at a
 * time); returns, per room, the resource that answered each request.
 */
async function ask(
  requesters: readonly TestClient[],
  rooms: readonly string[],
  make: (room: string) => XmlElement = conference,
): Promise<Map<string, string[]>> {
  const answers = new Map(rooms.map((room) => [room, [] as string[]]));
  for (let at = 0; at < rooms.length; at += BATCH) {
    const batch = rooms.slice(at, at + BATCH);
    await Promise.all(batch.map(async (room, i) => {
      for (let k = 0; k < requesters.length; k++) {
        const requester = requesters[(i + k) % requesters.length];
        const reply = await requester.request(make(room), { timeoutMs: 10_000 });
        answers.get(room)!.push(answeredBy(reply));
      }
    }));
  }
  return answers;
}

/** Asks about every room; each must have been answered by one resource: room → resource. */
async function placeRooms(
  requesters: readonly TestClient[],
  rooms: readonly string[],
): Promise<Map<string, string>> {
  const placed = new Map<string, string>();
  for (const [room, names] of await ask(requesters, rooms)) {
    assert.equal(new Set(names).size, 1, `${room} was served by ${names.join(", ")}`);
    placed.set(room, names[0]);
  }
  return placed;
}

function share(placed: Map<string, string>, name: string): number {
  return [...placed.values()].filter((n) => n === name).length / placed.size;
}

/** Three resources and three requesters (alice, bob, carol). */
async function setUp(world: World): Promise<{ resources: TestClient[]; users: TestClient[] }> {
  const resources = [
    await world.resource("a"),
    await world.resource("b"),
    await world.resource("c"),
  ];
  const users = [
    await world.client("alice", "web"),
    await world.client("bob", "phone"),
    await world.client("carol", "desk"),
  ];
  return { resources, users };
}

withWorld(
  "300 rooms: each reaches one resource, shared 20-45 %; a leaver moves only its rooms, a joiner takes none",
  async (world) => {
    const { resources, users } = await setUp(world);
    const placed = await placeRooms(users, ROOMS);
    for (const name of ["a", "b", "c"]) {
      const got = share(placed, name);
      assert.ok(got >= 0.2 && got <= 0.45, `${name} has ${(got * 100).toFixed(1)} % of the rooms`);
    }

    // b leaves: its rooms move to a or c, the others stay where they are.
    const seen = world.proxy.lineCount();
    await resources[1].stop();
    await world.proxy.waitForLog(/target\.resource_down .*resource=b/, { after: seen });
    const afterLeave = await placeRooms(users, ROOMS);
    for (const room of ROOMS) {
      if (placed.get(room) === "b") assert.notEqual(afterLeave.get(room), "b", room);
      else assert.equal(afterLeave.get(room), placed.get(room), `${room} moved`);
    }
    assert.match(world.proxy.log(), /affinity\.unpinned .*reason=resource_left/);

    // d joins: it takes none of the running rooms, only new ones.
    await world.resource("d");
    assert.deepEqual(await placeRooms(users, ROOMS), afterLeave);
    const fresh = ROOMS.map((room) => `new-${room}`);
    const newPlaced = await placeRooms(users.slice(0, 1), fresh);
    assert.ok(share(newPlaced, "d") > 0.2, `d has ${share(newPlaced, "d")} of the new rooms`);
  },
  { entry: { affinity: AFFINITY }, users: ["carol"] },
);

withWorld(
  "a dnd resource gets no new room and no request without one, but still serves its own rooms",
  async (world) => {
    const { resources, users } = await setUp(world);
    const placed = await placeRooms(users, ROOMS);
    const seen = world.proxy.lineCount();
    await resources[0].send(xml("presence", {}, xml("show", {}, "dnd")));
    await world.proxy.waitForLog(/target\.resource_draining .*resource=a/, { after: seen });

    assert.deepEqual(await placeRooms(users, ROOMS), placed, "its rooms stay on it");
    const fresh = ROOMS.slice(0, 100).map((room) => `new-${room}`);
    const newPlaced = await placeRooms(users, fresh);
    assert.equal(share(newPlaced, "a"), 0, "no new room on a draining resource");
    const pings = await ask(
      users,
      fresh.slice(0, 30),
      () => xml("iq", { type: "get", to: DOMAIN }, xml("ping", { xmlns: "urn:xmpp:ping" })),
    );
    assert.ok(![...pings.values()].flat().includes("a"), "no keyless request either");

    // Back in service: it takes new rooms again.
    const back = world.proxy.lineCount();
    await resources[0].send(xml("presence"));
    await world.proxy.waitForLog(/target\.resource_undrained .*resource=a/, { after: back });
    const later = await placeRooms(users.slice(0, 1), ROOMS.map((room) => `later-${room}`));
    assert.ok(share(later, "a") > 0.2);
  },
  { entry: { affinity: AFFINITY }, users: ["carol"] },
);

/** The drain test's HTTP listener, picked as it starts. */
let statusPort = 0;

withWorld(
  "a resource named in drain by a SIGHUP keeps its rooms and gets no new one; out of it, new ones again",
  async (world) => {
    const { users } = await setUp(world);
    const placed = await placeRooms(users, ROOMS);
    const reload = (drain: string[]) => world.reload({ affinity: AFFINITY, drain });
    const seen = await reload(["a"]);
    // Said as the reload applies it: the client said nothing (no dnd).
    await world.proxy.waitForLog(/target\.resource_draining .*resource=a\b/, { after: seen });
    // /status shows it draining, with the rooms it still holds.
    const status = await (await fetch(`http://127.0.0.1:${statusPort}/status`, {
      signal: AbortSignal.timeout(5_000),
    })).json();
    const byName = new Map(
      status.proxies[0].target_resources.map((r: { name: string }) => [r.name, r]),
    );
    const rooms = [...placed.values()].filter((name) => name === "a").length;
    assert.deepEqual(byName.get("a"), { name: "a", draining: true, pending: 0, keys: rooms });
    assert.equal((byName.get("b") as { draining: boolean }).draining, false);
    assert.deepEqual(await placeRooms(users, ROOMS), placed, "its rooms stay on it");
    const fresh = await placeRooms(users, ROOMS.slice(0, 100).map((room) => `new-${room}`));
    assert.equal(share(fresh, "a"), 0, "no new room on a drained resource");
    assert.doesNotMatch(world.proxy.log().split("\n").slice(seen).join("\n"), /stream\.connecting/);

    const back = await reload([]);
    await world.proxy.waitForLog(/target\.resource_undrained .*resource=a\b/, { after: back });
    const later = await placeRooms(users.slice(0, 1), ROOMS.map((room) => `later-${room}`));
    assert.ok(share(later, "a") > 0.2, `a has ${share(later, "a")} of the later rooms`);
  },
  {
    entry: { affinity: AFFINITY },
    users: ["carol"],
    top: () => ({ http: `127.0.0.1:${statusPort = freePort()}` }),
  },
);

const stateDir = Deno.makeTempDirSync({ prefix: "client-proxy-affinity-" });
addEventListener("unload", () => Deno.removeSync(stateDir, { recursive: true }));

withWorld(
  "a restart of the proxy with state_dir keeps every room where it was",
  async (world) => {
    // The rooms are placed while only a and b are online; c joins later,
    // so a proxy that forgot the pins would give about a third of them to c.
    const a = await world.resource("a");
    const b = await world.resource("b");
    const users = [await world.client("alice", "web"), await world.client("bob", "phone")];
    const placed = await placeRooms(users, ROOMS);
    await world.resource("c");
    assert.deepEqual(await placeRooms(users, ROOMS), placed);

    await world.proxy.kill();
    await world.startProxy(world.lastEntry, world.lastTop);
    for (const name of ["a", "b", "c"]) {
      await world.proxy.waitForLog(new RegExp(`target\\.resource_up .*resource=${name}\\b`));
    }
    assert.deepEqual(await placeRooms(users, ROOMS), placed, "every room stayed");
    assert.ok(a.online && b.online);
  },
  { entry: { affinity: AFFINITY }, top: { state_dir: stateDir } },
);

/** The active instance's HTTP listener (ejabberd: the standby's peer), picked as the test starts. */
let activePort = 0;

withWorld(
  "a standby sharing state_dir takes over after a kill -9 and keeps every room where it was",
  async (world) => {
    // As above: rooms placed over a and b, then c joins, so that a standby
    // placing them afresh would give about a third of them to c.
    await world.resource("a");
    await world.resource("b");
    const users = [await world.client("alice", "web"), await world.client("bob", "phone")];
    // Started before any room is pinned: it must read the pins as it takes
    // over, not as it starts. ejabberd shares the domain between the two:
    // with a peer, the standby does not look in while the active one serves.
    const ejabberd = world.server.kind === "ejabberd";
    await using standby = await world.startStandby({
      retry: "300ms",
      shareState: true,
      ...(ejabberd ? { peer: `http://127.0.0.1:${activePort}` } : {}),
    });
    const placed = await placeRooms(users, ROOMS);
    await world.resource("c");

    await world.proxy.kill();
    const after = standby.lineCount();
    if (ejabberd) await standby.waitForLog(/stream\.taking_over/, { after, timeoutMs: 10_000 });
    for (const name of ["a", "b", "c"]) {
      const up = new RegExp(`target\\.resource_up .*resource=${name}\\b`);
      await standby.waitForLog(up, { after, timeoutMs: 10_000 });
    }
    assert.deepEqual(await placeRooms(users, ROOMS), placed, "every room stayed");
    assert.doesNotMatch(standby.log(), /affinity\.unpinned/);
  },
  {
    servers: SERVER_KINDS,
    entry: { affinity: AFFINITY },
    top: () => ({
      state_dir: Deno.makeTempDirSync({ dir: stateDir }),
      http: `127.0.0.1:${activePort = freePort()}`,
    }),
  },
);

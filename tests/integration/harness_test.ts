/**
 * Self-test of the integration harness (tests/support): a private Prosody,
 * two test clients, an iq round trip, restart, stop.
 *
 * Needs prosody on PATH; run with
 * `deno test -A tests/integration/harness_test.ts`.
 */
import assert from "node:assert/strict";
import { startProsody } from "../support/prosody.ts";
import { connectClient, echoHandler, errorFor, iqAfterRestart } from "../support/client.ts";
import { xml } from "../../src/core/xml.ts";
import { bounded } from "../support/bounded.ts";
import { retry } from "../support/retry.ts";

const COMPONENT = { domain: "proxy.localhost", secret: "harness-secret" };
const ALICE = { username: "alice", password: "alice-pw" };
const BOB = { username: "bob", password: "bob-pw" };

/**
 * Whether process `pid` exists, or undefined when we may not ask: Deno.kill
 * needs unrestricted --allow-run (and /proc needs -A). SIGCONT, as Deno.kill
 * offers no signal 0; it is harmless to a running Prosody.
 */
function processAlive(pid: number): boolean | undefined {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    if (err instanceof Deno.errors.NotCapable) return undefined;
    throw err;
  }
}

/** `/proc/<pid>/stat`, to tell a reused pid or a zombie from the same live process. */
function procStat(pid: number): string | undefined {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/stat`).trim();
  } catch {
    return undefined;
  }
}

/** The start time (field 22) and state (field 3) of a `/proc/<pid>/stat` line. */
function startAndState(stat: string | undefined): { start?: string; state?: string } {
  if (stat === undefined) return {};
  // The command name (field 2) may hold spaces: count from its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0], start: fields[19] };
}

async function acceptsTcp(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

Deno.test("harness: iq between two clients, answered via onRequest", async () => {
  await bounded(20_000, async () => {
    await using server = await startProsody({
      components: [COMPONENT],
      users: [ALICE, BOB],
    });
    assert.equal(server.domain, "localhost");
    assert.equal(server.c2sUrl, `xmpp://127.0.0.1:${server.c2sPort}`);
    assert.equal(
      server.componentUrl,
      `xmpp://127.0.0.1:${server.componentPort}`,
    );

    const common = { service: server.c2sUrl, domain: server.domain };
    await using alice = await connectClient({
      ...common,
      ...ALICE,
      resource: "a1",
    });
    await using bob = await connectClient({
      ...common,
      ...BOB,
      resource: "b1",
      priority: 5,
    });
    assert.equal(alice.jid, "alice@localhost/a1");
    assert.equal(bob.jid, "bob@localhost/b1");

    bob.onRequest(echoHandler((iq) => {
      const q = iq.getChild("query", "urn:example:harness");
      return q && xml("answer", { xmlns: "urn:example:harness" }, q.getText());
    }));
    const reply = await alice.request(
      xml(
        "iq",
        { type: "get", id: "harness-1", to: bob.jid },
        xml("query", { xmlns: "urn:example:harness" }, "hello"),
      ),
    );
    assert.equal(reply.attrs.type, "result");
    assert.equal(reply.attrs.id, "harness-1");
    assert.equal(reply.attrs.from, bob.jid);
    assert.equal(
      reply.getChild("answer", "urn:example:harness")?.getText(),
      "hello",
    );
    // bob saw the request exactly as alice sent it (plus Prosody's stamps)
    const got = await bob.waitFor(
      (el) => el.name === "iq" && el.attrs.id === "harness-1",
      { includePast: true },
    );
    assert.equal(got.attrs.from, alice.jid);
    assert.equal(got.attrs.type, "get");

    // a handler can answer with an error too
    bob.onRequest((iq) => errorFor(iq, "cancel", "item-not-found"));
    const err = await alice.request(
      xml("iq", { type: "set", to: bob.jid }, xml("x", { xmlns: "urn:x" })),
    );
    assert.equal(err.attrs.type, "error");
    assert.ok(
      err.getChild("error")?.getChild(
        "item-not-found",
        "urn:ietf:params:xml:ns:xmpp-stanzas",
      ),
    );
    assert.deepEqual(alice.errors, []);
    assert.deepEqual(bob.errors, []);
  });
});

Deno.test("harness: a client without onRequest answers nothing", async () => {
  await bounded(20_000, async () => {
    await using server = await startProsody({ users: [ALICE, BOB] });
    const common = { service: server.c2sUrl, domain: server.domain };
    await using alice = await connectClient({ ...common, ...ALICE });
    await using bob = await connectClient({ ...common, ...BOB });
    // xmpp.js would auto-answer both of these (service-unavailable; ping)
    await alice.send(
      xml(
        "iq",
        { type: "get", id: "silent-1", to: bob.jid },
        xml("q", { xmlns: "urn:x" }),
      ),
    );
    await alice.send(
      `<iq type="get" id="silent-2" to="${bob.jid}"><ping xmlns="urn:xmpp:ping"/></iq>`,
    );
    await bob.waitFor((el) => el.attrs.id === "silent-2");
    await assert.rejects(
      alice.waitFor((el) => el.name === "iq", { timeoutMs: 500 }),
      /no matching stanza within 500 ms/,
    );
  });
});

Deno.test("harness: presence subscription is auto-approved", async () => {
  await bounded(20_000, async () => {
    await using server = await startProsody({ users: [ALICE, BOB] });
    const common = { service: server.c2sUrl, domain: server.domain };
    // roster: Prosody sends `subscribed` only to roster-interested resources
    await using alice = await connectClient({
      ...common,
      ...ALICE,
      roster: true,
    });
    await using bob = await connectClient({ ...common, ...BOB });
    const subscribed = alice.waitFor((el) =>
      el.name === "presence" && el.attrs.type === "subscribed"
    );
    await alice.send(
      xml("presence", { type: "subscribe", to: "bob@localhost" }),
    );
    const request = await bob.waitFor(
      (el) => el.name === "presence" && el.attrs.type === "subscribe",
      { includePast: true },
    );
    assert.equal(request.attrs.from, "alice@localhost");
    const approval = await subscribed;
    assert.equal(approval.attrs.from, "bob@localhost");
    // after approval alice receives bob's current presence
    await alice.waitFor(
      (el) => el.name === "presence" && el.attrs.from === bob.jid && !el.attrs.type,
      { includePast: true },
    );
  });
});

Deno.test("harness: restart keeps accounts, clients can log in again", async () => {
  await bounded(30_000, async () => {
    await using server = await startProsody({
      components: [COMPONENT],
      users: [ALICE],
    });
    const common = { service: server.c2sUrl, domain: server.domain };
    const before = await connectClient({ ...common, ...ALICE });
    try {
      assert.ok(before.online);
      const started = performance.now();
      await server.restart();
      console.log(
        `prosody restart: ${Math.round(performance.now() - started)} ms`,
      );
      // the old session is gone and stays gone: xmpp.js would reconnect
      // after 1 s
      await new Promise((resolve) => setTimeout(resolve, 1_300));
      assert.ok(!before.online);
      // What the client sees of the shutdown varies (checked here, racy):
      // usually the stream error `system-shutdown`, sometimes only "read
      // ECONNRESET", sometimes nothing but the close. So only the state is
      // asserted.
      const sinceRestart = server.log().split("Hello and welcome").at(-1)!;
      assert.doesNotMatch(sinceRestart, /Authenticated as alice@localhost/);
    } finally {
      await before.stop();
    }
    // accounts registered before the restart, and after it, both work
    const reply = await iqAfterRestart(server, { asker: ALICE, answerer: BOB });
    assert.equal(reply.attrs.type, "result");
    assert.match(server.log(), /Shutting down: Received SIGTERM/);
  });
});

Deno.test("harness: stop() removes the dir and the process", async () => {
  await bounded(20_000, async () => {
    const started = performance.now();
    const server = await startProsody({ components: [COMPONENT] });
    let pid: number;
    let before: string | undefined;
    try {
      console.log(
        `prosody start: ${Math.round(performance.now() - started)} ms`,
      );
      // Prosody writes its pid file a moment after its ports accept.
      pid = Number(
        (await retry(() => Deno.readTextFile(`${server.dir}/prosody.pid`), {
          times: 100,
          pauseMs: 20,
        })).trim(),
      );
      assert.notEqual(processAlive(pid), false, "prosody runs");
      before = startAndState(procStat(pid)).start;
      assert.ok(await acceptsTcp(server.c2sPort));
      assert.ok(await acceptsTcp(server.componentPort));
    } finally {
      await server.stop();
    }
    await server.stop(); // idempotent
    // A pid reused by a newer process (pid_max may be 32768 here) is not Prosody.
    const after = procStat(pid);
    const { start, state } = startAndState(after);
    const same = after === undefined || before === undefined || start === before;
    assert.ok(
      !(same && processAlive(pid) === true && state !== "Z"),
      `prosody is gone (/proc/${pid}/stat: ${after ?? "absent"})`,
    );
    assert.ok(!(await acceptsTcp(server.c2sPort)), "c2s port closed");
    assert.ok(!(await acceptsTcp(server.componentPort)), "component closed");
    await assert.rejects(Deno.stat(server.dir), Deno.errors.NotFound);
  });
});

Deno.test("harness: wrong password fails clearly and leaks nothing", async () => {
  await bounded(20_000, async () => {
    await using server = await startProsody({ users: [ALICE] });
    await assert.rejects(
      connectClient({
        service: server.c2sUrl,
        domain: server.domain,
        username: "alice",
        password: "wrong",
      }),
      /connectClient\(alice@localhost .*not-authorized/,
    );
  });
});

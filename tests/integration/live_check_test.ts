/**
 * `client-proxy --check --live` as an operator runs it, against real
 * Prosody and ejabberd: all good (also under the flags of a binary scoped
 * to the config), a wrong secret, a target that never approves, and an
 * instance already serving, which keeps answering every request exactly
 * once during and after the check.
 */
import assert from "node:assert/strict";
import { EXIT } from "../../src/app/cli.ts";
import { xml, type XmlElement } from "../../src/core/xml.ts";
import { connectClient, resultFor, type TestClient } from "../support/client.ts";
import { freePort } from "../support/prosody.ts";
import { liveCheck, type Run, steps } from "../support/live_check.ts";
import { SERVER_KINDS } from "../support/server.ts";
import { DOMAIN, request, SECRET, TARGET, withWorld, type World } from "../support/world.ts";

const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";

/** A config for the world's server, in a directory of its own in the server's (removed with it). */
async function configFor(world: World, entry: Record<string, unknown> = {}): Promise<string> {
  const dir = await Deno.makeTempDir({ dir: world.server.dir, prefix: "live-" });
  const file = `${dir}/client-proxy.yaml`;
  const config = {
    server: world.server.componentUrl,
    proxies: [{ domain: DOMAIN, secret: SECRET, target_address: TARGET, ...entry }],
  };
  await Deno.writeTextFile(file, JSON.stringify(config, null, 2)); // JSON is YAML
  return file;
}

/** Answers disco#info as a client does, every other request with `<answer/>`. */
function implementing(client: TestClient, name: string): TestClient {
  client.onRequest((iq) =>
    iq.getChild("query", NS_DISCO_INFO)
      ? resultFor(
        iq,
        xml(
          "query",
          { xmlns: NS_DISCO_INFO },
          xml("identity", { category: "client", type: "bot", name: "Live" }),
          xml("feature", { var: NS_DISCO_INFO }),
        ),
      )
      : resultFor(iq, xml("answer", { xmlns: "urn:test", resource: name }))
  );
  return client;
}

/** The implementing account, logged in as resource `name`; `approves`: it approves subscriptions. */
async function target(world: World, name: string, approves = true): Promise<TestClient> {
  const client = await connectClient({
    service: world.server.c2sUrl,
    domain: world.server.domain,
    username: "service",
    password: "pw",
    resource: name,
    autoApprove: approves,
  });
  world.clients.push(client);
  return implementing(client, name);
}

withWorld(
  "live check, all good: handshake, subscription, resources, disco#info; scoped flags too",
  async (world) => {
    await target(world, "a");
    const file = await configFor(world);
    for (const scoped of [false, true]) {
      const run = await liveCheck(file, { scoped });
      assert.equal(run.code, EXIT.ok, run.output);
      assert.deepEqual(steps(run), [
        "handshake:ok",
        "subscription:ok",
        "resources:ok",
        "disco:ok",
        "close:ok",
      ]);
      assert.equal(run.doc.ok, true);
      const [, , resources, disco] = run.facts;
      assert.deepEqual(resources.resources, ["a"]);
      assert.equal(disco.text, 'disco#info from a: identity (client/bot "Live"), 1 feature');
    }
  },
  { servers: SERVER_KINDS, proxy: false },
);

withWorld(
  "live check, a wrong secret: the handshake is refused, exit 11",
  async (world) => {
    const run = await liveCheck(await configFor(world, { secret: "not-the-secret" }));
    assert.equal(run.code, EXIT.refused, run.output);
    assert.deepEqual(steps(run), ["handshake:failed"]);
    assert.equal(run.facts[0].condition, "not-authorized");
    assert.equal(run.doc.failed, "handshake");
  },
  { servers: SERVER_KINDS, proxy: false },
);

withWorld(
  "live check, a target that never approves: subscription not approved, exit 12, in bounded time",
  async (world) => {
    const client = await target(world, "a", false);
    const started = performance.now();
    const run = await liveCheck(await configFor(world), { timeout: "2s" });
    const took = performance.now() - started;
    assert.equal(run.code, EXIT.unapproved, run.output);
    assert.deepEqual(steps(run), ["handshake:ok", "subscription:failed", "close:ok"]);
    assert.match(run.facts[1].text, /^subscription not approved within 2s/);
    assert.ok(took < 15_000, `took ${took} ms`);
    // The account was asked, and is still asked: the request waits for its approval.
    const asked = (el: XmlElement) => el.name === "presence" && el.attrs.type === "subscribe";
    assert.ok(client.received.some(asked), client.received.join("\n"));
  },
  { servers: SERVER_KINDS, proxy: false },
);

withWorld(
  "live check beside a serving instance: every request answered once, but those it says it lost",
  async (world) => {
    const impl = await world.resource("a", { answer: false });
    implementing(impl, "a");
    const alice = await world.client("alice", "r");
    const seen = world.proxy.lineCount();
    // A requester asking all along, before, during and after the check.
    const asked: string[] = [];
    let running = true;
    const lane = (async () => {
      for (let n = 0; running || n < 5; n++) {
        const id = `live${n}`;
        asked.push(id);
        await alice.request(request(id), { timeoutMs: 5_000 }).catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    let run: Run;
    try {
      // 10 s: under CI's load a disco#info answer once took longer than the default 5 s.
      run = await liveCheck(world.proxy.configFile, { timeout: "10s" });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    } finally {
      running = false;
      await lane;
    }
    const replies = (id: string) => alice.received.filter((el: XmlElement) => el.attrs.id === id);
    // On ejabberd, what the server hands the check in the instant it closes
    // is lost (docs/not-done-yet.md): the check counts it, and says so.
    const close = run.facts.find((fact) => fact.step === "close");
    const lostAtClose = Number(close?.lost_at_close ?? 0);
    const unanswered: string[] = [];
    for (const id of asked) {
      const got = replies(id);
      if (got.length === 0) unanswered.push(id);
      assert.ok(got.length <= 1, `${id}: ${got.length} replies\n${run.output}`);
      if (got.length === 1) assert.equal(got[0].attrs.type, "result", String(got[0]));
    }
    assert.ok(
      unanswered.length <= lostAtClose,
      `unanswered ${unanswered.join(", ")}, the check said ${lostAtClose} lost\n${run.output}`,
    );
    assert.ok(asked.length >= 10, `${asked.length} requests`);
    const served = world.proxy.log().split("\n").slice(seen).join("\n");
    assert.equal(run.code, EXIT.ok, `${run.output}\n--- the serving instance ---\n${served}`);
    if (world.server.kind === "prosody") {
      // One connection per domain: the check is refused, and asks the instance.
      assert.deepEqual(steps(run), ["handshake:ok", "serving:ok", "readiness:ok"]);
      assert.equal(run.facts[1].condition, "conflict");
      assert.match(run.facts[1].text, /^an instance is serving \(conflict\)/);
      assert.match(run.facts[2].text, /^the serving instance \(version [^)]+\) is ready/);
    } else {
      // A shared domain: the check works beside it.
      assert.deepEqual(steps(run), [
        "handshake:ok",
        "serving:ok",
        "subscription:ok",
        "resources:ok",
        "disco:ok",
        "close:ok",
      ]);
      assert.match(run.facts[1].text, /^another instance serves this domain beside the check/);
    }
    // The instance served on, never standing by or taking its link for dead.
    assert.doesNotMatch(served, /stream\.(standby|taking_over|dead_link|offline|forged)/);
  },
  {
    servers: SERVER_KINDS,
    // The serving instance's HTTP listener, picked as each test starts.
    top: () => ({ http: `127.0.0.1:${freePort()}` }),
  },
);

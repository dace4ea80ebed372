/** Live reload: SIGHUP re-reads the config without dropping the stream or a request. */
import assert from "node:assert/strict";
import { retry } from "../support/retry.ts";
import { resultFor } from "../support/client.ts";
import type { Ejabberd } from "../support/ejabberd.ts";
import { freePort } from "../support/prosody.ts";
import {
  assertError,
  DOMAIN,
  request,
  SECRET,
  TARGET,
  withWorld,
  type World,
} from "../support/world.ts";

withWorld(
  "SIGHUP with a shorter request_timeout applies to the next request; the one in flight gets its answer",
  async (world) => {
    const { impl, alice, reply: inFlight, held } = await world.heldRequest("before");

    const seen = await world.reload({ request_timeout: "1s" });

    // Under the old 30 s timeout the client would give up (10 s) first.
    const next = await alice.request(request("after"), { timeoutMs: 10_000 });
    assertError(next, { id: "after", type: "wait", condition: "remote-server-timeout" });
    const done = await world.proxy.waitForLog(/request\.done .*outcome=timeout .*id=after /);
    const waited = Number(done.match(/duration_ms=([\d.]+)/)?.[1]);
    assert.ok(waited >= 1_000 && waited < 30_000, `the new 1 s timeout applied: ${done}`);

    await impl.send(resultFor(held));
    assert.equal((await inFlight).attrs.type, "result", "the old request was not dropped");
    assert.doesNotMatch(world.proxy.log().split("\n").slice(seen).join("\n"), /stream\.connecting/);
  },
  { entry: { request_timeout: "30s" } },
);

withWorld(
  "SIGHUP turning the keepalive on applies to the running stream: a frozen server is noticed",
  async (world) => {
    await world.resource("a");
    const seen = await world.reload({ keepalive: "1s", keepalive_timeout: "1s" });
    // The stream started without a keepalive: only the reload can notice.
    world.server.signal("SIGSTOP");
    try {
      await world.proxy.waitForLog(/stream\.dead_link .*unanswered_ms=1000/, {
        after: seen,
        timeoutMs: 5_000,
      });
    } finally {
      world.server.signal("SIGCONT");
    }
    await world.proxy.waitForLog(/target\.resource_up .*resource=a/, {
      after: seen,
      timeoutMs: 15_000,
    });
    const alice = await world.client("alice", "r");
    assert.equal((await alice.request(request("thawed"))).attrs.type, "result");
  },
  { entry: { keepalive: "0s" } },
);

withWorld(
  "SIGHUP with a broken config: every problem logged, and the proxy keeps serving",
  async (world) => {
    await world.resource("a");
    const alice = await world.client("alice", "r");
    const seen = world.proxy.lineCount();
    await Deno.writeTextFile(world.proxy.configFile, "server: [\nproxies: nope\n");
    world.proxy.signal("SIGHUP");
    await world.proxy.waitForLog(/config\.reload_failed reason=invalid_config problems=/, {
      after: seen,
    });
    await world.proxy.waitForLog(/config\.problem .*client-proxy\.yaml:\d+:\d+/, { after: seen });
    assert.equal((await alice.request(request("still"))).attrs.type, "result");
  },
);

withWorld(
  "SIGHUP to an HTTP address in use changes nothing; the next reload, once it is free, brings the new secret too",
  async (world) => {
    // The address the reload moves to, held here; as the standby peer's it is
    // among the worker's permissions from the start.
    const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const heldPort = (held.addr as Deno.NetAddr).port;
      const oldPort = freePort();
      const peer = { standby_peer: `http://127.0.0.1:${heldPort}` };
      await world.proxy.stop();
      await world.startProxy(peer, { http: `127.0.0.1:${oldPort}` });
      await world.resource("a");
      const alice = await world.client("alice", "r");
      // The server takes the new secret now; the stream that is up stays up.
      await rotateServerSecret(world, ROTATED);

      const seen = world.proxy.lineCount();
      await world.proxy.writeConfig({
        server: world.server.componentUrl,
        http: `127.0.0.1:${heldPort}`,
        proxies: [{ domain: DOMAIN, secret: ROTATED, target_address: TARGET, ...peer }],
      });
      world.proxy.signal("SIGHUP");
      const failed = await world.proxy.waitForLog(/config\.reload_failed /, { after: seen });
      assert.match(
        failed,
        new RegExp(
          `ERROR .*reason=bind_failed .*127\\.0\\.0\\.1:${heldPort}: Address already in use`,
        ),
      );
      assert.equal((await httpGet(oldPort, "/healthz")).status, 200, "the old listener answers");
      assert.equal((await alice.request(request("kept"))).attrs.type, "result");
      const metrics = (await httpGet(oldPort, "/metrics")).body;
      assert.match(metrics, /^client_proxy_config_reloads_total\{result="failed"\} 1$/m);
      assert.match(metrics, /^client_proxy_config_reloads_total\{result="ok"\} 0$/m);
      assert.match(metrics, /^client_proxy_config_last_reload_successful 0$/m);
      const since = world.proxy.log().split("\n").slice(seen).join("\n");
      assert.equal(since.match(/config\.reload_failed/g)?.length, 1, "logged once");
      assert.doesNotMatch(since, /stream\.connecting|config\.reloaded/, "nothing was applied");

      // The same file again: compared with the config in force, not with the
      // one that failed, the secret is new and the proxy reconnects with it.
      held.close();
      const again = world.proxy.lineCount();
      world.proxy.signal("SIGHUP");
      await world.proxy.waitForLog(/config\.reloaded/, { after: again });
      await world.proxy.waitForLog(/stream\.online/, { after: again });
      await world.proxy.waitForLog(/target\.resource_up .*resource=a/, { after: again });
      assert.equal((await alice.request(request("rotated"))).attrs.type, "result");
      assert.doesNotMatch(world.proxy.log().split("\n").slice(again).join("\n"), /stream\.refused/);
      const moved = (await httpGet(heldPort, "/metrics")).body;
      assert.match(moved, /^client_proxy_config_reloads_total\{result="ok"\} 1$/m);
      assert.match(moved, /^client_proxy_config_last_reload_successful 1$/m);
      await assert.rejects(httpGet(oldPort, "/healthz"), "the old listener is closed");
    } finally {
      try {
        held.close();
      } catch { /* closed by the test */ }
    }
  },
);

withWorld(
  "SIGHUP with a secret the server refuses changes nothing: the stream keeps serving",
  async (world) => {
    await world.resource("a");
    const alice = await world.client("alice", "r");
    const seen = world.proxy.lineCount();
    await world.proxy.writeConfig({
      server: world.server.componentUrl,
      proxies: [{ domain: DOMAIN, secret: "mistyped-secret", target_address: TARGET }],
    });
    world.proxy.signal("SIGHUP");
    const failed = await world.proxy.waitForLog(/config\.reload_failed /, { after: seen });
    assert.match(
      failed,
      /ERROR .*reason=secret_refused .*the server refused the new secret of proxy\.localhost \(not-authorized\): the running stream keeps the old one/,
    );
    assert.equal((await alice.request(request("kept"))).attrs.type, "result");
    const since = world.proxy.log().split("\n").slice(seen).join("\n");
    assert.doesNotMatch(since, /stream\.(connecting|offline|refused)|config\.reloaded/);
    assert.doesNotMatch(since, /mistyped-secret/, "the secret is not logged");
  },
  { servers: ["prosody", "ejabberd"] },
);

withWorld(
  "SIGHUP with the right secret after a wrong one: tried, then the stream comes online",
  async (world) => {
    await world.proxy.stop();
    await world.startProxy({ secret: "wrong-at-start" }, {}, { readyEvent: "stream\\.refused" });
    const seen = await world.reload();
    await world.proxy.waitForLog(/stream\.online/, { after: seen });
    await world.resource("a");
    const alice = await world.client("alice", "r");
    assert.equal((await alice.request(request("after"))).attrs.type, "result");
  },
);

withWorld(
  "a standby's new secret waits until the instance serving beside it has rotated",
  async (world) => {
    await world.resource("a");
    const alice = await world.client("alice", "r");
    const standby = await world.startStandby({ retry: "1s" });
    const rotated = {
      server: world.server.componentUrl,
      proxies: [{ domain: DOMAIN, secret: ROTATED, target_address: TARGET }],
    };
    try {
      await rotateEjabberdSecret(world, ROTATED);
      // The standby first: its looks are refused now, and its trial meets the serving instance
      // proving with the old secret.
      const b0 = standby.lineCount();
      await standby.writeConfig(rotated);
      standby.signal("SIGHUP");
      const failed = await standby.waitForLog(/config\.reload_failed /, { after: b0 });
      assert.match(
        failed,
        /reason=sibling_not_rotated .*another instance serves proxy\.localhost with the old secret: reload it first, then this one/,
      );
      assert.equal((await alice.request(request("kept"))).attrs.type, "result");
      // The serving instance, then the standby: each takes the new secret, and one serves.
      const a0 = world.proxy.lineCount();
      await world.proxy.writeConfig(rotated);
      world.proxy.signal("SIGHUP");
      await world.proxy.waitForLog(/config\.reloaded/, { after: a0 });
      await world.proxy.waitForLog(/target\.resource_up .*resource=a/, { after: a0 });
      const b1 = standby.lineCount();
      standby.signal("SIGHUP");
      await standby.waitForLog(/config\.reloaded/, { after: b1 });
      await standby.waitForLog(/stream\.(standby|sibling)/, { after: b1 });
      // One serves, the other stands by knowing its proofs. A stanza the server hands the
      // standby as a look of it closes may be lost (docs/not-done-yet.md): at most one here.
      let lost = 0;
      for (let i = 0; i < 20; i++) {
        const reply = await alice.request(request(`after-${i}`)).catch(() => undefined);
        if (reply === undefined) lost++;
        else assert.equal(reply.attrs.type, "result", reply.toString());
      }
      assert.ok(lost <= 1, `${lost} requests got no reply`);
      assert.doesNotMatch(standby.log().split("\n").slice(b1).join("\n"), /stream\.forged_ping/);
    } finally {
      await standby.kill();
    }
  },
  { servers: ["ejabberd"] },
);

/** Requesters' loops in the test under load: as many requests in flight at most. */
const LANES = 8;

withWorld(
  "SIGHUP with a new secret under load: what reaches a closing connection is handed on, not lost",
  async (world) => {
    await world.resource("a");
    const alice = await world.client("alice", "r");
    if (world.server.kind === "ejabberd") await rotateEjabberdSecret(world, ROTATED);
    else await rotateServerSecret(world, ROTATED);
    const outcomes = new Map<string, number>();
    let running = true;
    const loop = async (lane: number) => {
      for (let i = 0; running; i++) {
        const id = `${lane}-${i}`;
        const reply = await alice.request(request(id), { timeoutMs: 8_000 }).catch(() => undefined);
        const outcome = reply === undefined
          ? `no answer (${id})`
          : reply.attrs.type === "result"
          ? "result"
          : reply.getChild("error")?.children.find((c) => typeof c !== "string")?.toString() ??
            reply.toString();
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
    };
    const lanes = Array.from({ length: LANES }, (_, lane) => loop(lane));
    // At info, as before it: a debug line per request would load the machine more.
    const seen = await world.reload({ secret: ROTATED }, { log_level: "info" });
    await world.proxy.waitForLog(/target\.resource_up .*resource=a/, { after: seen });
    await new Promise((resolve) => setTimeout(resolve, 300));
    running = false;
    await Promise.all(lanes);
    const said = world.proxy.log().split("\n").slice(seen).filter((line) =>
      /proxy\.|stream\.|config\./.test(line)
    );
    const summary = `${JSON.stringify(Object.fromEntries(outcomes))}\n${said.join("\n")}`;
    // Prosody's `remote-server-timeout` and ejabberd's `forbidden` between the streams are
    // answers too.
    const unanswered = [...outcomes.keys()].filter((o) => o.startsWith("no answer"));
    if (world.server.kind === "prosody") {
      // What crossed the old stream's end was carried to the new one; no answer was lost, to
      // hold the old stream's grace.
      assert.deepEqual(unanswered, [], summary);
      assert.doesNotMatch(said.join("\n"), /proxy\.grace_ended/, summary);
    } else {
      // What reached the trial beside the serving stream went straight to it, not through the
      // server. ejabberd drops what it routes to a connection in the instant it ends (the
      // trial's, the old stream's): each lane's request at most (docs/not-done-yet.md).
      const trial = said.find((line) => /config\.secret_trial /.test(line)) ?? "";
      assert.ok(Number(trial.match(/ handed=(\d+)/)?.[1]) > 0, summary);
      assert.doesNotMatch(said.join("\n"), /stream\.forged_relay/, summary);
      assert.ok(unanswered.length <= LANES, summary);
    }
    assert.ok((outcomes.get("result") ?? 0) > 0, JSON.stringify(Object.fromEntries(outcomes)));
  },
  { servers: ["prosody", "ejabberd"] },
);

/**
 * Gives ejabberd's component the new secret (its config, then reload_config); streams stay.
 * ejabberd restarts the changed listener, refusing connections meanwhile (a trial would take
 * that for a server it cannot reach): this waits until it accepts again. If the new socket
 * cannot bind at once, ejabberd leaves the listener closed (seen in CI under load; ejabberd
 * issue 3850) and starts it at the next reload_config, which is tried then.
 */
async function rotateEjabberdSecret(world: World, secret: string): Promise<void> {
  const server = world.server as Ejabberd;
  const file = `${server.dir}/ejabberd.yml`;
  const text = await Deno.readTextFile(file);
  const rotated = text.replaceAll(`password: "${SECRET}"`, `password: "${secret}"`);
  assert.notEqual(rotated, text, "the component's password is in ejabberd's config");
  await Deno.writeTextFile(file, rotated);
  const before = server.log().length;
  for (let attempt = 0; attempt < 3; attempt++) {
    await server.ctl("reload_config");
    const back = await retry(() => Deno.connect({ port: server.componentPort }), {
      times: 25,
      pauseMs: 200,
    }).then((conn) => conn.close(), () => false);
    if (back !== false) return;
  }
  const said = server.log().slice(before).split("\n").filter((line) =>
    /listen|accepting|eaddrinuse|error/i.test(line)
  );
  throw new Error(
    `ejabberd's component listener is not back after reload_config:\n${said.slice(-20).join("\n")}`,
  );
}

const ROTATED = "rotated-secret-for-tests";

/** Gives Prosody's component a new secret (its config, then SIGHUP) and waits until it has it. */
async function rotateServerSecret(world: World, secret: string): Promise<void> {
  const file = `${world.server.dir}/prosody.cfg.lua`;
  const text = await Deno.readTextFile(file);
  const rotated = text.replace(`component_secret = "${SECRET}"`, `component_secret = "${secret}"`);
  assert.notEqual(rotated, text, "the component's secret is in Prosody's config");
  await Deno.writeTextFile(file, rotated);
  const reloads = () => world.server.log().match(/Reloading configuration file/g)?.length ?? 0;
  const before = reloads();
  world.server.signal("SIGHUP");
  const deadline = Date.now() + 5_000;
  while (reloads() === before) {
    if (Date.now() > deadline) throw new Error(`Prosody did not reload:\n${world.server.log()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A GET to the proxy's HTTP listener on `port`, bounded. */
async function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    signal: AbortSignal.timeout(5_000),
  });
  return { status: response.status, body: await response.text() };
}

/**
 * The worker's runtime (src/app/runtime.ts) with a fake HTTP listener and
 * fake streams: a reload is all or nothing, and counted.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/parse.ts";
import type { Config } from "../../src/config/types.ts";
import type { Link, LinkOptions } from "../../src/link/connection.ts";
import { formatAddress, type HttpAddress } from "../../src/ops/http.ts";
import { Runtime, type RuntimeDeps } from "../../src/app/runtime.ts";
import { parseXml, type XmlElement } from "../../src/core/xml.ts";
import { type Logging, ReloadFailed } from "../../src/app/worker_protocol.ts";
import { serveWorker } from "../../src/app/supervisor.ts";
import { captureLogs } from "../support/logs.ts";
import { fakeWorkerPort } from "../support/worker_port.ts";
import { bounded } from "../support/bounded.ts";
import { ALICE, DOMAIN, FakeLink, online, request, TARGET } from "../support/proxy_shell.ts";

const LOGGING: Logging = { level: "fatal", format: "text", fields: {} };
const FOCUS = "http://jitsi.org/protocol/focus";
// Ports of the fake listener: none is ever bound. This one is "in use".
const TAKEN = 9002;

function config(
  options: { http?: number; secret: string; target?: string; affinity?: boolean },
): Config {
  const parsed = parseConfig(
    `server: xmpp://127.0.0.1:5347
${options.http === undefined ? "" : `http: 127.0.0.1:${options.http}`}
proxies:
  - domain: proxy.example.org
    secret: ${options.secret}
    target_address: ${options.target ?? "service@example.org"}
    ${options.affinity ? `affinity: ["{${FOCUS}}conference@room"]` : ""}
`,
    { file: "test.yaml" },
  );
  if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
  return parsed.config;
}

/** What the fakes saw, in order, and the handler of the last listener bound. */
class Fakes {
  readonly events: string[] = [];
  /** The new secrets tried, each with the old one; one starting with "bad" is refused. */
  readonly tried: string[] = [];
  handler: ((req: Request) => Promise<Response>) | undefined;
  readonly runtime = new Runtime({
    checkSecret: async (next, current, refused) => {
      this.tried.push(`${refused ? "(refused) " : ""}${current.secret} -> ${next.secret}`);
      // A trial that takes a while, as one to a silent server does.
      if (next.secret.startsWith("slow")) await new Promise((resolve) => setTimeout(resolve, 100));
      return await Promise.resolve(
        next.secret.startsWith("bad")
          ? { kind: "refused", condition: "not-authorized" }
          : next.secret.startsWith("unreachable")
          ? { kind: "unknown", reason: "ECONNREFUSED" }
          : next.secret.startsWith("lossy")
          ? { kind: "accepted", lostAtClose: 2 }
          : { kind: "accepted" },
      );
    },
    serve: (address: HttpAddress, handler) => {
      const at = formatAddress(address);
      if (address.port === TAKEN) throw new Deno.errors.AddrInUse("Address already in use");
      this.events.push(`listen ${at}`);
      this.handler = handler;
      return {
        shutdown: () => {
          this.events.push(`close ${at}`);
          return Promise.resolve();
        },
      };
    },
    openLink: (options: LinkOptions): Link => {
      this.events.push(`connect ${options.secret}`);
      return {
        get state() {
          return options.secret.startsWith("refused")
            ? "refused"
            : options.secret.startsWith("up")
            ? "online"
            : "connecting";
        },
        send: () => {},
        stop: () => {
          this.events.push(`disconnect ${options.secret}`);
          return Promise.resolve();
        },
        retune: () => this.events.push(`retune ${options.secret}`),
      };
    },
  });

  /** `client_proxy_config_reloads_total` by result, as /metrics says. */
  async reloads(): Promise<Record<string, number>> {
    const text = await this.metrics();
    const count = (result: string) =>
      Number(
        text.match(
          new RegExp(`^client_proxy_config_reloads_total\\{result="${result}"\\} (\\d+)$`, "m"),
        )?.[1],
      );
    return { ok: count("ok"), failed: count("failed") };
  }

  /** `client_proxy_config_last_reload_successful`, as /metrics says. */
  async lastReloadSuccessful(): Promise<number> {
    const text = await this.metrics();
    return Number(text.match(/^client_proxy_config_last_reload_successful (\d+)$/m)?.[1]);
  }

  async metrics(): Promise<string> {
    const response = await this.handler!(new Request("http://127.0.0.1/metrics"));
    return await response.text();
  }
}

Deno.test("a start whose HTTP address is taken fails naming the address", () =>
  bounded(5_000, async () => {
    const fakes = new Fakes();
    await assert.rejects(
      async () => await fakes.runtime.start(config({ http: TAKEN, secret: "s" }), LOGGING),
      /^Error: the HTTP listener cannot listen on 127\.0\.0\.1:9002: Address already in use/,
    );
    assert.deepEqual(fakes.events, [], "no proxy connects");
  }));

Deno.test("a reload whose HTTP address is taken changes nothing; the next one is compared with the old config", () =>
  bounded(5_000, async () => {
    const fakes = new Fakes();
    await fakes.runtime.start(config({ http: 9001, secret: "old" }), LOGGING);
    assert.deepEqual(fakes.events.splice(0), ["listen 127.0.0.1:9001", "connect old"]);

    await assert.rejects(
      fakes.runtime.reload(config({ http: TAKEN, secret: "new" }), LOGGING),
      /the HTTP listener cannot listen on 127\.0\.0\.1:9002: Address already in use/,
    );
    assert.deepEqual(fakes.events.splice(0), [], "the old listener and stream stay, untouched");
    assert.deepEqual(await fakes.reloads(), { ok: 0, failed: 1 });

    // Against the config in force (port 9001, old secret): only the secret changed.
    await fakes.runtime.reload(config({ http: 9001, secret: "new" }), LOGGING);
    assert.deepEqual(fakes.events.splice(0), ["disconnect old", "connect new"]);
    assert.deepEqual(await fakes.reloads(), { ok: 1, failed: 1 });
    await fakes.runtime.stop("SIGTERM");
  }));

Deno.test("a reload binds the new HTTP address before it closes the old one", () =>
  bounded(5_000, async () => {
    const fakes = new Fakes();
    await fakes.runtime.start(config({ http: 9001, secret: "s" }), LOGGING);
    fakes.events.splice(0);
    await fakes.runtime.reload(config({ http: 9003, secret: "s" }), LOGGING);
    assert.deepEqual(fakes.events.splice(0), [
      "listen 127.0.0.1:9003",
      "close 127.0.0.1:9001",
      "retune s",
    ]);
    // Without `http:` the listener goes, and nothing else moves.
    await fakes.runtime.reload(config({ secret: "s" }), LOGGING);
    assert.deepEqual(fakes.events.splice(0), ["close 127.0.0.1:9003", "retune s"]);
    await fakes.runtime.stop("SIGTERM");
  }));

Deno.test("a reload the main thread refused counts as failed", () =>
  bounded(5_000, async () => {
    const fakes = new Fakes();
    await fakes.runtime.start(config({ http: 9001, secret: "s" }), LOGGING);
    fakes.runtime.reloadRefused();
    fakes.runtime.reloadRefused();
    assert.deepEqual(await fakes.reloads(), { ok: 0, failed: 2 });
    await fakes.runtime.stop("SIGTERM");
  }));

/** `config`, with a `deny` pattern no router takes (the config's parser would refuse it). */
function unrunnable(options: { http?: number; secret: string }): Config {
  const good = config(options);
  return { ...good, proxies: [{ ...good.proxies[0], deny: ["not a pattern"] }] };
}

Deno.test("a reload a proxy cannot run with changes nothing, not even the HTTP address; counted failed", () =>
  bounded(5_000, async () => {
    const fakes = new Fakes();
    await fakes.runtime.start(config({ http: 9001, secret: "s" }), LOGGING);
    fakes.events.splice(0);

    const rejected = await fakes.runtime.reload(unrunnable({ http: 9003, secret: "s" }), LOGGING)
      .then(() => undefined, (error) => error);
    assert.ok(rejected instanceof ReloadFailed, String(rejected));
    assert.equal(rejected.reason, "apply_failed");
    assert.match(rejected.message, /^proxy\.example\.org: deny: expected a pattern like /);
    assert.deepEqual(fakes.events.splice(0), [], "no listener bound, no proxy retuned");
    assert.deepEqual(await fakes.reloads(), { ok: 0, failed: 1 });
    assert.equal(await fakes.lastReloadSuccessful(), 0);

    // Compared with the config in force (port 9001): the address moves now.
    await fakes.runtime.reload(config({ http: 9003, secret: "s" }), LOGGING);
    assert.deepEqual(fakes.events.splice(0), [
      "listen 127.0.0.1:9003",
      "close 127.0.0.1:9001",
      "retune s",
    ]);
    assert.deepEqual(await fakes.reloads(), { ok: 1, failed: 1 });
    assert.equal(await fakes.lastReloadSuccessful(), 1);
    await fakes.runtime.stop("SIGTERM");
  }));

Deno.test("in the worker, a failed reload is logged once with its reason and answered not applied", () =>
  bounded(5_000, async () => {
    const fakes = new Fakes();
    const { port, posted, send } = fakeWorkerPort();
    // Started first: its start sets up logging from LOGGING, a failed reload does not.
    await fakes.runtime.start(config({ http: 9001, secret: "s" }), LOGGING);
    const logs = captureLogs();
    try {
      serveWorker(fakes.runtime, port);
      send({ type: "reload", serial: 1, config: unrunnable({ secret: "s" }), logging: LOGGING });
      send({
        type: "reload",
        serial: 2,
        config: config({ http: TAKEN, secret: "s" }),
        logging: LOGGING,
      });
      while (posted.length < 3) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.deepEqual(posted.slice(1), [
        { type: "reloaded", serial: 1, applied: false },
        { type: "reloaded", serial: 2, applied: false },
      ]);
      assert.deepEqual(await fakes.reloads(), { ok: 0, failed: 2 });
      assert.equal(await fakes.lastReloadSuccessful(), 0);
      await fakes.runtime.stop("SIGTERM");
    } finally {
      logs.restore();
    }
    const failed = logs.lines.filter((line) => /reload_failed|reconfigure/.test(line));
    assert.equal(failed.length, 2, logs.lines.join(""));
    assert.match(
      failed[0],
      /ERROR +main config\.reload_failed reason=apply_failed error="proxy\.example\.org: deny: /,
    );
    assert.match(
      failed[1],
      /ERROR +main config\.reload_failed reason=bind_failed error="the HTTP listener cannot listen on 127\.0\.0\.1:9002: Address already in use"/,
    );
  }));

Deno.test("a reload whose new secret the server refuses changes nothing; the stream keeps the old", () =>
  bounded(5_000, async () => {
    const fakes = new Fakes();
    await fakes.runtime.start(config({ http: 9001, secret: "old" }), LOGGING);
    fakes.events.splice(0);
    await assert.rejects(
      fakes.runtime.reload(config({ http: 9003, secret: "bad-typo" }), LOGGING),
      (error: unknown) =>
        error instanceof ReloadFailed && error.reason === "secret_refused" &&
        error.message ===
          "the server refused the new secret of proxy.example.org (not-authorized): the running " +
            "stream keeps the old one",
    );
    assert.deepEqual(fakes.tried, ["old -> bad-typo"]);
    assert.deepEqual(fakes.events, [], "no listener moved, no stream dropped");
    assert.deepEqual(await fakes.reloads(), { ok: 0, failed: 1 });
    // Accepted: the stream reconnects with it. Unchanged: not tried again.
    await fakes.runtime.reload(config({ http: 9001, secret: "rotated" }), LOGGING);
    await fakes.runtime.reload(config({ http: 9001, secret: "rotated" }), LOGGING);
    assert.deepEqual(fakes.tried, ["old -> bad-typo", "old -> rotated"]);
    // (The second reload retunes the stream in place.)
    assert.deepEqual(fakes.events, ["disconnect old", "connect rotated", "retune rotated"]);
  }));

/** From `old` to `secret` by a reload: the streams' events and the log lines it wrote. */
async function reloadLogged(secret: string): Promise<{ events: string[]; log: string }> {
  const fakes = new Fakes();
  await fakes.runtime.start(config({ secret: "old" }), LOGGING);
  fakes.events.splice(0);
  const logs = captureLogs();
  try {
    await fakes.runtime.reload(config({ secret }), LOGGING);
  } finally {
    logs.restore();
  }
  return { events: fakes.events, log: logs.lines.join("") };
}

Deno.test("a reload whose new secret cannot be tried (no answer) goes on, and says so", () =>
  bounded(5_000, async () => {
    const { events, log } = await reloadLogged("unreachable-but-new");
    assert.deepEqual(events, ["disconnect old", "connect unreachable-but-new"]);
    assert.match(
      log,
      /WARNING +main config\.secret_untried domain=proxy\.example\.org reason=ECONNREFUSED action="reloading without trying it"/,
    );
  }));

Deno.test("a new secret whose trial lost stanzas as it closed, with no serving proxy to take them: said", () =>
  bounded(5_000, async () => {
    const { events, log } = await reloadLogged("lossy-new");
    assert.deepEqual(events, ["disconnect old", "connect lossy-new"]);
    assert.match(
      log,
      /WARNING +main config\.secret_tried domain=proxy\.example\.org lost_at_close=2/,
    );
  }));

Deno.test("a new secret is tried knowing whether the server refuses the old one", () =>
  bounded(5_000, async () => {
    const fakes = new Fakes();
    await fakes.runtime.start(config({ secret: "old" }), LOGGING);
    await fakes.runtime.reload(config({ secret: "new" }), LOGGING);
    // The stream's secret is refused: an instance beside the trial can only hold the new one.
    await fakes.runtime.reload(config({ secret: "refused-old" }), LOGGING);
    await fakes.runtime.reload(config({ secret: "right" }), LOGGING);
    assert.deepEqual(fakes.tried, [
      "old -> new",
      "new -> refused-old",
      "(refused) refused-old -> right",
    ]);
  }));

Deno.test("a serving stream is not given up for a new secret that could not be tried", () =>
  bounded(5_000, async () => {
    const fakes = new Fakes();
    await fakes.runtime.start(config({ secret: "up-old" }), LOGGING);
    fakes.events.splice(0);
    await assert.rejects(
      fakes.runtime.reload(config({ secret: "unreachable-new" }), LOGGING),
      (error: unknown) => error instanceof ReloadFailed && error.reason === "secret_untried",
    );
    assert.deepEqual(fakes.events, [], "the serving stream stays");
  }));

Deno.test("in the worker, a stop that comes while a secret is tried: the reload is not applied", () =>
  bounded(5_000, async () => {
    const fakes = new Fakes();
    const { port, posted, send } = fakeWorkerPort();
    await fakes.runtime.start(config({ secret: "old" }), LOGGING);
    fakes.events.splice(0);
    serveWorker(fakes.runtime, port);
    send({ type: "reload", serial: 1, config: config({ secret: "slow-new" }), logging: LOGGING });
    send({ type: "stop", signal: "SIGTERM" });
    while (!posted.some((m) => m.type === "stopped")) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.deepEqual(posted.find((m) => m.type === "reloaded"), {
      type: "reloaded",
      serial: 1,
      applied: false,
    });
    assert.deepEqual(fakes.events, ["disconnect old"], "no stream opened to be shut at once");
  }));

/** A runtime on fake streams (tests/support/proxy_shell.ts) whose new secrets are all accepted. */
function onFakeLinks(
  checkSecret: RuntimeDeps["checkSecret"] = () => Promise.resolve({ kind: "accepted" }),
): { runtime: Runtime; links: FakeLink[] } {
  const links: FakeLink[] = [];
  const runtime = new Runtime({
    checkSecret,
    openLink: (options) => {
      const link = new FakeLink();
      links.push(link);
      return link.open(options);
    },
  });
  return { runtime, links };
}

Deno.test("a reload that reconnects hands what crossed the old stream's end to the new stream", () =>
  bounded(5_000, async () => {
    const { runtime, links } = onFakeLinks();
    await runtime.start(config({ secret: "old" }), LOGGING);
    const [old] = links;
    online(old);
    old.onStop = () => old.receive(request("crossed"));
    await runtime.reload(config({ secret: "new" }), LOGGING);
    assert.deepEqual(old.take(), [
      `<presence type="unavailable" to="${TARGET}" from="${DOMAIN}"/>`,
    ]);
    const next = links[1];
    next.online();
    assert.deepEqual(next.take(), [`<presence type="subscribe" to="${TARGET}" from="${DOMAIN}"/>`]);
    next.receive(`<presence from="${TARGET}/a" to="${DOMAIN}"/>`);
    assert.deepEqual(next.take(), [
      `<iq type="get" id="crossed" from="${DOMAIN}/${ALICE}" to="${TARGET}/a"><ping xmlns="urn:xmpp:ping"/></iq>`,
    ]);
    next.receive(`<iq type="result" id="crossed" from="${TARGET}/a" to="${DOMAIN}/${ALICE}"/>`);
    assert.deepEqual(next.take(), [
      `<iq type="result" id="crossed" from="${DOMAIN}" to="${ALICE}"/>`,
    ]);
  }));

Deno.test("a new target_address: what the old one sent as the stream closed is lost, not handed on", () =>
  bounded(5_000, async () => {
    const { runtime, links } = onFakeLinks();
    await runtime.start(config({ secret: "s" }), LOGGING);
    const [old] = links;
    online(old);
    old.onStop = () => {
      old.receive(
        `<iq type="set" id="t1" from="${TARGET}/a" to="${DOMAIN}/bob@example.net"><q xmlns="x"/></iq>`,
      );
      old.receive(request("crossed"));
    };
    await runtime.reload(config({ secret: "s", target: "newsvc@example.org" }), LOGGING);
    const next = links[1];
    next.online();
    next.receive(`<presence from="newsvc@example.org/z" to="${DOMAIN}"/>`);
    // The user's request goes to the new target; the old target's own is not taken for a user's.
    assert.deepEqual(next.take().filter((text) => text.startsWith("<iq")), [
      `<iq type="get" id="crossed" from="${DOMAIN}/${ALICE}" to="newsvc@example.org/z"><ping xmlns="urn:xmpp:ping"/></iq>`,
    ]);
  }));

/** Where each room's conference request goes on `link`, each answered at once. */
function placeRooms(link: FakeLink, rooms: readonly string[]): string[] {
  return rooms.map((room, i) => {
    link.receive(
      `<iq type="set" id="c${i}" from="${ALICE}" to="${DOMAIN}"><conference xmlns="${FOCUS}" room="${room}"/></iq>`,
    );
    const [forward] = link.take();
    const to = /to="([^"]+)"/.exec(forward)?.[1] ?? "";
    link.receive(`<iq type="result" id="c${i}" from="${to}" to="${DOMAIN}/${ALICE}"/>`);
    link.take();
    return to.slice(to.indexOf("/") + 1);
  });
}

Deno.test("a reload that reconnects keeps every room where it runs, without a store; not for a new target", () =>
  bounded(5_000, async () => {
    const rooms = Array.from({ length: 24 }, (_, i) => `room${i}@conference.example.org`);
    const { runtime, links } = onFakeLinks();
    await runtime.start(config({ secret: "s1", affinity: true }), LOGGING);
    const announce = (link: FakeLink, names: string[]) => {
      for (const name of names) link.receive(`<presence from="${TARGET}/${name}" to="${DOMAIN}"/>`);
      link.take();
    };
    links[0].online();
    announce(links[0], ["a", "b", "c"]);
    const before = placeRooms(links[0], rooms);
    // The new stream hears of a fourth resource, which would take a share of the rooms placed afresh.
    await runtime.reload(config({ secret: "s2", affinity: true }), LOGGING);
    links[1].online();
    announce(links[1], ["d", "c", "b", "a"]);
    assert.deepEqual(placeRooms(links[1], rooms), before);
    // A new account's resources are not the old one's: its rooms are placed afresh.
    await runtime.reload(
      config({ secret: "s2", affinity: true, target: "other@example.org" }),
      LOGGING,
    );
    links[2].online();
    for (const name of ["d", "c", "b", "a"]) {
      links[2].receive(`<presence from="other@example.org/${name}" to="${DOMAIN}"/>`);
    }
    links[2].take();
    const fresh = placeRooms(links[2], rooms);
    assert.ok(fresh.includes("d"), fresh.join(" "));
    await runtime.stop("SIGTERM");
  }));

Deno.test("a stop: a request that crossed the stream's end is said lost", () =>
  bounded(5_000, async () => {
    const { runtime, links } = onFakeLinks();
    await runtime.start(config({ secret: "old" }), LOGGING);
    online(links[0]);
    links[0].onStop = () => {
      links[0].receive(request("crossed"));
      links[0].receive(`<message from="${ALICE}" to="${DOMAIN}"><body>hi</body></message>`);
      // The target's presence is not lost: the next stream asks for it afresh.
      links[0].receive(`<presence from="${TARGET}/b" to="${DOMAIN}"/>`);
    };
    const logs = captureLogs();
    try {
      await runtime.stop("SIGTERM");
    } finally {
      logs.restore();
    }
    assert.match(
      logs.lines.join(""),
      /WARNING +main proxy\.lost_at_close domain=proxy\.example\.org stanzas=2 requests=1 hint="the server routed them before it read the stream's end .*they get no answer from the proxy"/,
    );
  }));

Deno.test("what reaches a secret trial goes straight to the proxy serving the domain here", () =>
  bounded(5_000, async () => {
    let local: ((stanza: XmlElement) => void) | undefined;
    const { runtime, links } = onFakeLinks((_next, _current, _refused, serving) => {
      local = serving;
      // What the server routes to the trial's connection while it is up.
      serving?.(parseXml(request("beside")));
      return Promise.resolve({ kind: "accepted" });
    });
    await runtime.start(config({ secret: "old" }), LOGGING);
    const [old] = links;
    online(old);
    const reloaded = runtime.reload(config({ secret: "new" }), LOGGING);
    assert.ok(local, "the trial was given the serving proxy");
    assert.deepEqual(old.take(), [
      `<iq type="get" id="beside" from="${DOMAIN}/${ALICE}" to="${TARGET}/a"><ping xmlns="urn:xmpp:ping"/></iq>`,
    ]);
    old.receive(`<iq type="result" id="beside" from="${TARGET}/a" to="${DOMAIN}/${ALICE}"/>`);
    await reloaded;
    assert.deepEqual(old.take(), [
      `<iq type="result" id="beside" from="${DOMAIN}" to="${ALICE}"/>`,
      `<presence type="unavailable" to="${TARGET}" from="${DOMAIN}"/>`,
    ]);
    assert.equal(links.length, 2, "reconnected");
  }));

Deno.test("a trial beside a proxy that does not serve here is given none to hand stanzas to", () =>
  bounded(5_000, async () => {
    const given: boolean[] = [];
    const { runtime, links } = onFakeLinks((_next, _current, _refused, local) => {
      given.push(local !== undefined);
      return Promise.resolve({ kind: "accepted" });
    });
    await runtime.start(config({ secret: "old" }), LOGGING);
    // Online, but as a look from standby: it serves nothing.
    links[0].online(true);
    await runtime.reload(config({ secret: "new" }), LOGGING);
    // Connecting again, nothing served yet.
    await runtime.reload(config({ secret: "newer" }), LOGGING);
    assert.deepEqual(given, [false, false]);
  }));

Deno.test("a trial is judged by the secret it proved with, though the stream's refusal came meanwhile", () =>
  bounded(5_000, async () => {
    const refusedAtTrial: boolean[] = [];
    const { runtime, links } = onFakeLinks((_next, _current, refused) => {
      refusedAtTrial.push(refused);
      // The standby's look is refused while the trial runs: the server has the new secret.
      links[0].state = "refused";
      // Proving with the old secret, the trial met the instance that serves with it.
      return Promise.resolve({ kind: "accepted", siblings: [["other001", 1_000]] });
    });
    await runtime.start(config({ secret: "old" }), LOGGING);
    links[0].state = "standby";
    await assert.rejects(
      runtime.reload(config({ secret: "new" }), LOGGING),
      (error: unknown) => error instanceof ReloadFailed && error.reason === "sibling_not_rotated",
    );
    assert.deepEqual(refusedAtTrial, [false]);
    assert.equal(links.length, 1, "the standby was not reconnected");
  }));

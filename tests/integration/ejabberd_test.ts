/**
 * Self-test of the ejabberd launcher (tests/support/ejabberd.ts), and the
 * ejabberd behaviour the proxy and the README rely on, checked on the real
 * server: several connections for one component domain, where a component's
 * pings to its own domain go, what a repeated `subscribe` and a `probe` get.
 *
 * Needs Debian's `ejabberd` (erl on PATH); run with
 * `deno test -A tests/integration/ejabberd_test.ts`.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { connectClient, echoHandler, iqAfterRestart } from "../support/client.ts";
import { startEjabberd } from "../support/ejabberd.ts";
import { acceptsTcp } from "../support/prosody.ts";
import { xml } from "../../src/core/xml.ts";
import { bounded } from "../support/bounded.ts";

const COMPONENT = { domain: "proxy.localhost", secret: "harness-secret" };
const ALICE = { username: "alice", password: "alice-pw" };
const BOB = { username: "bob", password: "bob-pw" };
const SERVICE = { username: "service", password: "service-pw" };
const OPTIONS = { sanitizeOps: false, sanitizeResources: false };

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Whether process `pid` exists (SIGCONT, as Deno.kill offers no signal 0;
 * harmless to a running node). The node is our child: no zombie lingers.
 */
function running(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * A bare XEP-0114 component over TCP that records what it receives and
 * answers nothing: to see exactly where ejabberd routes a stanza.
 */
class RawComponent {
  received = "";
  closed = false;
  #pump: Promise<void>;

  private constructor(readonly conn: Deno.TcpConn) {
    this.#pump = (async () => {
      try {
        for await (const text of conn.readable.pipeThrough(new TextDecoderStream())) {
          this.received += text;
        }
      } catch { /* closed by us */ }
      this.closed = true;
    })();
  }

  static async connect(port: number, domain: string, secret: string): Promise<RawComponent> {
    const component = new RawComponent(await Deno.connect({ hostname: "127.0.0.1", port }));
    await component.write(
      `<stream:stream xmlns='jabber:component:accept' ` +
        `xmlns:stream='http://etherx.jabber.org/streams' to='${domain}'>`,
    );
    const id = (await component.waitFor(/<stream:stream [^>]*\bid='([^']+)'/))[1];
    const hash = createHash("sha1").update(id + secret, "latin1").digest("hex");
    await component.write(`<handshake>${hash}</handshake>`);
    await component.waitFor(/<handshake\/>|<stream:error>/);
    assert.match(component.received, /<handshake\/>/, "handshake accepted");
    return component;
  }

  write(text: string): Promise<number> {
    return this.conn.write(new TextEncoder().encode(text));
  }

  async waitFor(pattern: RegExp, timeoutMs = 5_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const match = this.received.match(pattern);
      if (match) return match;
      if (this.closed || Date.now() > deadline) {
        throw new Error(`no ${pattern} within ${timeoutMs} ms; received: ${this.received}`);
      }
      await delay(20);
    }
  }

  /** How many iq stanzas with an id starting with `prefix` arrived. */
  count(prefix: string): number {
    return [...this.received.matchAll(/<iq [^>]*\bid='([^']*)'/g)]
      .filter((m) => m[1].startsWith(prefix)).length;
  }

  async close(): Promise<void> {
    try {
      this.conn.close();
    } catch { /* already closed */ }
    await this.#pump;
  }
}

Deno.test({
  name: "ejabberd harness: iq between two clients, non-ASCII resource, accounts via ejabberd_ctl",
  ...OPTIONS,
  async fn() {
    await bounded(30_000, async () => {
      const started = performance.now();
      await using server = await startEjabberd({ components: [COMPONENT], users: [ALICE, BOB] });
      console.log(`ejabberd start + 2 accounts: ${Math.round(performance.now() - started)} ms`);
      assert.equal(server.kind, "ejabberd");
      assert.equal(server.domain, "localhost");
      assert.equal(server.c2sUrl, `xmpp://127.0.0.1:${server.c2sPort}`);
      assert.equal(server.componentUrl, `xmpp://127.0.0.1:${server.componentPort}`);
      assert.equal(
        (await server.ctl("registered_users", "localhost")).split("\n").filter(Boolean).sort()
          .join(","),
        "alice,bob",
      );
      const common = { service: server.c2sUrl, domain: server.domain };
      await using alice = await connectClient({ ...common, ...ALICE, resource: "a1" });
      await using bob = await connectClient({ ...common, ...BOB, resource: "télé☎𝄞" });
      assert.equal(bob.jid, "bob@localhost/télé☎𝄞");
      bob.onRequest(echoHandler(() => xml("answer", { xmlns: "urn:x" })));
      const reply = await alice.request(
        xml("iq", { type: "get", id: "h1", to: bob.jid }, xml("q", { xmlns: "urn:x" })),
      );
      assert.equal(reply.attrs.type, "result");
      assert.equal(reply.attrs.from, bob.jid);
      assert.ok(reply.getChild("answer", "urn:x"));
      await assert.rejects(
        server.register(ALICE),
        /ejabberd_ctl register alice localhost .* failed \(exit 1\)[^]*already registered/,
      );
      await assert.rejects(
        connectClient({ ...common, username: "alice", password: "wrong" }),
        /connectClient\(alice@localhost .*not-authorized/,
      );
    });
  },
});

Deno.test({
  name: "ejabberd harness: restart keeps accounts and ports; stop leaves no process, port or dir",
  ...OPTIONS,
  async fn() {
    await bounded(40_000, async () => {
      const server = await startEjabberd({ components: [COMPONENT], users: [ALICE] });
      const pid = server.pid!;
      let children: string[] = [];
      try {
        assert.ok(running(pid), "the node runs");
        children = server.childProcesses();
        console.log(`the node's children: ${children.join("; ") || "(not visible)"}`);
        assert.ok(!children.some((cmd) => /epmd/.test(cmd)), `no epmd started: ${children}`);
        const common = { service: server.c2sUrl, domain: server.domain };
        const before = await connectClient({ ...common, ...ALICE });
        try {
          const started = performance.now();
          await server.restart();
          console.log(`ejabberd restart: ${Math.round(performance.now() - started)} ms`);
          await delay(300);
          assert.ok(!before.online, "the old session is gone");
        } finally {
          await before.stop();
        }
        assert.ok(!running(pid), "the first node is gone after restart()");
        const reply = await iqAfterRestart(server, { asker: ALICE, answerer: BOB });
        assert.equal(reply.attrs.type, "result");
        assert.match(server.log(), /SIGTERM received - shutting down/);
      } finally {
        const pidNow = server.pid!;
        const stopping = performance.now();
        await server.stop();
        console.log(`ejabberd stop: ${Math.round(performance.now() - stopping)} ms`);
        assert.ok(!running(pidNow), "the node is gone");
      }
      await server.stop(); // idempotent
      assert.deepEqual(server.leftoverProcesses(), [], `children were ${children}`);
      assert.ok(!(await acceptsTcp(server.c2sPort)), "c2s port closed");
      assert.ok(!(await acceptsTcp(server.componentPort)), "component port closed");
      assert.ok(!(await acceptsTcp(server.distPort)), "distribution port closed");
      await assert.rejects(Deno.stat(server.dir), Deno.errors.NotFound);
    });
  },
});

Deno.test({
  name: "ejabberd harness: without erl, a clear install hint",
  ...OPTIONS,
  async fn() {
    const code = `
      import { startEjabberd } from ${
      JSON.stringify(import.meta.resolve("../support/ejabberd.ts"))
    };
      try { await startEjabberd(); } catch (err) { console.log(String(err)); }
    `;
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["eval", code],
      env: { PATH: "/nonexistent" },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    const text = new TextDecoder().decode(output.stdout) +
      new TextDecoder().decode(output.stderr);
    assert.match(
      text,
      /ejabberd not found: install it with "apt-get install ejabberd" \(Debian\/Ubuntu\)/,
    );
  },
});

Deno.test({
  name: "ejabberd: two connections for one component domain are both accepted, " +
    "and stanzas (self-addressed pings too) go to either at random",
  ...OPTIONS,
  async fn() {
    await bounded(30_000, async () => {
      await using server = await startEjabberd({ components: [COMPONENT], users: [ALICE] });
      const { domain, secret } = COMPONENT;
      const first = await RawComponent.connect(server.componentPort, domain, secret);
      const second = await RawComponent.connect(server.componentPort, domain, secret);
      try {
        await using alice = await connectClient({
          service: server.c2sUrl,
          domain: server.domain,
          ...ALICE,
        });
        const N = 40;
        for (let i = 0; i < N; i++) {
          await alice.send(xml("iq", { type: "get", id: `req-${i}`, to: domain }, xml("q")));
          // a component's own keepalive: a ping from its domain to its domain
          await first.write(
            `<iq type='get' id='ping-${i}' from='${domain}' to='${domain}'>` +
              `<ping xmlns='urn:xmpp:ping'/></iq>`,
          );
        }
        const arrived = async (prefix: string) => {
          const deadline = Date.now() + 5_000;
          while (first.count(prefix) + second.count(prefix) < N && Date.now() < deadline) {
            await delay(20);
          }
          return [first.count(prefix), second.count(prefix)];
        };
        const requests = await arrived("req-");
        const pings = await arrived("ping-");
        console.log(`requests split ${requests.join("/")}, self-pings split ${pings.join("/")}`);
        // every stanza is delivered once, to one of the two, and both get some
        // (each of N=40 at random: both > 0 fails with probability 2^-39)
        for (const [what, [a, b]] of [["requests", requests], ["self-pings", pings]] as const) {
          assert.equal(a + b, N, `${what}: ${a}/${b}`);
          assert.ok(a > 0 && b > 0, `${what} split ${a}/${b}`);
        }
        assert.ok(!first.closed && !second.closed, "neither connection was closed");
      } finally {
        await first.close();
        await second.close();
      }
    });
  },
});

Deno.test({
  name: "ejabberd: a self-addressed ping comes back to the only connection",
  ...OPTIONS,
  async fn() {
    await bounded(20_000, async () => {
      await using server = await startEjabberd({ components: [COMPONENT] });
      const { domain, secret } = COMPONENT;
      const component = await RawComponent.connect(server.componentPort, domain, secret);
      try {
        await component.write(
          `<iq type='get' id='self-1' from='${domain}' to='${domain}'>` +
            `<ping xmlns='urn:xmpp:ping'/></iq>`,
        );
        const [ping] = await component.waitFor(/<iq [^>]*id='self-1'[^>]*>/);
        assert.match(ping, /type='get'/);
        assert.match(ping, new RegExp(`from='${domain}'`));
        await component.write(`<iq type='result' id='self-1' from='${domain}' to='${domain}'/>`);
        await component.waitFor(
          /<iq [^>]*id='self-1'[^>]*type='result'|<iq [^>]*type='result'[^>]*id='self-1'/,
        );
      } finally {
        await component.close();
      }
    });
  },
});

Deno.test({
  name: "ejabberd: a repeated subscribe gets `subscribed` but no presence; a probe gets it",
  ...OPTIONS,
  async fn() {
    await bounded(30_000, async () => {
      await using server = await startEjabberd({ components: [COMPONENT], users: [SERVICE] });
      const { domain, secret } = COMPONENT;
      await using _service = await connectClient({
        service: server.c2sUrl,
        domain: server.domain,
        ...SERVICE,
        resource: "a",
      });
      const subscribe = `<presence type='subscribe' from='${domain}' to='service@localhost'/>`;
      const available = /<presence [^>]*from='service@localhost\/a'(?![^>]*type=)[^>]*>/;
      // First time: the client approves (autoApprove); ejabberd then sends
      // `subscribed` and the current presence of every resource.
      const first = await RawComponent.connect(server.componentPort, domain, secret);
      try {
        await first.write(subscribe);
        await first.waitFor(/type='subscribed'/);
        await first.waitFor(available);
      } finally {
        await first.close();
      }
      // Again, as a restarted component does: `subscribed` on the account's
      // behalf, and no presence (Prosody sends it); a probe brings it.
      const again = await RawComponent.connect(server.componentPort, domain, secret);
      try {
        await again.write(subscribe);
        await again.waitFor(/type='subscribed'/);
        await delay(1_000);
        assert.doesNotMatch(again.received, available, "no presence after a repeated subscribe");
        await again.write(`<presence type='probe' from='${domain}' to='service@localhost'/>`);
        await again.waitFor(available);
      } finally {
        await again.close();
      }
    });
  },
});

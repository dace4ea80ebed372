/**
 * One integration scenario's world: a real server (Prosody, or ejabberd)
 * with the proxy's component and three accounts (service, alice, bob), the
 * proxy started as a user starts it, and the clients a test connects; all
 * cleaned up.
 */
import assert from "node:assert/strict";
import { connectClient, echoHandler, type TestClient } from "./client.ts";
import { type ServerKind, startServer, type XmppServer } from "./server.ts";
import { type ProxyEntry, type ProxyOptions, type ProxyProcess, startProxy } from "./proxy.ts";
import { xml, type XmlElement } from "../../src/core/xml.ts";

export const DOMAIN = "proxy.localhost";
export const SECRET = "s3cret-for-tests";
export const TARGET = "service@localhost";
export const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

/** A server with the component and three accounts; the proxy; cleanup. */
export class World {
  readonly clients: TestClient[] = [];
  proxy!: ProxyProcess;
  private constructor(readonly server: XmppServer) {}

  static async start(
    entry: Partial<ProxyEntry> = {},
    top: Record<string, unknown> = {},
    users: readonly string[] = [],
    kind: ServerKind = "prosody",
    withProxy = true,
    serverConfig?: string,
  ): Promise<World> {
    const server = await startServer(kind, {
      ...(serverConfig === undefined ? {} : { extraConfig: serverConfig }),
      components: [{ domain: DOMAIN, secret: SECRET }],
      users: ["service", "alice", "bob", ...users].map((username) => ({
        username,
        password: "pw",
      })),
    });
    const world = new World(server);
    try {
      if (withProxy) await world.startProxy(entry, top);
    } catch (error) {
      await world.stop();
      throw error;
    }
    return world;
  }

  /** Starts the proxy; `options.server`: where it connects instead of the component port. */
  async startProxy(
    entry: Partial<ProxyEntry> = {},
    top: Record<string, unknown> = {},
    options: Partial<Pick<ProxyOptions, "denoFlags" | "server" | "readyEvent">> = {},
  ): Promise<void> {
    this.proxy = await startProxy({
      server: this.server.componentUrl,
      proxies: [{ domain: DOMAIN, secret: SECRET, target_address: TARGET, ...entry }],
      top,
      ...options,
    });
    this.lastEntry = entry;
    this.lastTop = top;
  }
  lastEntry: Partial<ProxyEntry> = {};

  /**
   * Reloads the proxy (SIGHUP) on a config made as {@link startProxy}
   * makes one (the top-level keys it started with, unless given);
   * resolves, once it is in force, with the line count before.
   */
  reload(entry: Partial<ProxyEntry> = {}, top = this.lastTop): Promise<number> {
    return this.proxy.reload({
      server: this.server.componentUrl,
      log_level: "debug",
      ...top,
      proxies: [{ domain: DOMAIN, secret: SECRET, target_address: TARGET, ...entry }],
    });
  }
  lastTop: Record<string, unknown> = {};

  /**
   * A second instance for the domain, once it says it stands by: `retry`
   * is its standby_retry; with `shareState`, the first one's settings and
   * its `state_dir`; with `peer`, that address as its standby_peer (so it
   * stands by without looking while the first serves); `entry`: more keys.
   */
  startStandby(
    options: { retry: string; shareState?: boolean; peer?: string; entry?: Partial<ProxyEntry> },
  ): Promise<ProxyProcess> {
    const { retry, shareState = false, peer } = options;
    return startProxy({
      server: this.server.componentUrl,
      proxies: [{
        domain: DOMAIN,
        secret: SECRET,
        target_address: TARGET,
        ...(shareState ? this.lastEntry : {}),
        ...options.entry,
        standby_retry: retry,
        ...(peer === undefined ? {} : { standby_peer: peer }),
      }],
      ...(shareState ? { top: { state_dir: this.lastTop.state_dir } } : {}),
      readyEvent: peer === undefined ? "stream\\.standby" : "stream\\.standby_peer .*not looking",
    });
  }

  /** An implementing resource that answers every request with `<answer resource=.../>`. */
  async resource(
    name: string,
    options: { answer?: boolean; priority?: number } = {},
  ): Promise<TestClient> {
    const seen = this.proxy.lineCount();
    const client = await this.client("service", name, options.priority);
    if (options.answer ?? true) {
      client.onRequest(echoHandler(() => xml("answer", { xmlns: "urn:test", resource: name })));
    }
    // The resource is usable once the proxy has seen its presence.
    await this.proxy.waitForLog(new RegExp(`target\\.resource_up .*resource=${escape(name)}`), {
      after: seen,
    });
    return client;
  }

  /**
   * A request from alice (`alice@localhost/r`) held by a resource `a` that
   * answers nothing on its own: the reply to come, and the request as `a`
   * got it (answer it with `impl.send(resultFor(held))`).
   */
  async heldRequest(
    id: string,
    options: { timeoutMs?: number } = {},
  ): Promise<
    { impl: TestClient; alice: TestClient; reply: Promise<XmlElement>; held: XmlElement }
  > {
    const impl = await this.resource("a", { answer: false });
    const alice = await this.client("alice", "r");
    const reply = alice.request(request(id), { timeoutMs: options.timeoutMs ?? 10_000 });
    const held = await impl.waitFor((el) => el.attrs.id === id, { includePast: true });
    return { impl, alice, reply, held };
  }

  async client(username: string, resource: string, priority?: number): Promise<TestClient> {
    return await this.#connect({ username, resource, priority });
  }

  /**
   * A client that fetches its roster before its initial presence, as real
   * ones do: Prosody hands subscription answers only to such resources.
   */
  async rosterClient(username: string, resource: string): Promise<TestClient> {
    return await this.#connect({ username, resource, roster: true });
  }

  async #connect(
    options: { username: string; resource: string; priority?: number; roster?: boolean },
  ): Promise<TestClient> {
    const client = await connectClient({
      service: this.server.c2sUrl,
      domain: this.server.domain,
      password: "pw",
      ...options,
    });
    this.clients.push(client);
    return client;
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.clients.map((c) => c.stop()));
    await this.proxy?.kill().catch(() => {});
    await this.server.stop();
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** An iq get (or set) to the proxy domain with a test payload. */
export function request(
  id: string,
  options: { type?: string; to?: string; payload?: string } = {},
): XmlElement {
  return xml(
    "iq",
    { type: options.type ?? "get", id, to: options.to ?? DOMAIN },
    xml("query", { xmlns: "urn:test", n: id }, options.payload ?? "ping"),
  );
}

/** Asserts an error reply: `from`, `id`, error type and condition. */
export function assertError(
  reply: XmlElement,
  expected: { id: string; type: string; condition: string },
): void {
  assert.equal(reply.attrs.type, "error", String(reply));
  assert.equal(reply.attrs.from, DOMAIN);
  assert.equal(reply.attrs.id, expected.id);
  const error = reply.getChild("error");
  assert.equal(error?.attrs.type, expected.type, String(reply));
  assert.ok(
    error?.getChild(expected.condition, NS_STANZAS),
    `${expected.condition} expected in ${reply}`,
  );
}

/** How {@link withWorld} sets up its world. */
export interface WorldSetup {
  entry?: Partial<ProxyEntry>;
  /**
   * Top-level config keys; a function is called as each test starts (a
   * port picked then, not when the module loads, is less likely taken).
   */
  top?: Record<string, unknown> | (() => Record<string, unknown>);
  users?: string[];
  /**
   * The servers to run the scenario on, one `Deno.test` each; default
   * `["prosody"]`. With more than one (or any but Prosody), each test's
   * name starts with its server: `[ejabberd] …`.
   */
  servers?: readonly ServerKind[];
  /** Start the proxy with the world; default true (then `world.proxy` is unset). */
  proxy?: boolean;
  /** Lines for the server's config, at the top level. */
  serverConfig?: string;
}

/** Runs `body` with a fresh world, always cleaned up; once per server in `setup.servers`. */
export function withWorld(
  name: string,
  body: (world: World) => Promise<void>,
  setup: WorldSetup = {},
): void {
  const servers = setup.servers ?? ["prosody"];
  const named = servers.length > 1 || servers[0] !== "prosody";
  for (const kind of servers) {
    Deno.test({
      name: named ? `[${kind}] ${name}` : name,
      // xmpp.js keeps a few timers and sockets past stop(); the harness
      // bounds every wait itself.
      sanitizeOps: false,
      sanitizeResources: false,
      async fn() {
        const top = typeof setup.top === "function" ? setup.top() : setup.top;
        const world = await World.start(
          setup.entry,
          top,
          setup.users,
          kind,
          setup.proxy,
          setup.serverConfig,
        );
        try {
          await body(world);
        } finally {
          await world.stop();
        }
      },
    });
  }
}

/**
 * The bench's world: one throwaway server (Prosody or ejabberd) from the
 * test harness's launchers (tests/support/) with every component
 * configured up front, the requesters' and the implementing account's
 * connections (all in this one process), the minimal component and the
 * proxy as processes; with `tls`, a second proxy over the server's direct
 * TLS component listener (certificates made now).
 */
import { makeCerts, type TestCerts } from "../tests/support/certs.ts";
import type { Ejabberd } from "../tests/support/ejabberd.ts";
import { type ServerKind, startServer, type XmppServer } from "../tests/support/server.ts";
import { Requester, Responder } from "./load.ts";
import { findProcess } from "./procstat.ts";
import { type ProxyEntry, type Service, startMinimal, startProxyProcess } from "./services.ts";
import { login } from "./wire.ts";

/** Each component's secret. */
export function secretOf(domain: string): string {
  return `bench-secret-${domain}`;
}
export const PASSWORD = "pw";
export const TARGET = "service@localhost";
export const DOMAINS = {
  proxy: "proxy.localhost",
  minimal: "minimal.localhost",
  /** The memory run's second proxy, with a short request_timeout. */
  timeout: "timeout.localhost",
  module: "module.localhost",
  /** The proxy over TLS (mode "proxy-tls"). */
  tls: "tls.localhost",
} as const;

/** Limits raised so that they never bind in a benchmark (the defaults would at W=128). */
export const LOOSE_LIMITS = {
  max_pending: 1_000_000,
  max_pending_per_resource: 1_000_000,
  max_pending_per_requester: 1_000_000,
};

/** The modes a window of load can run in. */
export type Mode = "direct" | "minimal" | "proxy" | "proxy-tls" | "module";

/** Every mode, in the order they are listed. */
export const MODES: readonly Mode[] = ["direct", "minimal", "proxy", "proxy-tls", "module"];

/** Options of {@link World.start}. */
export interface WorldOptions {
  /** The XMPP server. Default: Prosody. */
  readonly server?: ServerKind;
  /** Give the server a direct TLS component listener (mode "proxy-tls"). */
  readonly tls?: boolean;
  readonly requesters: number;
  readonly resources: number;
  /** A directory holding Prosody's `client_proxy` module (mode "module"). */
  readonly moduleDir?: string;
  /** Start the minimal component (needed by mode "minimal"). */
  readonly minimal: boolean;
  /** Turn Nagle's algorithm off in Prosody (`network_settings = { nagle = false }`). */
  readonly prosodyNodelay?: boolean;
  /** Extra deno flags for every proxy process. */
  readonly proxyFlags?: string[];
  /** Another checkout whose proxy runs instead of this one's (an A/B against another commit). */
  readonly proxyTree?: string;
}

export class World {
  readonly responders: Responder[] = [];
  readonly requesters: Requester[] = [];
  minimal: Service | undefined;
  proxy: Service | undefined;
  /** The proxy over TLS (mode "proxy-tls"), with `tls`. */
  proxyTls: Service | undefined;
  /** The XMPP server's process (Prosody, or ejabberd's Erlang VM, every thread of it). */
  readonly serverPid: number;

  private constructor(
    readonly server: XmppServer,
    readonly options: WorldOptions,
    serverPid: number,
    readonly certs: TestCerts | undefined,
  ) {
    this.serverPid = serverPid;
  }

  /** "prosody" or "ejabberd". */
  get serverKind(): ServerKind {
    return this.server.kind;
  }

  static async start(options: WorldOptions): Promise<World> {
    const kind = options.server ?? "prosody";
    const users = [{ username: "service", password: PASSWORD }];
    for (let i = 0; i < options.requesters; i++) {
      users.push({ username: `req${i}`, password: PASSWORD });
    }
    const certs = options.tls ? await makeCerts() : undefined;
    let server: XmppServer;
    try {
      server = await startServer(kind, {
        components: [DOMAINS.proxy, DOMAINS.minimal, DOMAINS.timeout, DOMAINS.tls].map((
          domain,
        ) => ({ domain, secret: secretOf(domain) })),
        users,
        extraConfig: kind === "prosody" ? prosodyExtra(options) : undefined,
        // Each component on a listener of its own (ejabberd would spread a
        // domain's stanzas over every component of a shared listener).
        listenerPerComponent: true,
        tlsListeners: certs
          ? [{
            cert: certs.cert.signed,
            key: certs.key,
            full: certs.full.signed,
            domains: [DOMAINS.tls],
          }]
          : undefined,
      });
    } catch (error) {
      await certs?.remove();
      throw error;
    }
    const pid = kind === "ejabberd"
      ? (server as Ejabberd).pid
      : readPid(`${server.dir}/prosody.pid`) ?? findProcess(server.dir);
    if (pid === undefined) {
      await server.stop();
      await certs?.remove();
      throw new Error(`cannot find the ${kind} process`);
    }
    const world = new World(server, options, pid, certs);
    try {
      for (let i = 0; i < options.requesters; i++) {
        const conn = await login({
          service: server.c2sUrl,
          domain: server.domain,
          username: `req${i}`,
          password: PASSWORD,
          resource: "bench",
        });
        world.requesters.push(new Requester(conn));
      }
      if (options.minimal) await world.startMinimal();
      await world.setResources(options.resources);
    } catch (error) {
      await world.stop();
      throw error;
    }
    return world;
  }

  /** Logs resources of the implementing account in or out until there are `count`. */
  async setResources(count: number): Promise<void> {
    while (this.responders.length > count) {
      await this.responders.pop()!.conn.close();
    }
    while (this.responders.length < count) {
      const conn = await login({
        service: this.server.c2sUrl,
        domain: this.server.domain,
        username: "service",
        password: PASSWORD,
        resource: `r${this.responders.length}`,
      });
      const responder = new Responder(conn);
      // The module learns resources only from presence it is sent: a
      // subscription it asked for at load time may have bounced.
      responder.announce(this.options.moduleDir ? [DOMAINS.module] : []);
      this.responders.push(responder);
    }
    await this.minimal?.waitForResources(count);
    await this.proxy?.waitForResources(count, this.proxyDomains);
    await this.proxyTls?.waitForResources(count, [DOMAINS.tls]);
    // The module says nothing; its presence handling is synchronous in
    // Prosody, so a moment is enough.
    if (this.options.moduleDir) await sleep(300);
  }

  /** (Re)starts the minimal component and waits until it knows every resource. */
  async startMinimal(denoFlags: string[] = []): Promise<Service> {
    await this.stopMinimal();
    this.minimal = await startMinimal({
      server: this.server.componentUrlOf(DOMAINS.minimal),
      domain: DOMAINS.minimal,
      secret: secretOf(DOMAINS.minimal),
      target: TARGET,
      denoFlags,
    });
    await this.minimal.waitForResources(this.responders.length);
    return this.minimal;
  }

  async stopMinimal(): Promise<void> {
    const minimal = this.minimal;
    this.minimal = undefined;
    if (minimal) await minimal.stop();
  }

  #proxyDomains: string[] = [];

  get proxyDomains(): readonly string[] {
    return this.#proxyDomains;
  }

  /** Starts the proxy (one config entry per domain) and waits until it knows every resource. */
  async startProxy(options: {
    entries?: Array<Partial<ProxyEntry> & { domain: string }>;
    denoFlags?: string[];
    inProcess?: boolean;
  } = {}): Promise<Service> {
    await this.stopProxy();
    const entries = options.entries ?? [{ domain: DOMAINS.proxy, ...LOOSE_LIMITS }];
    this.proxy = await startProxyProcess({
      server: this.server.componentUrl,
      proxies: entries.map((entry) => ({
        secret: secretOf(entry.domain),
        target_address: TARGET,
        server: this.server.componentUrlOf(entry.domain),
        ...entry,
      })),
      denoFlags: [...(this.options.proxyFlags ?? []), ...(options.denoFlags ?? [])],
      inProcess: options.inProcess,
      tree: this.options.proxyTree,
    });
    this.#proxyDomains = entries.map((entry) => entry.domain);
    await this.#untilKnown(this.proxy, this.#proxyDomains);
    return this.proxy;
  }

  /**
   * Waits until `proxy` knows every resource for `domains`. ejabberd may
   * leave one out when the resources approve a new subscription at once
   * (a resource's session can see the roster change after the probe):
   * then the resources say their presence again.
   */
  async #untilKnown(proxy: Service, domains: readonly string[]): Promise<void> {
    const count = this.responders.length;
    try {
      await proxy.waitForResources(count, domains, 3_000);
    } catch {
      for (const responder of this.responders) responder.conn.write("<presence/>");
      await proxy.waitForResources(count, domains);
    }
  }

  async stopProxy(): Promise<void> {
    const proxy = this.proxy;
    this.proxy = undefined;
    if (proxy) await proxy.stop();
  }

  /** Starts the proxy over TLS (mode "proxy-tls") and waits until it knows every resource. */
  async startProxyTls(): Promise<Service> {
    await this.stopProxyTls();
    if (!this.certs) throw new Error("mode proxy-tls needs the world started with tls");
    this.proxyTls = await startProxyProcess({
      server: this.server.tlsComponentUrls[0],
      top: { tls_ca: this.certs.ca },
      proxies: [{
        domain: DOMAINS.tls,
        secret: secretOf(DOMAINS.tls),
        target_address: TARGET,
        ...LOOSE_LIMITS,
      }],
      denoFlags: this.options.proxyFlags ?? [],
      tree: this.options.proxyTree,
    });
    await this.#untilKnown(this.proxyTls, [DOMAINS.tls]);
    return this.proxyTls;
  }

  async stopProxyTls(): Promise<void> {
    const proxy = this.proxyTls;
    this.proxyTls = undefined;
    if (proxy) await proxy.stop();
  }

  /** The addresses requests go to in a mode. */
  targets(mode: Mode): string[] {
    switch (mode) {
      case "direct":
        return this.responders.map((responder) => responder.conn.jid);
      case "minimal":
        return [DOMAINS.minimal];
      case "proxy":
        return [DOMAINS.proxy];
      case "proxy-tls":
        return [DOMAINS.tls];
      case "module":
        return [DOMAINS.module];
    }
  }

  /** The component process of a mode, if it has one. */
  component(mode: Mode): Service | undefined {
    switch (mode) {
      case "proxy":
        return this.proxy;
      case "proxy-tls":
        return this.proxyTls;
      case "minimal":
        return this.minimal;
      default:
        return undefined;
    }
  }

  async stop(): Promise<void> {
    await this.stopProxy().catch(() => {});
    await this.stopProxyTls().catch(() => {});
    await this.stopMinimal().catch(() => {});
    await Promise.all(
      [...this.requesters, ...this.responders].map((peer) => peer.conn.close().catch(() => {})),
    );
    await this.server.stop();
    await this.certs?.remove();
  }
}

/** Prosody's extra lines: quieter logs, Nagle, mod_client_proxy (mode "module"). */
function prosodyExtra(options: WorldOptions): string {
  const extra = [
    // The launcher logs at debug (for tests); a benchmark must not.
    'log = { { levels = { min = "info" }, to = "file", filename = prosody.paths.config .. "/prosody.log" } }',
  ];
  // Prosody leaves Nagle's algorithm on by default: kept, as deployed,
  // unless asked (it coalesces writes under load, and delays them at W=1).
  if (options.prosodyNodelay) extra.push("network_settings = { nagle = false }");
  if (options.moduleDir) {
    extra.push(
      `plugin_paths = { ${JSON.stringify(options.moduleDir)} }`,
      `Component ${JSON.stringify(DOMAINS.module)} "client_proxy"`,
      `  target_address = ${JSON.stringify(TARGET)}`,
    );
  }
  return extra.join("\n");
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number(Deno.readTextFileSync(path).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The worker's side of the program: the running proxies, started from a
 * config, reconfigured by a reload, stopped by a signal.
 */
import type { Config, ProxyConfig } from "./config.ts";
import { logger, type LogLevel, setupLogging } from "./log.ts";
import { Proxy } from "./proxy.ts";
import { VERSION } from "./version.ts";

/** Everything one worker runs. */
export class Runtime {
  #config: Config | undefined;
  readonly #proxies = new Map<string, Proxy>();
  readonly #log = logger("main");

  /** Starts one proxy per config entry. */
  start(config: Config, level: LogLevel): void {
    this.#config = config;
    setupLogging(level);
    this.#log.info("proxy.starting", {
      version: VERSION,
      config: config.file,
      proxies: config.proxies.length,
    });
    for (const entry of config.proxies) this.#proxies.set(entry.domain, new Proxy(entry));
  }

  /**
   * Applies a new config without dropping a stream or a pending request:
   * settings change in place; a proxy added connects, one removed shuts
   * down (answering its requests); one whose server or secret changed
   * reconnects.
   */
  async reload(config: Config, level: LogLevel): Promise<void> {
    const old = this.#config;
    this.#config = config;
    setupLogging(level);
    const next = new Map(config.proxies.map((entry) => [entry.domain, entry]));
    const stopping: Promise<void>[] = [];
    for (const [domain, proxy] of this.#proxies) {
      const entry = next.get(domain);
      const before = old?.proxies.find((p) => p.domain === domain);
      if (entry && before && sameStream(before, entry)) {
        proxy.reconfigure(entry);
        continue;
      }
      this.#proxies.delete(domain);
      stopping.push(proxy.shutdown(config.shutdownGraceMs));
    }
    await Promise.all(stopping);
    for (const [domain, entry] of next) {
      if (!this.#proxies.has(domain)) this.#proxies.set(domain, new Proxy(entry));
    }
    this.#log.info("config.reloaded", { config: config.file, proxies: config.proxies.length });
  }

  /** Shuts every proxy down (see {@link Proxy.shutdown}); resolves with the exit code. */
  async stop(signal: string): Promise<number> {
    const graceMs = this.#config?.shutdownGraceMs ?? 0;
    this.#log.info("proxy.stopping", { signal, grace_ms: graceMs });
    await Promise.all([...this.#proxies.values()].map((proxy) => proxy.shutdown(graceMs)));
    this.#log.info("proxy.stopped");
    return 0;
  }
}

/** Whether two entries can share one stream: same server, secret and target. */
function sameStream(a: ProxyConfig, b: ProxyConfig): boolean {
  return a.server.url === b.server.url && a.secret === b.secret &&
    a.targetAddress === b.targetAddress;
}

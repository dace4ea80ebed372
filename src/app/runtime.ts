/**
 * The worker's side of the program: the running proxies, the HTTP side
 * listener and the metrics they share, started from a config, changed by a
 * reload (all or nothing), stopped by a signal.
 */
import type { Config, ProxyConfig } from "../config/types.ts";
import { createHandler, formatAddress, type HttpAddress, serveHttp } from "../ops/http.ts";
import { logger, logs, setupLogging } from "../ops/log.ts";
import { Metrics } from "../ops/metrics.ts";
import { Proxy, type ProxyDeps } from "./proxy.ts";
import { openSubscriberStore, type SubscriberStore } from "../ops/subscribers.ts";
import { openPinStore, type PinStore } from "../ops/pins.ts";
import { checkSecret, judgeSecret, type SecretVerdict } from "./secret_check.ts";
import {
  type Logging,
  ReloadFailed,
  type ReloadFailure,
  type WorkerHandlers,
} from "./worker_protocol.ts";
import { VERSION } from "./version.ts";
import type { XmlElement } from "../core/xml.ts";
import { type Carried, fromAccount } from "./carry_over.ts";
import { isRequest } from "../core/stanza.ts";

/** The HTTP listener, as the runtime holds it. */
interface Listener {
  shutdown(): Promise<void>;
}

/** What a runtime needs from the outside world; tests replace it. */
export interface RuntimeDeps {
  /** Puts the HTTP listener on its address; throws when it cannot. Default: serveHttp. */
  readonly serve?: (
    address: HttpAddress,
    handler: (req: Request) => Promise<Response>,
    options: { onListen: (address: HttpAddress) => void },
  ) => Listener;
  /** Opens each proxy's stream. Default: the real one. */
  readonly openLink?: ProxyDeps["openLink"];
  /** Tries a reload's new secret before the stream is given up for it. Default: checkSecret. */
  readonly checkSecret?: (
    next: ProxyConfig,
    current: ProxyConfig,
    refused: boolean,
    local?: (stanza: XmlElement) => void,
    own?: string,
  ) => Promise<SecretVerdict>;
}

/** Everything one worker runs. */
export class Runtime implements WorkerHandlers {
  /** The config in force: the last one applied, what a reload is compared against. */
  #config: Config | undefined;
  readonly #proxies = new Map<string, Proxy>();
  readonly #metrics = new Metrics();
  #store: SubscriberStore | undefined;
  #pins: PinStore | undefined;
  #http: Listener | undefined;
  #hurried = false;
  /** A stop is queued behind what runs now. */
  #stopComing = false;
  readonly #log = logger("main");
  readonly #deps: RuntimeDeps;

  constructor(deps: RuntimeDeps = {}) {
    this.#deps = deps;
  }

  /** Starts the HTTP listener (if configured) and one proxy per config entry. */
  start(config: Config, logging: Logging, startedAt = performance.timeOrigin): Promise<void> {
    this.#config = config;
    this.#metrics.process({ version: VERSION, startedAt });
    setupLogging(logging.level, { format: logging.format, journal: logging.journal });
    this.#log.info("proxy.starting", {
      version: VERSION,
      // What `kill -HUP` needs: under `deno task start` this is not the task's pid.
      pid: Deno.pid,
      proxies: config.proxies.length,
      ...logging.fields,
    });
    if (config.stateDir !== undefined) {
      this.#store = openSubscriberStore(config.stateDir);
      this.#pins = openPinStore(config.stateDir);
    }
    if (config.http) this.#http = this.#listen(config.http);
    for (const entry of config.proxies) this.#add(entry);
    return Promise.resolve();
  }

  /**
   * Applies a new config without dropping a stream or a pending request:
   * settings change in place; a proxy added connects at once, one removed
   * shuts down (answering its requests); one whose server (or its TLS
   * settings), secret, target or standby peer changed shuts down and then
   * reconnects.
   *
   * All or nothing: what can fail (a new secret the server refuses, a
   * proxy that cannot run with its new settings, binding a new HTTP
   * address) is done first, and if it fails
   * the reload is counted as failed and rejects with a {@link ReloadFailed}:
   * the old config stays in force, the one the next reload is compared against.
   */
  async reload(config: Config, logging: Logging): Promise<void> {
    const old = this.#config;
    const moved = old?.http?.host !== config.http?.host || old?.http?.port !== config.http?.port;
    let http: Listener | undefined;
    try {
      await this.#trySecrets(old, config);
      // A stop that came while the secrets were tried: reconnecting now would only be undone.
      if (this.#stopComing) throw new ReloadFailed("apply_failed", "the proxy is stopping");
      http = this.#prepare(config, moved);
    } catch (error) {
      this.#metrics.reloaded("failed");
      throw error;
    }
    // Nothing below throws: the new config is in force.
    this.#metrics.reloaded("ok");
    this.#config = config;
    setupLogging(logging.level, { format: logging.format, journal: logging.journal });
    const stopping: Promise<void>[] = [];
    if (moved) {
      // Removed or moved (to an address the permissions already cover).
      if (this.#http) stopping.push(this.#http.shutdown().catch(this.#stopFailed("http")));
      this.#http = http;
    }
    const next = new Map(config.proxies.map((entry) => [entry.domain, entry]));
    for (const [domain, proxy] of this.#proxies) {
      const entry = next.get(domain);
      const before = old?.proxies.find((p) => p.domain === domain);
      if (entry && before && sameStream(before, entry)) {
        proxy.reconfigure(entry);
        continue;
      }
      // Still listed (as shutting down, not ready) until it has stopped; one
      // that reconnects opens its new stream as soon as the old one closed.
      stopping.push(
        proxy.shutdown(this.#hurried ? 0 : config.shutdownGraceMs)
          .catch(this.#stopFailed(domain))
          .then((unanswered: Carried[] | void) => {
            this.#proxies.delete(domain);
            if (entry) {
              const [kept, lost] = forSuccessor(unanswered ?? [], before, entry);
              this.#lost(domain, lost, OLD_TARGET);
              // Rooms stay where they run, as a store would keep them; another account's are not its.
              const pins = before?.targetAddress === entry.targetAddress ? proxy.pinsAtStop : [];
              this.#add(entry, pins).carry(this.#carried(domain, kept));
            } else {
              this.#lost(domain, unanswered ?? []);
              this.#metrics.remove(domain);
            }
          }),
      );
    }
    // New domains need not wait for the others' grace.
    for (const [domain, entry] of next) {
      if (!this.#proxies.has(domain)) this.#add(entry);
    }
    await Promise.all(stopping);
    this.#log.info("config.reloaded", { config: config.file, proxies: config.proxies.length });
  }

  /**
   * What a reload does that can fail, changing nothing else: each proxy's
   * settings checked, then the new HTTP address bound (before the old one
   * closes: the old one stays if this fails). Returns the listener to keep.
   */
  #prepare(config: Config, moved: boolean): Listener | undefined {
    for (const entry of config.proxies) {
      try {
        Proxy.check(entry);
      } catch (error) {
        throw new ReloadFailed("apply_failed", `${entry.domain}: ${message(error)}`);
      }
    }
    if (!moved) return this.#http;
    try {
      return config.http && this.#listen(config.http);
    } catch (error) {
      throw new ReloadFailed("bind_failed", message(error));
    }
  }

  /**
   * Each running proxy's new secret, tried on a second connection: one the
   * server refuses fails the reload, and its stream keeps the old one.
   */
  async #trySecrets(old: Config | undefined, config: Config): Promise<void> {
    const check = this.#deps.checkSecret ?? checkSecret;
    // `refused` as the trial starts: it says which secret the trial proves with, so the
    // verdict is judged with it, even if the stream's refusal comes while the trial runs.
    const changed = config.proxies.flatMap((entry) => {
      const before = old?.proxies.find((p) => p.domain === entry.domain);
      const proxy = this.#proxies.get(entry.domain);
      return before && proxy && before.secret !== entry.secret
        ? [{ entry, before, refused: proxy.readiness().refused ?? false }]
        : [];
    });
    // What reaches a trial beside a proxy serving here goes straight to it, counted.
    const handed = changed.map(() => 0);
    const verdicts = await Promise.all(
      changed.map(({ entry, before, refused }, i) => {
        const proxy = this.#proxies.get(entry.domain);
        const local = proxy?.serving
          ? (stanza: XmlElement) => {
            handed[i]++;
            proxy.take(stanza);
          }
          : undefined;
        return check(entry, before, refused, local, proxy?.instance);
      }),
    );
    const failed: Array<{ reason: ReloadFailure; message: string }> = [];
    changed.forEach(({ entry, refused }, i) => {
      const proxy = this.#proxies.get(entry.domain);
      const standing = {
        online: proxy?.readiness().online ?? false,
        refused,
        instance: proxy?.instance,
        since: proxy?.since,
      };
      const decision = judgeSecret(entry.domain, verdicts[i], standing);
      if (logs("debug")) {
        this.#log.debug("config.secret_trial", {
          domain: entry.domain,
          ...verdicts[i],
          ...standing,
          handed: handed[i],
          decision: decision.kind,
        });
      }
      if (decision.kind === "fail") failed.push(decision);
      else if (decision.warning) this.#log.warn(decision.warning.event, decision.warning.fields);
    });
    if (failed.length > 0) {
      throw new ReloadFailed(failed[0].reason, failed.map((f) => f.message).join("; "));
    }
  }

  stopComing(): void {
    this.#stopComing = true;
  }

  /** A reload the main thread refused (see src/app/reload.ts): counted here, where /metrics is. */
  reloadRefused(): void {
    this.#metrics.reloaded("failed");
  }

  /** Shuts every proxy down (see {@link Proxy.shutdown}); resolves with the exit code. */
  async stop(signal: string): Promise<number> {
    const graceMs = this.#hurried ? 0 : this.#config?.shutdownGraceMs ?? 0;
    this.#log.info("proxy.stopping", { signal, grace_ms: graceMs });
    await Promise.all(
      [...this.#proxies.values()].map(async (proxy) =>
        this.#lost(proxy.domain, await proxy.shutdown(graceMs))
      ),
    );
    await this.#http?.shutdown();
    this.#store?.close();
    this.#pins?.close();
    this.#log.info("proxy.stopped");
    return 0;
  }

  /**
   * A second stop signal: every grace in progress (a stop's, or a reload's
   * for a removed proxy) ends now, and a stop still to come has none. What
   * is in flight is answered at once, as when a grace runs out.
   */
  hurry(signal: string): void {
    this.#hurried = true;
    this.#log.warn("proxy.hurrying", { signal });
    for (const proxy of this.#proxies.values()) proxy.hurry();
  }

  /** Logs a part that threw while a reload stopped it: it is replaced all the same. */
  #stopFailed(part: string): (error: unknown) => void {
    return (error) => this.#log.error("proxy.stop_failed", { part, error: String(error) });
  }

  /** Listens on `address`; throws an error that names it (a port taken, at start or reload). */
  #listen(address: HttpAddress): Listener {
    const handler = createHandler({
      metrics: this.#metrics,
      readiness: () => [...this.#proxies.values()].map((proxy) => proxy.readiness()),
    });
    try {
      return (this.#deps.serve ?? serveHttp)(address, handler, {
        onListen: ({ host, port }) =>
          this.#log.info("http.listening", { address: `${host}:${port}` }),
      });
    } catch (error) {
      throw new Error(
        `the HTTP listener cannot listen on ${formatAddress(address)}: ${message(error)}`,
      );
    }
  }

  /** What a reconnecting proxy's old stream could not answer, said as it goes to its new one. */
  #carried(domain: string, items: Carried[]): Carried[] {
    if (items.length > 0) {
      this.#log.info("proxy.carried_over", { domain, stanzas: items.length, ...kinds(items) });
    }
    return items;
  }

  /**
   * What a stopping proxy could not answer, with no stream to come: said,
   * as each (a request, a message, a subscription) gets no answer from us.
   */
  #lost(domain: string, items: Carried[], hint = NO_STREAM): void {
    if (items.length === 0) return;
    this.#log.warn("proxy.lost_at_close", { domain, stanzas: items.length, ...kinds(items), hint });
  }

  #add(entry: ProxyConfig, handedPins?: Array<[string, string]>): Proxy {
    const proxy = new Proxy(entry, {
      metrics: this.#metrics,
      subscribers: this.#store,
      pins: this.#pins,
      ...(handedPins?.length ? { handedPins } : {}),
      ...(this.#deps.openLink ? { openLink: this.#deps.openLink } : {}),
    });
    // Added by a reload after a second stop signal: its stop has no grace either.
    if (this.#hurried) proxy.hurry();
    this.#proxies.set(entry.domain, proxy);
    return proxy;
  }
}

const NO_STREAM = "the server routed them before it read the stream's end (XEP-0114 cannot " +
  "stop the routing first): they get no answer from the proxy";
const OLD_TARGET = "the old target_address sent them: the new one's proxy would take them " +
  "for a user's, so they get no answer from the proxy";

/**
 * What the successor of a reconnecting proxy may take, and what is lost:
 * what the old target sent, when the target changed.
 */
function forSuccessor(
  items: Carried[],
  before: ProxyConfig | undefined,
  entry: ProxyConfig,
): [Carried[], Carried[]] {
  const old = before?.targetAddress;
  if (old === undefined || old.toLowerCase() === entry.targetAddress.toLowerCase()) {
    return [items, []];
  }
  const kept: Carried[] = [];
  const lost: Carried[] = [];
  for (const item of items) (fromAccount(item.stanza, old) ? lost : kept).push(item);
  return [kept, lost];
}

/** How many of the carried stanzas are requests (iq get or set). */
function kinds(items: readonly Carried[]): { requests: number } {
  return { requests: items.filter(({ stanza }) => isRequest(stanza)).length };
}

/** An error's message, without the class name Deno puts first. */
function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Whether two entries can share one stream: same server (and TLS
 * settings), secret, target and standby peer.
 */
function sameStream(a: ProxyConfig, b: ProxyConfig): boolean {
  return a.server.url === b.server.url && a.secret === b.secret &&
    a.tls?.ca === b.tls?.ca && a.tls?.serverName === b.tls?.serverName &&
    a.targetAddress === b.targetAddress && a.standbyPeer?.url === b.standbyPeer?.url;
}

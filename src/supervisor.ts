/**
 * Least privilege at run time. The main thread reads the config (it needs
 * read and env access for the config and secret files) and then runs every
 * proxy in a Worker whose permissions are narrowed to network access to the
 * configured servers and nothing else: the code that parses what arrives
 * from the network cannot read files, the environment, or reach any other
 * host. Messages between the two are the {@link ToWorker} / {@link FromWorker}
 * unions.
 */
import type { Config, ConfigResult } from "./config.ts";
import { logger, type LogLevel, setupLogging } from "./log.ts";

/** What the main thread tells the worker. */
export type ToWorker =
  | {
    readonly type: "start";
    readonly config: Config;
    readonly logLevel: LogLevel;
  }
  | {
    readonly type: "reload";
    readonly config: Config;
    readonly logLevel: LogLevel;
  }
  | { readonly type: "stop"; readonly signal: string };

/** What the worker tells the main thread. */
export type FromWorker = { readonly type: "stopped"; readonly code: number };

/** The `host:port` entries the worker may connect to. */
export function netPermissions(config: Config): string[] {
  const hosts = new Set<string>();
  for (const { server } of config.proxies) {
    const host = server.host.includes(":") ? `[${server.host}]` : server.host;
    hosts.add(`${host}:${server.port}`);
  }
  return [...hosts];
}

/** Whether this code runs inside a Worker. */
export function inWorker(): boolean {
  return typeof (globalThis as { WorkerGlobalScope?: unknown })
    .WorkerGlobalScope !== "undefined";
}

/** Options of {@link superviseWorker}. */
export interface SuperviseOptions {
  /** The log level for a config (the flag or environment may override the file). */
  readonly logLevel: (config: Config) => LogLevel;
  /** Reads the config again, for SIGHUP. */
  readonly reload: () => ConfigResult;
}

/**
 * Starts the worker (this same module, `entry`) with narrowed permissions,
 * hands it the config, forwards SIGINT/SIGTERM, re-reads the config on
 * SIGHUP, and resolves with the exit code the worker reports.
 */
export function superviseWorker(
  entry: string | URL,
  config: Config,
  options: SuperviseOptions,
): Promise<number> {
  const granted = netPermissions(config);
  const worker = new Worker(entry, {
    type: "module",
    deno: {
      permissions: {
        net: granted,
        read: false,
        write: false,
        env: false,
        run: false,
        ffi: false,
        sys: false,
        import: false,
      },
    },
  });
  const send = (message: ToWorker) => worker.postMessage(message);
  const log = logger("main");
  setupLogging(options.logLevel(config));
  const reload = () => {
    const loaded = options.reload();
    if (!loaded.ok) {
      // The running config stays; every problem is said, as at start.
      log.error("config.reload_refused", { problems: loaded.errors.length });
      for (const problem of loaded.errors) log.error("config.problem", { problem });
      return;
    }
    const missing = netPermissions(loaded.config).filter((host) => !granted.includes(host));
    if (missing.length > 0) {
      log.error("config.reload_refused", {
        problem: `new server addresses need a restart: ${missing.join(", ")}`,
      });
      return;
    }
    setupLogging(options.logLevel(loaded.config));
    send({ type: "reload", config: loaded.config, logLevel: options.logLevel(loaded.config) });
  };
  return new Promise((resolve) => {
    const listeners: Array<[Deno.Signal, () => void]> = [["SIGHUP", reload]];
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      listeners.push([signal, () => send({ type: "stop", signal })]);
    }
    for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);
    const finish = (code: number) => {
      for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
      worker.terminate();
      resolve(code);
    };
    worker.onmessage = (event: MessageEvent<FromWorker>) => finish(event.data.code);
    worker.onerror = (event) => {
      event.preventDefault();
      log.fatal("proxy.crashed", { error: event.message });
      finish(1);
    };
    send({ type: "start", config, logLevel: options.logLevel(config) });
  });
}

/** What the worker does with each message from the main thread. */
export interface WorkerHandlers {
  start(config: Config, logLevel: LogLevel): void;
  reload(config: Config, logLevel: LogLevel): Promise<void>;
  stop(signal: string): Promise<number>;
}

/** The worker's side: waits for messages from the main thread. */
export function serveWorker(handlers: WorkerHandlers): void {
  const scope = globalThis as unknown as {
    onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
    postMessage(message: FromWorker): void;
  };
  let stopping = false;
  // Messages are handled one at a time, in order: a reload finishes before
  // the next one (or a stop) begins.
  let queue = Promise.resolve();
  scope.onmessage = (event) => {
    const message = event.data;
    queue = queue.then(async () => {
      if (message.type === "start") handlers.start(message.config, message.logLevel);
      else if (message.type === "reload" && !stopping) {
        await handlers.reload(message.config, message.logLevel);
      } else if (message.type === "stop" && !stopping) {
        stopping = true;
        scope.postMessage({ type: "stopped", code: await handlers.stop(message.signal) });
      }
    });
  };
}

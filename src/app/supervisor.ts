/**
 * Least privilege at run time. The main thread reads the config (it needs
 * read and env access for the config and secret files) and then runs every
 * proxy in a Worker whose permissions are narrowed to network access to the
 * configured servers and nothing else: the code that parses what arrives
 * from the network cannot read files, the environment, or reach any other
 * host. The main thread then gives up its own network and write access.
 * A process that may not read its own module (started with read access
 * scoped to its config) cannot start the Worker: it runs the proxies in
 * its main thread instead, within the permissions it was started with.
 * What they say to each other is in src/app/worker_protocol.ts.
 */
import type { Config, ConfigResult } from "../config/types.ts";
import { formatAddress } from "../ops/http.ts";
import { type Logger, logger, setupLogging } from "../ops/log.ts";
import { ConfigInForce } from "./reload.ts";
import { StopSignals } from "./stop_signals.ts";
import {
  type FromWorker,
  type Logging,
  ReloadFailed,
  type ToWorker,
  type WorkerHandlers,
} from "./worker_protocol.ts";

/**
 * The `host:port` entries the worker may use: every proxy's server and
 * standby peer, and the HTTP listener's address.
 */
export function netPermissions(config: Config): string[] {
  const hosts = new Set<string>();
  const add = (address: { host: string; port: number }) => hosts.add(formatAddress(address));
  for (const { server, standbyPeer } of config.proxies) {
    add(server);
    if (standbyPeer) add(standbyPeer);
  }
  if (config.http) add(config.http);
  return [...hosts];
}

/** Whether this code runs inside a Worker. */
export function inWorker(): boolean {
  return typeof (globalThis as { WorkerGlobalScope?: unknown })
    .WorkerGlobalScope !== "undefined";
}

/** Options of {@link superviseWorker}. */
export interface SuperviseOptions {
  /** How to log with a config (flags and environment override the file). */
  readonly logging: (config: Config) => Logging;
  /** Reads the config again, for SIGHUP. */
  readonly reload: () => ConfigResult;
  /**
   * Whether the main thread gives up network and write access once the
   * worker listens. Default: true; tests that supervise a worker from
   * inside the test runner turn it off.
   */
  readonly narrowMain?: boolean;
  /**
   * The handlers to run in the main thread instead when it may not read
   * the worker's module (the single file or a binary started with read
   * access scoped to its config). Default: none, always a Worker.
   */
  readonly inThread?: () => Promise<WorkerHandlers>;
}

/**
 * Starts the worker (this same module, `entry`) with narrowed permissions,
 * gives up the main thread's network and write access once it listens,
 * hands it the config, forwards SIGINT/SIGTERM, re-reads the config on
 * SIGHUP, and resolves with the exit code the worker reports.
 */
export async function superviseWorker(
  entry: string | URL,
  config: Config,
  options: SuperviseOptions,
): Promise<number> {
  const granted = netPermissions(config);
  // The state directory (presence subscribers) is the only path it may touch.
  const paths = config.stateDir === undefined ? false : [config.stateDir];
  const oneThread = options.inThread !== undefined && !readable(entry);
  const worker: WorkerPort = oneThread ? inThread(await options.inThread!()) : new Worker(
    entry,
    {
      type: "module",
      deno: {
        permissions: {
          net: granted,
          read: paths,
          write: paths,
          env: false,
          run: false,
          ffi: false,
          sys: false,
          import: false,
        },
      },
    },
  );
  // A message that reaches the worker before it sets its handler is lost, and
  // on a first run (empty module cache) the worker spends seconds loading its
  // npm packages: nothing is sent until the worker says it listens.
  let backlog: ToWorker[] | undefined = [];
  const send = (message: ToWorker) => backlog ? backlog.push(message) : worker.postMessage(message);
  const log = logger("main");
  const logging = options.logging(config);
  setupLogging(logging.level, { format: logging.format, journal: logging.journal });
  const inForce = new ConfigInForce(config, {
    read: options.reload,
    // The worker's permissions were fixed when it was made.
    restartNeeded: (next, current) => {
      const missing = netPermissions(next).filter((host) => !granted.includes(host));
      return missing.length > 0
        ? `new network addresses need a restart: ${missing.join(", ")}`
        : next.stateDir !== current.stateDir
        ? "a new state_dir needs a restart"
        : undefined;
    },
    logging: options.logging,
    send,
    log,
  });
  return new Promise((resolve) => {
    const stops = new StopSignals();
    const stop = (signal: Deno.Signal) => {
      const request = stops.receive(performance.now());
      if (request === "stop" || request === "hurry") send({ type: request, signal });
      if (request !== "quit") return;
      // The grace was already cut short and something still holds the exit.
      log.warn("proxy.quit", { signal });
      finish(1);
    };
    const listeners: Array<[Deno.Signal, () => void]> = [["SIGHUP", () => inForce.reload()]];
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      listeners.push([signal, () => stop(signal)]);
    }
    for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);
    const finish = (code: number) => {
      for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
      worker.terminate();
      resolve(code);
    };
    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const message = event.data;
      if (message.type === "stopped") return finish(message.code);
      if (message.type === "reloaded") return inForce.settled(message.serial, message.applied);
      if (oneThread) {
        log.info("proxy.one_thread", {
          reason: "no read access to the worker's module: the process's own permissions, " +
            "scoped to the config, are all there is",
        });
      } else if (options.narrowMain ?? true) narrowMain(log, config.file, { net: granted, paths });
      const waiting = backlog ?? [];
      backlog = undefined;
      for (const message of waiting) worker.postMessage(message);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      log.fatal("proxy.crashed", { error: event.message });
      finish(1);
    };
    send({ type: "start", config, logging, startedAt: performance.timeOrigin });
  });
}

/**
 * The main thread never uses the network and never writes once the worker
 * runs (a reload only reads the config, its secrets and the environment):
 * it gives both up, so that only the worker, with its narrowed set, can.
 * The worker keeps what it was given when it was made. Says what holds,
 * as Deno reports it: `scoped` when the process was started with a list
 * (a binary from `deno task compile --config FILE`).
 */
function narrowMain(
  log: Logger,
  file: string,
  worker: { readonly net: readonly string[]; readonly paths: readonly string[] | false },
): void {
  for (const name of ["net", "write"] as const) Deno.permissions.revokeSync({ name });
  const state = (all: Deno.PermissionDescriptor, one?: Deno.PermissionDescriptor) =>
    Deno.permissions.querySync(all).state === "granted"
      ? "granted"
      : one && Deno.permissions.querySync(one).state === "granted"
      ? "scoped"
      : "revoked";
  log.info("proxy.permissions", {
    main_read: state({ name: "read" }, { name: "read", path: file }),
    // A variable every scoped set allows (src/app/permissions.ts).
    main_env: state({ name: "env" }, { name: "env", variable: "CLIENT_PROXY_CONFIG" }),
    main_net: state({ name: "net" }),
    main_write: state({ name: "write" }),
    worker_net: worker.net.join(","),
    worker_files: worker.paths === false ? "none" : worker.paths.join(","),
  });
}

/** What the main thread holds of the worker: a Worker, or a channel to handlers in its own thread. */
interface WorkerPort {
  postMessage(message: ToWorker): void;
  onmessage: ((event: MessageEvent<FromWorker>) => void) | null;
  onerror: ((event: ErrorEvent) => void) | null;
  terminate(): void;
}

/** The worker's end of the messages, as a worker's global scope has it. */
interface ServedPort {
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker): void;
}

/**
 * Whether this thread may read `entry`: Deno checks read access when a
 * Worker loads its module from a file, even the program's own.
 */
function readable(entry: string | URL): boolean {
  const url = new URL(entry);
  if (url.protocol !== "file:") return true;
  return Deno.permissions.querySync({ name: "read", path: url }).state === "granted";
}

/**
 * For the thread that runs the proxies: a promise that some library left
 * unhandled is logged (`proxy.unhandled_rejection`) instead of ending the
 * process, which would lose every request in flight.
 */
export function logUnhandledRejections(): void {
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    logger("main").error("proxy.unhandled_rejection", { reason: String(event.reason) });
  });
}

/** The same messages as with a Worker, to handlers in this thread. */
function inThread(handlers: WorkerHandlers): WorkerPort {
  logUnhandledRejections();
  const channel = new MessageChannel();
  serveWorker(handlers, channel.port2 as unknown as ServedPort);
  const port = channel.port1;
  return {
    postMessage: (message) => port.postMessage(message),
    get onmessage() {
      return port.onmessage;
    },
    set onmessage(listener) {
      port.onmessage = listener;
    },
    // An exception in the handlers is this thread's: the process ends with it.
    onerror: null,
    terminate() {
      port.close();
      channel.port2.close();
    },
  };
}

/**
 * The worker's side: waits for messages from the main thread (by default
 * through the worker's global scope).
 */
export function serveWorker(
  handlers: WorkerHandlers,
  scope: ServedPort = globalThis as unknown as ServedPort,
): void {
  let stopping = false;
  // Messages are handled one at a time, in order: a reload finishes before
  // the next one (or a stop) begins.
  let queue = Promise.resolve();
  scope.onmessage = (event) => {
    const message = event.data;
    // Not queued: it must reach a stop that is already waiting out its grace.
    if (message.type === "hurry") return handlers.hurry(message.signal);
    if (message.type === "reload_refused") return handlers.reloadRefused();
    if (message.type === "stop") handlers.stopComing?.();
    queue = queue.then(async () => {
      if (message.type === "start") {
        try {
          await handlers.start(message.config, message.logging, message.startedAt);
        } catch (error) {
          // Nothing runs without its listener or its state: stop, non-zero.
          logger("main").fatal("proxy.start_failed", { error: String(error) });
          stopping = true;
          scope.postMessage({ type: "stopped", code: 1 });
        }
      } else if (message.type === "reload" && !stopping) {
        let applied = true;
        try {
          await handlers.reload(message.config, message.logging);
        } catch (error) {
          // The old config stays; the queue goes on (the next reload, or the stop).
          applied = false;
          logger("main").error("config.reload_failed", {
            reason: error instanceof ReloadFailed ? error.reason : "apply_failed",
            error: error instanceof Error ? error.message : String(error),
          });
        }
        scope.postMessage({ type: "reloaded", serial: message.serial, applied });
      } else if (message.type === "stop" && !stopping) {
        stopping = true;
        let code = 1;
        try {
          code = await handlers.stop(message.signal);
        } catch (error) {
          logger("main").error("proxy.stop_failed", { error: String(error) });
        }
        scope.postMessage({ type: "stopped", code });
      }
    });
  };
  scope.postMessage({ type: "ready" });
}

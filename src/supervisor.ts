/**
 * Least privilege at run time. The main thread reads the config (it needs
 * read and env access for the config and secret files) and then runs every
 * proxy in a Worker whose permissions are narrowed to network access to the
 * configured servers and nothing else: the code that parses what arrives
 * from the network cannot read files, the environment, or reach any other
 * host. Messages between the two are the {@link ToWorker} / {@link FromWorker}
 * unions.
 */
import type { Config } from "./config.ts";
import type { LogLevel } from "./log.ts";

/** What the main thread tells the worker. */
export type ToWorker =
  | {
    readonly type: "start";
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

/**
 * Starts the worker (this same module, `entry`) with narrowed permissions,
 * hands it the config, forwards SIGINT/SIGTERM, and resolves with the exit
 * code it reports.
 */
export function superviseWorker(
  entry: string | URL,
  config: Config,
  options: { logLevel: LogLevel },
): Promise<number> {
  const worker = new Worker(entry, {
    type: "module",
    deno: {
      permissions: {
        net: netPermissions(config),
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
  return new Promise((resolve) => {
    const listeners: Array<[Deno.Signal, () => void]> = [];
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      const listener = () => send({ type: "stop", signal });
      Deno.addSignalListener(signal, listener);
      listeners.push([signal, listener]);
    }
    const finish = (code: number) => {
      for (const [signal, listener] of listeners) {
        Deno.removeSignalListener(signal, listener);
      }
      worker.terminate();
      resolve(code);
    };
    worker.onmessage = (event: MessageEvent<FromWorker>) => finish(event.data.code);
    worker.onerror = (event) => {
      event.preventDefault();
      console.error("client-proxy: fatal:", event.message);
      finish(1);
    };
    send({ type: "start", config, logLevel: options.logLevel });
  });
}

/** The worker's side: waits for messages from the main thread. */
export function serveWorker(handlers: {
  start(config: Config, logLevel: LogLevel): void;
  stop(signal: string): Promise<number>;
}): void {
  const scope = globalThis as unknown as {
    onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
    postMessage(message: FromWorker): void;
  };
  let stopping = false;
  scope.onmessage = async (event) => {
    const message = event.data;
    if (message.type === "start") {
      handlers.start(message.config, message.logLevel);
    } else if (!stopping) {
      stopping = true;
      scope.postMessage({
        type: "stopped",
        code: await handlers.stop(message.signal),
      });
    }
  };
}

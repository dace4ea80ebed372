/**
 * The HTTP side listener for operators: `/healthz` (the process answers),
 * `/readyz` (every proxy can forward), `/status` (each proxy's target
 * resources) and `/metrics` (Prometheus). The handler is a plain
 * `Request → Response` function, tested without a socket;
 * {@link serveHttp} puts it on one.
 *
 * Nothing here needs more than the network permission for its own
 * address, so it runs inside the permission-narrowed worker next to the
 * proxies whose state it reports.
 */
import type { ResourceState } from "../core/router_events.ts";

/** Where the listener binds: `Config.http`. */
export interface HttpAddress {
  /** Host name or IP address; an IPv6 address without brackets (`::1`). */
  readonly host: string;
  readonly port: number;
}

/** `host:port`, an IPv6 host in brackets (`[::1]:9347`). */
export function formatAddress({ host, port }: HttpAddress): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** One proxy's state, as `/readyz` judges it. */
export interface Readiness {
  /** The proxy's component domain. */
  readonly proxy: string;
  /** Whether its component stream is authenticated and up. */
  readonly online: boolean;
  /** How many target resources are online. */
  readonly resources: number;
  /**
   * Deliberately not serving, e.g. a standby instance while another one
   * holds the domain. Not ready. Default: false.
   */
  readonly standingBy?: boolean;
  /**
   * The server refused the stream (`not-authorized`, `host-unknown`): an
   * operator must act, retries alone will not help. Default: false.
   */
  readonly refused?: boolean;
  /**
   * Shutting down (a signal, or a reload that removes or reconnects it):
   * new requests are refused. Not ready. Default: false.
   */
  readonly shuttingDown?: boolean;
  /** Its target's resources, for `/status`. Default: none. */
  readonly targetResources?: readonly ResourceState[];
}

/** What `/metrics` serves; {@link Metrics} from ./metrics.ts is one. */
export interface MetricsSource {
  /** The Prometheus exposition. */
  text(): Promise<string>;
  /** Its Content-Type. */
  readonly contentType: string;
}

/** Options of {@link createHandler}. */
export interface HandlerOptions {
  readonly metrics: MetricsSource;
  /** Every proxy's state, read on each `/readyz`. */
  readonly readiness: () => readonly Readiness[];
}

/** The JSON body of `/readyz`. */
export interface ReadyReport {
  readonly ready: boolean;
  readonly proxies: readonly {
    readonly proxy: string;
    readonly ready: boolean;
    readonly online: boolean;
    readonly resources: number;
    /** Why it is not ready; null when it is. */
    readonly reason: string | null;
  }[];
}

const PATHS: ReadonlySet<string> = new Set(["/healthz", "/readyz", "/status", "/metrics"]);

/** Responses must never be cached: they are the state of this instant. */
const NO_STORE = { "cache-control": "no-store" };
const TEXT = { ...NO_STORE, "content-type": "text/plain; charset=utf-8" };
const JSON_TYPE = { ...NO_STORE, "content-type": "application/json" };

/**
 * Builds the request handler.
 *
 * - `GET /healthz`: 200 `ok`, whatever the proxies' state (the process
 *   lives and answers).
 * - `GET /readyz`: 200 when there is at least one proxy and every one is
 *   online with at least one target resource and not standing by, else
 *   503; the body is a {@link ReadyReport} either way, each proxy's
 *   `reason` one of "shutting down", "standing by", "stream refused by the server",
 *   "stream offline", "no target resource online", or null when ready.
 * - `GET /status`: 200 with a {@link StatusReport}: `/readyz`'s judgement
 *   of each proxy and its target's resources (whether each drains, the
 *   requests and `affinity` keys it holds).
 * - `GET /metrics`: the Prometheus text; 500 if producing it fails.
 * - HEAD of each: the same status and headers, no body. Other methods:
 *   405 with `Allow: GET, HEAD`. Other paths: 404. Query strings are
 *   ignored.
 */
export function createHandler(options: HandlerOptions): (req: Request) => Promise<Response> {
  const { metrics, readiness } = options;
  return async (req) => {
    const path = pathOf(req.url);
    if (!PATHS.has(path)) {
      return respond(req, "not found\n", 404, TEXT);
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return respond(req, "method not allowed\n", 405, { ...TEXT, allow: "GET, HEAD" });
    }
    switch (path) {
      case "/healthz":
        return respond(req, "ok\n", 200, TEXT);
      case "/readyz": {
        const report = readyReport(readiness());
        return respond(req, JSON.stringify(report) + "\n", report.ready ? 200 : 503, JSON_TYPE);
      }
      case "/status":
        return respond(req, JSON.stringify(statusReport(readiness())) + "\n", 200, JSON_TYPE);
      default: { // "/metrics", the last of PATHS
        let text: string;
        try {
          text = await metrics.text();
        } catch {
          return respond(req, "metrics unavailable\n", 500, TEXT);
        }
        return respond(req, text, 200, { ...NO_STORE, "content-type": metrics.contentType });
      }
    }
  };
}

/** Judges each proxy; see {@link createHandler}. */
export function readyReport(states: readonly Readiness[]): ReadyReport {
  const proxies = states.map(({ proxy, online, resources, standingBy, refused, shuttingDown }) => {
    const reason = shuttingDown
      ? "shutting down"
      : standingBy
      ? "standing by"
      : refused
      ? "stream refused by the server"
      : !online
      ? "stream offline"
      : resources < 1
      ? "no target resource online"
      : null;
    return { proxy, ready: reason === null, online, resources, reason };
  });
  return { ready: proxies.length > 0 && proxies.every((p) => p.ready), proxies };
}

/** The JSON body of `/status`. */
export interface StatusReport {
  readonly proxies: readonly (ReadyReport["proxies"][number] & {
    readonly target_resources: readonly ResourceState[];
  })[];
}

/** What `/status` says; see {@link createHandler}. */
export function statusReport(states: readonly Readiness[]): StatusReport {
  const judged = readyReport(states).proxies;
  return {
    proxies: judged.map((p, i) => ({ ...p, target_resources: states[i].targetResources ?? [] })),
  };
}

/** Options of {@link serveHttp}. */
export interface ServeOptions {
  /** Aborting it closes the listener (the server's `finished` settles). */
  readonly signal?: AbortSignal;
  /** Called once listening, with the bound address. Default: says nothing. */
  readonly onListen?: (address: HttpAddress) => void;
}

/**
 * Listens on `address` with `Deno.serve`. Throws at once if it cannot bind
 * (`AddrInUse`, `NotCapable` without net permission for the address).
 * A handler that throws gets a plain 500, logged nowhere: the handler from
 * {@link createHandler} does not throw.
 *
 * @returns the server: `shutdown()` it or abort `signal` to stop; port 0
 *   binds a free port, found in `addr`.
 */
export function serveHttp(
  address: HttpAddress,
  handler: (req: Request) => Response | Promise<Response>,
  options: ServeOptions = {},
): Deno.HttpServer<Deno.NetAddr> {
  const { onListen } = options;
  return Deno.serve({
    hostname: address.host,
    port: address.port,
    signal: options.signal,
    // Deno's default prints "Listening on …" to stdout.
    onListen: (addr) => onListen?.({ host: addr.hostname, port: addr.port }),
    onError: () => new Response("internal error\n", { status: 500, headers: TEXT }),
  }, handler);
}

/** The path of a request URL, without query or fragment. */
function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return "";
  }
}

function respond(
  req: Request,
  body: string,
  status: number,
  headers: Record<string, string>,
): Response {
  return new Response(req.method === "HEAD" ? null : body, { status, headers });
}

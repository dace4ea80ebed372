/**
 * The components under test as separate processes: the proxy, started as
 * a user starts it (`deno run` with the start task's flags, `--config
 * FILE`, from the repo root, so the pid is the proxy's own and not a task
 * runner's), and the minimal component. Their stderr is read line by line
 * for readiness and for the number of target resources they know.
 */
import { readStartFlags, startFlags, withoutPermissions } from "../deploy/start_flags.ts";
import { cpuSeconds } from "./procstat.ts";

export const ROOT = new URL("../", import.meta.url).pathname;

/** A component process and what its log said. */
export class Service {
  readonly lines: string[] = [];
  /** The last `available=N` it logged per `domain=` (resources it knows). */
  readonly available = new Map<string, number>();
  exited: number | undefined;
  readonly #child: Deno.ChildProcess;
  readonly #status: Promise<number>;
  readonly #pumped: Promise<unknown>;
  readonly #waiters = new Set<() => void>();
  readonly #cleanup: () => Promise<void>;

  constructor(
    readonly name: string,
    command: string,
    args: string[],
    cleanup: () => Promise<void> = async () => {},
    cwd: string = ROOT,
  ) {
    this.#cleanup = cleanup;
    this.#child = new Deno.Command(command, {
      args,
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#pumped = Promise.all([
      this.#pump(this.#child.stdout),
      this.#pump(this.#child.stderr),
    ]);
    this.#status = this.#child.status.then((status) => {
      this.exited = status.code;
      this.#wake();
      return status.code;
    });
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** CPU seconds used so far. */
  cpu(): number {
    return cpuSeconds(this.pid);
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      for (const line of parts) {
        this.lines.push(line);
        const seen = /resource_(?:up|down) (?:.*domain=(\S+))?.*available=(\d+)/.exec(line);
        if (seen) this.available.set(seen[1] ?? "", Number(seen[2]));
      }
      this.#wake();
    }
  }

  #wake(): void {
    for (const wake of this.#waiters) wake();
  }

  /** Resolves once `check()` holds; rejects after `ms` or when the process exits. */
  until(what: string, check: () => boolean, ms = 15_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (error?: Error) => {
        this.#waiters.delete(test);
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      };
      const test = () => {
        if (check()) done();
        else if (this.exited !== undefined) {
          done(new Error(`${this.name} exited (${this.exited}) before ${what}:\n${this.tail()}`));
        }
      };
      const timer = setTimeout(
        () => done(new Error(`${this.name}: no ${what} within ${ms} ms:\n${this.tail()}`)),
        ms,
      );
      this.#waiters.add(test);
      test();
    });
  }

  /** Waits for a log line matching `pattern`. */
  waitForLine(pattern: RegExp, ms?: number): Promise<void> {
    return this.until(String(pattern), () => this.lines.some((line) => pattern.test(line)), ms);
  }

  /** Waits until it knows exactly `count` target resources (for each domain, "" for none). */
  waitForResources(count: number, domains: readonly string[] = [""], ms?: number): Promise<void> {
    return this.until(
      `available=${count}`,
      () => domains.every((domain) => (this.available.get(domain) ?? 0) === count),
      ms,
    );
  }

  tail(lines = 20): string {
    return this.lines.slice(-lines).join("\n");
  }

  /** SIGTERM, then SIGKILL after `ms`; resolves with the exit code. */
  async stop(ms = 10_000): Promise<number> {
    if (this.exited === undefined) {
      try {
        this.#child.kill("SIGTERM");
      } catch { /* gone */ }
    }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* gone */ }
    }, ms);
    const code = await this.#status;
    clearTimeout(timer);
    await this.#pumped.catch(() => {});
    await this.#cleanup();
    return code;
  }
}

/** One `proxies:` entry of the proxy's config, in its YAML keys. */
export type ProxyEntry = Record<string, unknown> & {
  domain: string;
  secret: string;
  target_address: string;
};

/**
 * Writes a config and starts `deno run <the start task's flags> [extra
 * flags] main.ts --config FILE`, or with `inProcess` the bench's
 * single-threaded runner (for --profile) with the same V8 flags. With
 * `tree`, the `main.ts` and start flags of that checkout (an A/B against
 * another commit), run from its directory.
 */
export async function startProxyProcess(options: {
  server: string;
  /** More top-level keys (tls_ca). */
  top?: Record<string, unknown>;
  proxies: ProxyEntry[];
  logLevel?: string;
  denoFlags?: string[];
  inProcess?: boolean;
  tree?: string;
}): Promise<Service> {
  const dir = await Deno.makeTempDir({ prefix: "client-proxy-bench-" });
  const file = `${dir}/client-proxy.json`;
  const config = {
    server: options.server,
    log_level: options.logLevel ?? "info",
    ...options.top,
    proxies: options.proxies,
  };
  await Deno.writeTextFile(file, JSON.stringify(config, null, 2));
  const service = new Service(
    options.proxies.length === 1 ? `proxy ${options.proxies[0].domain}` : "proxy",
    Deno.execPath(),
    options.inProcess
      ? [
        "run",
        "-A",
        ...withoutPermissions(readStartFlags()),
        ...(options.denoFlags ?? []),
        "bench/inprocess_proxy.ts",
        file,
      ]
      : [
        "run",
        ...treeStartFlags(options.tree),
        ...(options.denoFlags ?? []),
        "main.ts",
        "--config",
        file,
      ],
    () => Deno.remove(dir, { recursive: true }).catch(() => {}),
    options.tree ?? ROOT,
  );
  try {
    await service.until(
      `stream.online for ${options.proxies.length} proxies`,
      () =>
        service.lines.filter((line) => /stream\.online/.test(line)).length >=
          options.proxies.length,
    );
  } catch (error) {
    await service.stop(1_000);
    throw error;
  }
  return service;
}

/** The start task's flags of this checkout, or of the one at `tree`. */
function treeStartFlags(tree: string | undefined): string[] {
  if (tree === undefined) return readStartFlags();
  return startFlags(JSON.parse(Deno.readTextFileSync(`${tree}/deno.json`)));
}

/** Starts bench/minimal_component.ts and waits until its stream is up. */
export async function startMinimal(options: {
  server: string;
  domain: string;
  secret: string;
  target: string;
  denoFlags?: string[];
}): Promise<Service> {
  const service = new Service("minimal", Deno.execPath(), [
    "run",
    "-A",
    ...(options.denoFlags ?? []),
    "bench/minimal_component.ts",
    options.server,
    options.domain,
    options.secret,
    options.target,
  ]);
  try {
    await service.waitForLine(/stream\.online/);
  } catch (error) {
    await service.stop(1_000);
    throw error;
  }
  return service;
}

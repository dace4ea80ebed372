/**
 * Runs the proxy as a user does (`deno task start --config FILE`) in a
 * subprocess, with its config in a temp dir, and reads its log lines.
 */
import { readStartFlags } from "../../deploy/start_flags.ts";
import { killTree } from "./process_tree.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 15_000;

/** One entry of the config's `proxies:` list, in YAML's own keys. */
export type ProxyEntry = Record<string, unknown> & {
  domain: string;
  secret: string;
  target_address: string;
};

/** Options of {@link startProxy}. */
export interface ProxyOptions {
  /** `xmpp://host:port` of the server's component port. */
  readonly server: string;
  readonly proxies: readonly ProxyEntry[];
  /** Extra top-level keys. */
  readonly top?: Record<string, unknown>;
  /** Log level. Default: "debug". */
  readonly logLevel?: string;
  /** Wait for this log event before resolving. Default: "stream.online". */
  readonly readyEvent?: string;
  /**
   * Run `deno run <the start task's flags> <these> main.ts` instead of
   * `deno task start`. Default: none (the task).
   */
  readonly denoFlags?: readonly string[];
  /** Variables added to the proxy's environment (say, a `secret_env`). */
  readonly env?: Record<string, string>;
}

/** A running proxy process. */
export interface ProxyProcess {
  /** Every log line so far. */
  readonly log: () => string;
  /** Resolves when a log line matches (also one already written). */
  waitForLog(pattern: RegExp, options?: { timeoutMs?: number; after?: number }): Promise<string>;
  /** How many log lines there are now (for `after`). */
  lineCount(): number;
  /** The config file it runs on (rewrite it, then send SIGHUP). */
  readonly configFile: string;
  /** Writes a new config (in YAML's keys) to {@link configFile}. */
  writeConfig(config: Record<string, unknown>): Promise<void>;
  /**
   * Writes a new config, sends SIGHUP and waits until it is in force;
   * resolves with the line count before (for `after`).
   */
  reload(config: Record<string, unknown>): Promise<number>;
  /** The proxy's own pid, as it logs it (not the `deno task` around it). */
  pid(): number;
  /** Sends a signal to the proxy itself (not to the `deno task` around it). */
  signal(signal: Deno.Signal): void;
  /** Sends a signal and waits for the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
  /** SIGKILL, then removes the temp dir. */
  kill(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A config file as it is (a documented one), and how to run the proxy on it. */
export interface ProxyFileOptions extends Pick<ProxyOptions, "readyEvent" | "denoFlags" | "env"> {
  /** The config file's text, written as it is. */
  readonly configText: string;
  /** More arguments after `--config FILE` (say, `--credentials-dir DIR`). */
  readonly args?: readonly string[];
}

/** Writes a config for `options` and starts the proxy on it. */
export function startProxy(options: ProxyOptions): Promise<ProxyProcess> {
  const config = {
    server: options.server,
    log_level: options.logLevel ?? "debug",
    ...options.top,
    proxies: options.proxies,
  };
  return startProxyOnFile({
    configText: JSON.stringify(config, null, 2), // JSON is YAML
    readyEvent: options.readyEvent,
    denoFlags: options.denoFlags,
    env: options.env,
  });
}

/** Writes `options.configText` as the config file and starts the proxy on it. */
export async function startProxyOnFile(options: ProxyFileOptions): Promise<ProxyProcess> {
  const dir = await Deno.makeTempDir({ prefix: "client-proxy-test-" });
  // Its own directory, as in /etc: the scoped flags allow reading it, and
  // only it (the single file, when tested, goes in bin/ beside it).
  await Deno.mkdir(`${dir}/etc`);
  const file = `${dir}/etc/client-proxy.yaml`;
  await Deno.writeTextFile(file, options.configText);
  let command: string[];
  try {
    command = options.denoFlags
      ? ["run", ...readStartFlags(), ...options.denoFlags, "main.ts"]
      : await launcher(
        file,
        dir,
        options.args?.includes("--expand-env") ? options.env ?? {} : undefined,
      );
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: [...command, "--config", file, ...options.args ?? []],
    cwd: command.some((arg) => arg.startsWith(dir)) ? dir : ROOT,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      lines.push(...parts);
      for (const wake of waiters) wake();
    }
    if (rest) lines.push(rest);
  };
  const pumped = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited: number | undefined;
  const status = child.status.then((s) => (exited = s.code));
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    // Bounded: a process we failed to kill must not hang the suite.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      pumped.catch(() => {}),
      new Promise((resolve) => timer = setTimeout(resolve, STOP_TIMEOUT_MS)),
    ]);
    clearTimeout(timer);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };

  const waitForLog: ProxyProcess["waitForLog"] = (pattern, opts = {}) => {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined = undefined;
      const check = () => {
        const hit = lines.slice(opts.after ?? 0).find((line) => pattern.test(line));
        if (hit !== undefined || exited !== undefined) {
          waiters.delete(check);
          clearTimeout(timer);
          if (hit !== undefined) resolve(hit);
          else {reject(
              new Error(`proxy exited (${exited}) before logging ${pattern}:\n${lines.join("\n")}`),
            );}
        }
      };
      timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(`no log line matching ${pattern} within ${timeoutMs} ms:\n${lines.join("\n")}`),
        );
      }, timeoutMs);
      waiters.add(check);
      status.then(check);
      check();
    });
  };

  const proc: ProxyProcess = {
    configFile: file,
    writeConfig: (next) => Deno.writeTextFile(file, JSON.stringify(next, null, 2)),
    async reload(next) {
      const seen = proc.lineCount();
      await proc.writeConfig(next);
      proc.signal("SIGHUP");
      await proc.waitForLog(/config\.reloaded/, { after: seen });
      return seen;
    },
    pid() {
      // The pid the proxy logs, as an operator would use it for `kill -HUP`.
      const logged = lines.join("\n").match(/proxy\.starting .*?\bpid=(\d+)/)?.[1];
      if (logged === undefined) throw new Error("no pid= in a proxy.starting line yet");
      return Number(logged);
    },
    signal(signal: Deno.Signal) {
      Deno.kill(proc.pid(), signal);
    },
    log: () => lines.join("\n"),
    lineCount: () => lines.length,
    waitForLog,
    async stop(signal: Deno.Signal = "SIGTERM") {
      if (exited === undefined) {
        try {
          child.kill(signal);
        } catch { /* already gone */ }
      }
      // `deno task` waits for the proxy: the whole tree goes, or it lives on.
      const timer = setTimeout(() => killTree(child.pid), STOP_TIMEOUT_MS);
      const code = await status;
      clearTimeout(timer);
      await cleanup();
      return code;
    },
    async kill() {
      // `deno task` runs the proxy as its child: kill that one too, or it
      // would live on holding our pipes.
      killTree(child.pid);
      await status;
      await cleanup();
    },
    [Symbol.asyncDispose]() {
      return proc.kill();
    },
  };
  try {
    await waitForLog(new RegExp(options.readyEvent ?? "stream\\.online"), {
      timeoutMs: READY_TIMEOUT_MS,
    });
  } catch (error) {
    await proc.kill();
    throw error;
  }
  return proc;
}

/**
 * How the proxy is started: as a user does (`deno task start`), or, with
 * CLIENT_PROXY_UNDER_TEST=bundle, the single-file build under the flags
 * that `deno task compile --config FILE` would bake into a binary for this
 * config (CI's smoke test of `deno task bundle` and of the scoped set);
 * `bundle-one-thread`: the same without read access to the file itself.
 */
/** `expandEnv`: the proxy reads its config with --expand-env, in this environment. */
async function launcher(
  config: string,
  dir: string,
  expandEnv?: Record<string, string>,
): Promise<string[]> {
  const which = Deno.env.get("CLIENT_PROXY_UNDER_TEST");
  if (which === "bundle" || which === "bundle-one-thread") {
    // A copy outside this repo, as deployed: Deno looks for a deno.json
    // next to the main module, and this repo's turns worker options on.
    await Deno.mkdir(`${dir}/bin`);
    const bundle = `${dir}/bin/client-proxy.js`;
    await Deno.copyFile(`${ROOT}dist/client-proxy.js`, bundle);
    // Without read access to its own file, the proxy cannot start a Worker
    // and runs in one thread: as a binary would if Deno asked that of it.
    const readSelf = which === "bundle" ? ["--bundle", bundle] : [];
    const expand = expandEnv ? ["--expand-env"] : [];
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "task",
        "--quiet",
        "compile",
        "--print-flags",
        ...expand,
        "--config",
        config,
        ...readSelf,
      ],
      cwd: ROOT,
      ...(expandEnv ? { env: expandEnv } : {}),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes).trim();
    if (!output.success) throw new Error(`deno task compile --print-flags: ${text(output.stderr)}`);
    return ["run", ...text(output.stdout).split("\n"), bundle];
  }
  if (which !== undefined && which !== "" && which !== "task") {
    throw new Error(
      `CLIENT_PROXY_UNDER_TEST: expected task, bundle or bundle-one-thread, got "${which}"`,
    );
  }
  return ["task", "--quiet", "start"];
}

/**
 * What the two server launchers (./prosody.ts, ./ejabberd.ts) share: one
 * run of a server process with its output captured and a patient stop, and
 * the life of a throwaway server around it (its temp dir, its log file,
 * restart, stop, the last-resort kill at exit).
 */
import { untrack } from "./leftovers.ts";
import { retry } from "./retry.ts";

/** A port was taken between freePort() and the server's bind: start over. */
export class PortTakenError extends Error {}

/** Runs `startOnce` again (with new ports) while a port was taken, three times at most. */
export async function withFreshPorts<T>(startOnce: () => Promise<T>): Promise<T> {
  // The ports are free when picked but not reserved: if one gets taken
  // before the server binds it, start over with new ones.
  for (let attempt = 1;; attempt++) {
    try {
      return await startOnce();
    } catch (err) {
      if (!(err instanceof PortTakenError) || attempt >= 3) throw err;
    }
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The last lines of a log, for error messages. */
export function tail(text: string, lines = 40): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

/** How to spawn a server: {@link ServerProcess}'s options. */
export interface SpawnOptions {
  readonly env?: Record<string, string>;
  readonly cwd?: string;
  /** Said instead of Deno's NotFound when the command is not installed. */
  readonly installHint: string;
  /** Receives stdout and stderr as they come. */
  readonly onOutput: (text: string) => void;
  /** Start it in a session of its own (setsid(1), same pid). Default false. */
  readonly detached?: boolean;
}

/** One run of a server process, with its stdout/stderr captured. */
export class ServerProcess {
  readonly child: Deno.ChildProcess;
  /** resolves once the process exited and its pipes are drained */
  readonly done: Promise<Deno.CommandStatus>;
  exited = false;

  constructor(command: string, args: string[], options: SpawnOptions) {
    try {
      this.child = new Deno.Command(options.detached ? "setsid" : command, {
        args: options.detached ? [command, ...args] : args,
        env: options.env,
        cwd: options.cwd,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw new Error(
          options.detached
            ? `setsid or ${command} not found: ${options.installHint}`
            : options.installHint,
        );
      }
      throw err;
    }
    const drain = async (stream: ReadableStream<Uint8Array>) => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) options.onOutput(text);
    };
    const pipes = Promise.all([drain(this.child.stdout), drain(this.child.stderr)]);
    this.done = this.child.status.then(async (status) => {
      this.exited = true;
      await pipes;
      return status;
    });
  }

  /**
   * SIGTERM, then wait for the exit; SIGKILL after `killAfterMs`, or 100 ms
   * after `finished()` says the server completed its own shutdown (both
   * servers idle about a second after that before they really exit).
   */
  async terminate(killAfterMs: number, finished: () => boolean = () => false): Promise<void> {
    if (!this.exited) {
      try {
        this.child.kill("SIGTERM");
      } catch { /* already gone */ }
      const started = Date.now();
      let finishedAt: number | undefined;
      while (!this.exited) {
        const now = Date.now();
        if (finishedAt === undefined && finished()) finishedAt = now;
        if (now - started > killAfterMs || (finishedAt !== undefined && now - finishedAt > 100)) {
          break;
        }
        await delay(20);
      }
      if (!this.exited) {
        try {
          this.child.kill("SIGKILL");
        } catch { /* already gone */ }
      }
    }
    await this.done;
  }

  /** Last resort at process exit: no waiting possible. */
  killSync(): void {
    try {
      if (!this.exited) this.child.kill("SIGKILL");
    } catch { /* already gone */ }
  }
}

/**
 * A throwaway server in its temp dir: its log, and restart, stop and the
 * exit-time kill around the runs that the subclass starts.
 */
export abstract class ServerRuns<P extends ServerProcess> {
  abstract readonly kind: string;
  abstract readonly logPath: string;
  /** the domain of the test accounts */
  readonly domain = "localhost";
  readonly c2sUrl: string;
  readonly componentUrl: string;
  /** `xmpps://127.0.0.1:<port>` of each direct TLS component listener, as asked for */
  readonly tlsComponentUrls: readonly string[];
  /** the current (or last) run */
  protected process: P | undefined;
  /** what the processes printed on stdout/stderr */
  protected output = "";
  #stopping: Promise<void> | undefined;

  /** Ports on 127.0.0.1. */
  constructor(
    readonly dir: string,
    readonly c2sPort: number,
    readonly componentPort: number,
    /** the direct TLS component listeners' ports */
    readonly tlsPorts: readonly number[] = [],
  ) {
    this.c2sUrl = `xmpp://127.0.0.1:${c2sPort}`;
    this.componentUrl = `xmpp://127.0.0.1:${componentPort}`;
    this.tlsComponentUrls = tlsPorts.map((port) => `xmpps://127.0.0.1:${port}`);
  }

  /** Where component `domain` connects (a server with listeners per component overrides it). */
  componentUrlOf(_domain: string): string {
    return this.componentUrl;
  }

  /** Starts a run and waits until the server accepts connections. */
  abstract start(): Promise<void>;

  /** Ends the current run; `forRestart`: its data must stay usable. */
  protected abstract terminate(forRestart: boolean): Promise<void>;

  log(): string {
    let file = "";
    try {
      file = Deno.readTextFileSync(this.logPath);
    } catch { /* not written yet, or removed by stop() */ }
    return this.output ? `${file}\n--- ${this.kind} stdout/stderr ---\n${this.output}` : file;
  }

  protected logLength(): number {
    try {
      return Deno.statSync(this.logPath).size;
    } catch {
      return 0;
    }
  }

  protected logSince(offset: number): string {
    try {
      return new TextDecoder().decode(Deno.readFileSync(this.logPath).subarray(offset));
    } catch {
      return "";
    }
  }

  async restart(): Promise<void> {
    if (this.#stopping) throw new Error("restart() after stop()");
    await this.terminate(true);
    // Same ports, same data; retry in case the kernel needs a moment.
    await retry(() => this.start(), { times: 3, pauseMs: 300 });
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      try {
        await this.terminate(false);
      } finally {
        await Deno.remove(this.dir, { recursive: true }).catch(() => {});
        untrack(this);
      }
    })();
    return this.#stopping;
  }

  signal(signal: Deno.Signal): void {
    if (this.process && !this.process.exited) this.process.child.kill(signal);
  }

  /** last resort at process exit: no waiting possible */
  killSync(): void {
    this.process?.killSync();
    try {
      Deno.removeSync(this.dir, { recursive: true });
    } catch { /* already gone */ }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/**
 * The sandbox's child processes (the proxy, the example client): each line
 * they print goes to the terminal labelled with the child's name; a line
 * can be waited for; a stop that is not heard ends in SIGKILL.
 */
import { fileURLToPath } from "node:url";

/** The repo root: the proxy and the example client run from here. */
const ROOT = fileURLToPath(new URL("../", import.meta.url));
const STOP_TIMEOUT_MS = 5_000;

const colour = Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");

/** `[name]`, padded, in colour `code` (an SGR code) on a terminal. */
export function prefix(name: string, code: number): string {
  const label = `[${name}]`.padEnd(10);
  return colour ? `\x1b[${code}m${label}\x1b[0m` : label;
}

/** A child process whose output lines go to the terminal, prefixed. */
export class Child {
  readonly #child: Deno.ChildProcess;
  readonly #pumped: Promise<unknown>;
  readonly #watchers = new Set<(line: string) => void>();
  exitCode: number | undefined;
  readonly exited: Promise<number>;

  constructor(
    readonly name: string,
    colourCode: number,
    args: string[],
    env?: Record<string, string>,
  ) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args,
      env,
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const label = prefix(name, colourCode);
    const pump = async (stream: ReadableStream<Uint8Array>, write: (s: string) => void) => {
      let rest = "";
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        const lines = (rest + chunk).split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines) {
          write(`${label}${line}`);
          for (const watch of this.#watchers) watch(line);
        }
      }
      if (rest) write(`${label}${rest}`);
    };
    this.#pumped = Promise.all([
      pump(this.#child.stdout, console.log),
      pump(this.#child.stderr, console.error),
    ]).catch(() => {});
    this.exited = this.#child.status.then((status) => (this.exitCode = status.code));
  }

  /** Calls `watch` for every line printed from now on; returns the unsubscribe. */
  watch(watch: (line: string) => void): () => void {
    this.#watchers.add(watch);
    return () => this.#watchers.delete(watch);
  }

  /** Resolves when a line matches. */
  waitFor(pattern: RegExp): Promise<void> {
    return new Promise((resolve) => {
      const stop = this.watch((line) => {
        if (pattern.test(line)) {
          stop();
          resolve();
        }
      });
    });
  }

  /** `signal`, then SIGKILL if it has not exited after STOP_TIMEOUT_MS. */
  async stop(signal: Deno.Signal): Promise<void> {
    if (this.exitCode === undefined) {
      try {
        this.#child.kill(signal);
      } catch { /* gone already */ }
      const timer = setTimeout(() => {
        try {
          this.#child.kill("SIGKILL");
        } catch { /* gone already */ }
      }, STOP_TIMEOUT_MS);
      await this.exited;
      clearTimeout(timer);
    }
    await this.#pumped;
  }
}

/**
 * A private, throwaway ejabberd (Debian's `ejabberd` package, 23.01) for
 * integration tests, behind the same {@link XmppServer} interface as
 * ./prosody.ts: its own temp dir (ejabberd.yml, Mnesia data, logs), its own
 * free ports on 127.0.0.1 (c2s, component, Erlang distribution), no s2s, no
 * TLS but on the direct TLS component listeners asked for (`tls: true`).
 *
 * It runs `erl` directly, not Debian's `ejabberdctl` wrapper (which switches
 * to the `ejabberd` user, shares the system cookie and outlives a kill):
 * its own node name and cookie, no epmd (`-erl_epmd_port` names the
 * distribution port, `-start_epmd false`), distribution bound to
 * 127.0.0.1. Accounts are registered by `ejabberd_ctl:process/1` (what
 * the `ejabberd_ctl` CLI runs): those given to startEjabberd() by the node
 * itself right after ejabberd started, later ones (register(), ctl()) from
 * a hidden second node that does not listen, as the CLI does.
 *
 * stop() kills the VM as soon as ejabberd has logged its own shutdown (the
 * data is thrown away); restart() waits for the VM's clean exit, so that
 * Mnesia (accounts, rosters) is intact for the next run.
 *
 * Needs `--allow-run=erl,ps`, `--allow-net=127.0.0.1`, `--allow-read` and
 * `--allow-write` on the temp dir, `--allow-env` (`-A` is simplest). It
 * makes sure that no child of the node (erl_child_setup and the port
 * programs under it) outlives stop(), looking them up in /proc (with `-A`)
 * or with `ps`.
 */
import {
  BOOT_CTL,
  BOOT_DONE_LINE,
  buildConfig,
  CTL_BATCH,
  CTL_NODE_DOWN,
  erlangString,
  findErlLibs,
  HOST,
  INSTALL_HINT,
  PORT_TAKEN,
  QUIET_SCHEDULERS,
  randomToken,
  STOPPED,
  USER_DOMAIN,
} from "./ejabberd_node.ts";
import { trackUntilExit } from "./leftovers.ts";
import { descendantCommands, survivors } from "./process_tree.ts";
import { acceptsTcp, freePort } from "./prosody.ts";
import type { StartOptions, UserSpec, XmppServer } from "./server.ts";
import {
  delay,
  PortTakenError,
  ServerProcess,
  ServerRuns,
  tail,
  withFreshPorts,
} from "./server_process.ts";

const READY_TIMEOUT_MS = 15_000;
const KILL_AFTER_MS = 5_000;
const CTL_TIMEOUT_MS = 15_000;

/** One run of the `erl … -s ejabberd` node, and the children it starts. */
class EjabberdProcess extends ServerProcess {
  /** the node's own children (erl_child_setup, inet_gethost …), seen while it ran */
  readonly children = new Map<number, string>();

  /** Remembers the node's current children, to check later that none outlives it. */
  noteChildren(): void {
    if (this.exited) return;
    for (const [pid, cmd] of descendantCommands(this.child.pid)) this.children.set(pid, cmd);
  }

  /**
   * As for any server, with `finished` when ejabberd logged that it
   * stopped (listeners and sessions closed, about 0.3 s; the Erlang VM then
   * idles for about a second in `init:stop`). Then its children.
   */
  override async terminate(killAfterMs: number, finished?: () => boolean): Promise<void> {
    this.noteChildren();
    await super.terminate(killAfterMs, finished);
    await this.reapChildren();
  }

  /** erl_child_setup leaves by itself once the node is gone; wait a moment, then SIGKILL. */
  async reapChildren(): Promise<void> {
    const started = Date.now();
    while (survivors(this.children).length > 0 && Date.now() - started < 1_000) await delay(20);
    for (const pid of survivors(this.children)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone meanwhile */ }
    }
  }

  override killSync(): void {
    this.noteChildren();
    for (const pid of [this.child.pid, ...survivors(this.children)]) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* already gone */ }
    }
  }
}

class EjabberdServer extends ServerRuns<EjabberdProcess> implements XmppServer {
  readonly kind = "ejabberd" as const;
  readonly configPath: string;
  readonly logPath: string;
  /** `<name>@localhost`: the node's name, unique per server */
  readonly node: string;
  readonly #cookie = randomToken(16);
  readonly #erlLibs: string;
  /** where the current run's lines start in the log file */
  #runLogOffset = 0;

  constructor(
    dir: string,
    c2sPort: number,
    componentPort: number,
    /** the Erlang distribution port (no epmd) */
    readonly distPort: number,
    tlsPorts: readonly number[] = [],
    /** each component's own listener (`listenerPerComponent`) */
    readonly ownPorts: ReadonlyMap<string, number> = new Map(),
  ) {
    super(dir, c2sPort, componentPort, tlsPorts);
    this.configPath = `${dir}/ejabberd.yml`;
    this.logPath = `${dir}/log/ejabberd.log`;
    this.node = `cp${randomToken(4)}@localhost`;
    this.#erlLibs = findErlLibs();
  }

  override componentUrlOf(domain: string): string {
    const port = this.ownPorts.get(domain);
    return port === undefined ? this.componentUrl : `xmpp://${HOST}:${port}`;
  }

  /** The process id of the running node (beam.smp), if any. */
  get pid(): number | undefined {
    return this.process && !this.process.exited ? this.process.child.pid : undefined;
  }

  /** The command lines of the running node's descendants (erl_child_setup …), if visible. */
  childProcesses(): string[] {
    const pid = this.pid;
    return pid === undefined ? [] : [...descendantCommands(pid).values()];
  }

  /** Child processes of the current or last run that are still there (none after stop()). */
  leftoverProcesses(): number[] {
    return this.process ? survivors(this.process.children) : [];
  }

  #env(): Record<string, string> {
    return {
      ERL_LIBS: this.#erlLibs,
      EJABBERD_CONFIG_PATH: this.configPath,
      EJABBERD_LOG_PATH: this.logPath,
      EJABBERD_PID_PATH: `${this.dir}/ejabberd.pid`,
      HOME: this.dir,
    };
  }

  /** erl flags shared by the node and ejabberd_ctl: cookie, no epmd, distribution port. */
  #distArgs(): string[] {
    return [
      ...QUIET_SCHEDULERS,
      "-setcookie",
      this.#cookie,
      "-erl_epmd_port",
      String(this.distPort),
      "-start_epmd",
      "false",
    ];
  }

  /**
   * Spawns the node and waits until ejabberd accepts on both ports, having
   * run `bootCommands` (ejabberd_ctl commands, e.g. registrations) in it.
   */
  async start(bootCommands: readonly (readonly string[])[] = []): Promise<void> {
    const logOffset = this.logLength();
    this.#runLogOffset = logOffset;
    const outputOffset = this.output.length;
    const boot = bootCommands.length === 0
      ? []
      : ["-eval", BOOT_CTL, "-extra", ...bootCommands.flatMap((c) => [String(c.length), ...c])];
    const proc = new EjabberdProcess(
      "erl",
      [
        "-sname",
        this.node,
        ...this.#distArgs(),
        "-kernel",
        "inet_dist_use_interface",
        "{127,0,0,1}",
        "-noinput",
        "-mnesia",
        "dir",
        erlangString(`${this.dir}/db`),
        "-s",
        "ejabberd",
        "-ejabberd",
        "quiet",
        "true",
        ...boot,
      ],
      {
        env: this.#env(),
        cwd: this.dir,
        installHint: INSTALL_HINT,
        onOutput: (text) => {
          this.output += text;
        },
      },
    );
    this.process = proc;
    const accepting = (module: string, port: number) =>
      new RegExp(`Start accepting (TCP|TLS) connections at ${HOST}:${port} for ${module}`);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let problem: string;
    while (true) {
      const fresh = this.logSince(logOffset) + this.output.slice(outputOffset);
      if (proc.exited) {
        const status = await proc.done;
        const output = this.logSince(logOffset) + this.output.slice(outputOffset);
        if (PORT_TAKEN.test(output)) {
          await proc.reapChildren();
          throw new PortTakenError(`a port was taken\n--- log tail ---\n${tail(this.log())}`);
        }
        problem = `ejabberd exited with code ${status.code}`;
        break;
      }
      const booted = bootCommands.length === 0 ? "0" : fresh.match(BOOT_DONE_LINE)?.[1];
      if (booted !== undefined && booted !== "0") {
        problem = `ejabberd_ctl commands at start-up failed (${booted}): ${
          bootCommands.map((c) => c.join(" ")).join("; ")
        }`;
        break;
      }
      if (
        booted === "0" &&
        accepting("ejabberd_c2s", this.c2sPort).test(fresh) &&
        [this.componentPort, ...this.tlsPorts, ...this.ownPorts.values()].every((port) =>
          accepting("ejabberd_service", port).test(fresh)
        ) &&
        (await acceptsTcp(this.c2sPort)) && (await acceptsTcp(this.componentPort)) &&
        (await everyPort([...this.tlsPorts, ...this.ownPorts.values()], acceptsTcp))
      ) {
        proc.noteChildren();
        return;
      }
      if (Date.now() > deadline) {
        problem = `ports ${this.c2sPort} (c2s), ${this.componentPort} (component) ` +
          `not both open after ${READY_TIMEOUT_MS} ms`;
        break;
      }
      await delay(25);
    }
    await proc.terminate(1_000);
    throw new Error(`${problem}\n--- log tail ---\n${tail(this.log())}`);
  }

  /** Runs one `ejabberd_ctl` command on the node (as the CLI does); resolves with its output. */
  ctl(...command: string[]): Promise<string> {
    return this.ctlBatch([command]);
  }

  /**
   * Runs `ejabberd_ctl` commands one after the other from a single hidden
   * node (an Erlang VM takes most of a second to boot; the command itself
   * a few ms): each is `ejabberd_ctl:process(Args)` called on the server by
   * RPC, exactly what the `ejabberd_ctl` CLI does. Rejects unless all
   * succeed (exit 0), with their output.
   */
  async ctlBatch(commands: readonly (readonly string[])[]): Promise<string> {
    if (commands.length === 0) return "";
    // The commands travel as plain arguments, each prefixed by its length,
    // so that nothing needs quoting as Erlang source.
    const plain = [this.node, ...commands.flatMap((c) => [String(c.length), ...c])];
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command("erl", {
        args: [
          "-sname",
          `ctl${randomToken(4)}`,
          ...this.#distArgs(),
          "-dist_listen",
          "false",
          "-hidden",
          "-noinput",
          "-eval",
          CTL_BATCH,
          "-extra",
          ...plain,
        ],
        env: this.#env(),
        cwd: this.dir,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) throw new Error(INSTALL_HINT);
      throw err;
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, CTL_TIMEOUT_MS);
    const output = await child.output();
    clearTimeout(timer);
    const dec = new TextDecoder();
    const text = dec.decode(output.stdout) + dec.decode(output.stderr);
    if (!output.success) {
      const why = output.code === CTL_NODE_DOWN ? " (node down)" : "";
      const what = commands.map((c) => c.join(" ")).join("; ");
      throw new Error(`ejabberd_ctl ${what} failed (exit ${output.code}${why}):\n${text}`);
    }
    return text;
  }

  async register(user: UserSpec): Promise<void> {
    await this.ctl("register", user.username, user.host ?? this.domain, user.password);
  }

  /** Registers several accounts with one ejabberd_ctl node. */
  async registerAll(users: readonly UserSpec[]): Promise<void> {
    await this.ctlBatch(
      users.map((u) => ["register", u.username, u.host ?? this.domain, u.password]),
    );
  }

  /**
   * Stops the current run. For a restart: wait for the VM's own exit
   * (Mnesia closed cleanly: the data is reused); otherwise kill the VM as
   * soon as ejabberd logged that it stopped (stop() throws the data away).
   */
  protected terminate(forRestart: boolean): Promise<void> {
    const proc = this.process;
    if (!proc) return Promise.resolve();
    const offset = this.#runLogOffset;
    return proc.terminate(
      KILL_AFTER_MS,
      forRestart ? undefined : () => STOPPED.test(this.logSince(offset)),
    );
  }
}

/** The ejabberd started by {@link startEjabberd}, with its extras (node name, ctl, pid). */
export type Ejabberd = XmppServer & {
  readonly kind: "ejabberd";
  readonly node: string;
  readonly distPort: number;
  readonly pid: number | undefined;
  ctl(...command: string[]): Promise<string>;
  ctlBatch(commands: readonly (readonly string[])[]): Promise<string>;
  childProcesses(): string[];
  leftoverProcesses(): number[];
};

export async function startEjabberd(options: StartOptions = {}): Promise<Ejabberd> {
  if (options.layout || options.env) throw new Error("layout and env are Prosody's options");
  findErlLibs(); // fail early and clearly when ejabberd is not installed
  return await withFreshPorts(() => startOnce(options));
}

async function everyPort(
  ports: readonly number[],
  check: (port: number) => Promise<boolean>,
): Promise<boolean> {
  for (const port of ports) if (!(await check(port))) return false;
  return true;
}

function distinctPorts(count: number): number[] {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(freePort());
  return [...ports];
}

async function startOnce(options: StartOptions): Promise<EjabberdServer> {
  const dir = await Deno.makeTempDir({ prefix: "client-proxy-ejabberd-" });
  const tlsCount = options.tlsListeners?.length ?? 0;
  const owners = options.listenerPerComponent ? options.components ?? [] : [];
  const [c2sPort, componentPort, distPort, ...more] = distinctPorts(3 + tlsCount + owners.length);
  const tlsPorts = more.slice(0, tlsCount);
  const ownPorts = new Map(owners.map((c, i) => [c.domain, more[tlsCount + i]]));
  let server: EjabberdServer;
  try {
    server = new EjabberdServer(dir, c2sPort, componentPort, distPort, tlsPorts, ownPorts);
  } catch (err) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  }
  trackUntilExit(server);
  try {
    await Deno.mkdir(`${dir}/log`);
    await Deno.mkdir(`${dir}/db`);
    await Deno.writeTextFile(
      server.configPath,
      buildConfig(c2sPort, componentPort, tlsPorts, ownPorts, options),
    );
    await server.start(
      (options.users ?? []).map((u) => ["register", u.username, u.host ?? USER_DOMAIN, u.password]),
    );
    return server;
  } catch (err) {
    await server.stop();
    throw err;
  }
}

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
import { trackUntilExit } from "./leftovers.ts";
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

const HOST = "127.0.0.1";
const USER_DOMAIN = "localhost";
const READY_TIMEOUT_MS = 15_000;
const KILL_AFTER_MS = 5_000;
const CTL_TIMEOUT_MS = 15_000;
const INSTALL_HINT =
  'ejabberd not found: install it with "apt-get install ejabberd" (Debian/Ubuntu)';
/** Where Debian (and most builds) put ejabberd's OTP application dir `ejabberd-<version>`. */
const LIB_ROOTS = ["/usr/lib", "/usr/local/lib", "/usr/lib64", "/opt/ejabberd/lib"];
/** ejabberd (listener) or the Erlang distribution could not bind a port. */
const PORT_TAKEN = /eaddrinuse/;
/** ejabberd_ctl's exit code when the node cannot be reached */
const CTL_NODE_DOWN = 3;
/** ejabberd's last words on SIGTERM (the VM exits about a second later) */
const STOPPED = /ejabberd \S+ is stopped in the node/;
/**
 * The hidden ctl node's program: plain arguments `Node (Len Arg…)…`; runs
 * each command through `ejabberd_ctl:process/1` on `Node` (its output is
 * printed here, as the group leader is ours) and halts with 0 when all
 * returned 0, 3 when the node was unreachable, else the first other code.
 */
const CTL_BATCH = `
[Node | Plain] = init:get_plain_arguments(),
N = list_to_atom(Node),
Run = fun Run([]) -> 0;
          Run([Len | Rest]) ->
            {Args, More} = lists:split(list_to_integer(Len), Rest),
            case rpc:call(N, ejabberd_ctl, process, [Args], 10000) of
              0 -> Run(More);
              {badrpc, Reason} -> io:format("rpc failed: ~p~n", [Reason]), 3;
              Code when is_integer(Code) -> Code;
              Other -> io:format("unexpected: ~p~n", [Other]), 1
            end
        end,
halt(Run(Plain)).`;

/**
 * No busy-waiting schedulers: on a small shared machine (CI, tests running
 * in parallel) spinning Erlang schedulers take CPU from everyone else.
 */
const QUIET_SCHEDULERS = ["+sbwt", "none", "+sbwtdcpu", "none", "+sbwtdio", "none"];
/**
 * The node's own start-up program, after `-s ejabberd` (which returns once
 * ejabberd is started): plain arguments `(Len Arg…)…`, each an ejabberd_ctl
 * command run in the node by `ejabberd_ctl:process/1`, the function behind
 * the `ejabberd_ctl` CLI. Saves booting a second Erlang VM (most of a
 * second, more on a busy machine) for the accounts every test needs.
 * Prints `BOOT_DONE <code>`: 0 when all succeeded.
 */
const BOOT_DONE = "client-proxy-harness: boot commands done";
const BOOT_DONE_LINE = new RegExp(`${BOOT_DONE} (\\d+)`);
const BOOT_CTL = `
Code = try
  Run = fun Run([]) -> 0;
            Run([Len | Rest]) ->
              {Args, More} = lists:split(list_to_integer(Len), Rest),
              case ejabberd_ctl:process(Args) of
                0 -> Run(More);
                C when is_integer(C) -> C;
                Other -> io:format("unexpected: ~p~n", [Other]), 1
              end
          end,
  Run(init:get_plain_arguments())
catch Class:Reason -> io:format("~p:~p~n", [Class, Reason]), 1
end,
io:format("${BOOT_DONE} ~p~n", [Code]).`;

function randomToken(bytes = 8): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)))
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/** A YAML double-quoted scalar (a JSON string is one). */
function yamlString(value: string): string {
  return JSON.stringify(value);
}

/** An Erlang string literal, for `-mnesia dir`. */
function erlangString(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => "\\" + c)}"`;
}

let erlLibsCache: string | undefined;

/** The dir to put in ERL_LIBS: the one holding `ejabberd-<version>/ebin/ejabberd.app`. */
function findErlLibs(): string {
  if (erlLibsCache) return erlLibsCache;
  const candidates: string[] = [];
  for (const root of LIB_ROOTS) {
    candidates.push(root);
    try {
      for (const entry of Deno.readDirSync(root)) {
        if (entry.isDirectory) candidates.push(`${root}/${entry.name}`);
      }
    } catch { /* no such root */ }
  }
  for (const dir of candidates) {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (!/^ejabberd-\d/.test(entry.name)) continue;
      try {
        Deno.statSync(`${dir}/${entry.name}/ebin/ejabberd.app`);
        erlLibsCache = dir;
        return dir;
      } catch { /* not this one */ }
    }
  }
  throw new Error(INSTALL_HINT);
}

function buildConfig(
  c2sPort: number,
  componentPort: number,
  tlsPorts: readonly number[],
  ownPorts: ReadonlyMap<string, number>,
  options: StartOptions,
): string {
  const components = options.components ?? [];
  const service = (port: number, domains?: readonly string[]) => {
    const hosts = components.filter((c) => domains?.includes(c.domain) ?? true).map((c) =>
      `      ${yamlString(c.domain)}:\n        password: ${yamlString(c.secret)}`
    );
    return [
      `  - port: ${port}`,
      `    ip: ${yamlString(HOST)}`,
      "    module: ejabberd_service",
      "    access: all",
      hosts.length ? "    hosts:\n" + hosts.join("\n") : "    hosts: {}",
    ];
  };
  // Direct TLS on the component listener, each with its own certificate.
  const tls = (options.tlsListeners ?? []).flatMap((listener, i) => [
    ...service(tlsPorts[i], listener.domains),
    "    tls: true",
    `    certfile: ${yamlString(listener.full)}`,
  ]);
  const own = [...ownPorts].flatMap(([domain, port]) => service(port, [domain]));
  const lines = [
    "# generated by tests/support/ejabberd.ts",
    `hosts: [${yamlString(USER_DOMAIN)}]`,
    "loglevel: info",
    "log_rotate_count: 0",
    "log_rotate_size: infinity",
    "auth_method: internal",
    "auth_password_format: plain",
    // no certfiles: no TLS offered; no s2s at all
    "s2s_access: none",
    "listen:",
    `  - port: ${c2sPort}`,
    `    ip: ${yamlString(HOST)}`,
    "    module: ejabberd_c2s",
    "    starttls: false",
    ...service(componentPort),
    ...tls,
    ...own,
    "modules:",
    "  mod_disco: {}",
    "  mod_roster: {}",
    "  mod_ping: {}",
    "api_permissions:",
    '  "console commands":',
    "    from: [ejabberd_ctl]",
    "    who: all",
    '    what: "*"',
  ];
  if (options.extraConfig) lines.push(options.extraConfig);
  return lines.join("\n") + "\n";
}

interface ProcessInfo {
  ppid: number;
  /** the command line, arguments separated by spaces */
  cmd: string;
}

/**
 * Every live (not zombie) process: from /proc when Deno lets us read it
 * (only with `-A`), else from `ps` (needs --allow-run=ps); undefined when
 * neither works.
 */
function processTable(): Map<number, ProcessInfo> | undefined {
  try {
    const table = new Map<number, ProcessInfo>();
    for (const entry of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      try {
        const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
        // "pid (comm) state ppid …", where comm may hold spaces and parens
        const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        if (state === "Z") continue;
        const cmd = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`)
          .replaceAll("\0", " ").trim();
        table.set(Number(entry.name), { ppid: Number(ppid), cmd });
      } catch (err) {
        if (err instanceof Deno.errors.NotCapable) throw err;
        // exited meanwhile
      }
    }
    return table;
  } catch { /* not allowed: ask ps */ }
  try {
    const output = new Deno.Command("ps", {
      args: ["-e", "-o", "pid=,ppid=,stat=,args="],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    if (!output.success) return undefined;
    const table = new Map<number, ProcessInfo>();
    for (const line of new TextDecoder().decode(output.stdout).split("\n")) {
      const match = line.match(/^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/);
      if (!match || match[3].startsWith("Z")) continue;
      table.set(Number(match[1]), { ppid: Number(match[2]), cmd: match[4].trim() });
    }
    return table;
  } catch {
    return undefined;
  }
}

/** The processes below `pid` with their command lines (empty when we cannot see them). */
function descendants(pid: number): Map<number, string> {
  const found = new Map<number, string>();
  const table = processTable();
  if (!table) return found;
  const walk = (parent: number) => {
    for (const [child, info] of table) {
      if (info.ppid !== parent || found.has(child)) continue;
      found.set(child, info.cmd);
      walk(child);
    }
  };
  walk(pid);
  return found;
}

/** Processes of `known` that still exist (same pid, same command line, not a zombie). */
function survivors(known: Map<number, string>): number[] {
  if (known.size === 0) return [];
  const table = processTable();
  if (!table) return [];
  return [...known].filter(([pid, cmd]) => table.get(pid)?.cmd === cmd).map(([pid]) => pid);
}

/** One run of the `erl … -s ejabberd` node, and the children it starts. */
class EjabberdProcess extends ServerProcess {
  /** the node's own children (erl_child_setup, inet_gethost …), seen while it ran */
  readonly children = new Map<number, string>();

  /** Remembers the node's current children, to check later that none outlives it. */
  noteChildren(): void {
    if (this.exited) return;
    for (const [pid, cmd] of descendants(this.child.pid)) this.children.set(pid, cmd);
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
    return pid === undefined ? [] : [...descendants(pid).values()];
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

/**
 * What a test ejabberd node is given: its config file, the Erlang programs
 * it and its ctl node run, where Debian put ejabberd, and the words its log
 * and ctl use (./ejabberd.ts starts it).
 */
import type { StartOptions } from "./server.ts";

/** Where every listener binds. */
export const HOST = "127.0.0.1";
/** The one user domain. */
export const USER_DOMAIN = "localhost";
export const INSTALL_HINT =
  'ejabberd not found: install it with "apt-get install ejabberd" (Debian/Ubuntu)';
/** Where Debian (and most builds) put ejabberd's OTP application dir `ejabberd-<version>`. */
export const LIB_ROOTS = ["/usr/lib", "/usr/local/lib", "/usr/lib64", "/opt/ejabberd/lib"];
/** ejabberd (listener) or the Erlang distribution could not bind a port. */
export const PORT_TAKEN = /eaddrinuse/;
/** ejabberd_ctl's exit code when the node cannot be reached */
export const CTL_NODE_DOWN = 3;
/** ejabberd's last words on SIGTERM (the VM exits about a second later) */
export const STOPPED = /ejabberd \S+ is stopped in the node/;
/**
 * The hidden ctl node's program: plain arguments `Node (Len Arg…)…`; runs
 * each command through `ejabberd_ctl:process/1` on `Node` (its output is
 * printed here, as the group leader is ours) and halts with 0 when all
 * returned 0, 3 when the node was unreachable, else the first other code.
 */
export const CTL_BATCH = `
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
export const QUIET_SCHEDULERS = ["+sbwt", "none", "+sbwtdcpu", "none", "+sbwtdio", "none"];
/**
 * The node's own start-up program, after `-s ejabberd` (which returns once
 * ejabberd is started): plain arguments `(Len Arg…)…`, each an ejabberd_ctl
 * command run in the node by `ejabberd_ctl:process/1`, the function behind
 * the `ejabberd_ctl` CLI. Saves booting a second Erlang VM (most of a
 * second, more on a busy machine) for the accounts every test needs.
 * Prints `BOOT_DONE <code>`: 0 when all succeeded.
 */
export const BOOT_DONE = "client-proxy-harness: boot commands done";
export const BOOT_DONE_LINE = new RegExp(`${BOOT_DONE} (\\d+)`);
export const BOOT_CTL = `
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

export function randomToken(bytes = 8): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)))
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/** A YAML double-quoted scalar (a JSON string is one). */
export function yamlString(value: string): string {
  return JSON.stringify(value);
}

/** An Erlang string literal, for `-mnesia dir`. */
export function erlangString(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => "\\" + c)}"`;
}

let erlLibsCache: string | undefined;

/** The dir to put in ERL_LIBS: the one holding `ejabberd-<version>/ebin/ejabberd.app`. */
export function findErlLibs(): string {
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

export function buildConfig(
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
    "# generated by tests/support/ejabberd_node.ts",
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

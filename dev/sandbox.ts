/**
 * `deno task dev`: everything a newcomer needs to see the proxy work, on
 * this machine only, gone again after Ctrl-C.
 *
 * - a throwaway Prosody (tests/support/prosody.ts) with the component
 *   `proxy.localhost` and two accounts: the implementing client
 *   `service@localhost` and the requester `alice@localhost`;
 * - the proxy in watch mode (`deno run <the start task's flags> --watch
 *   main.ts`), so edits to src/ (or to the sandbox's config) restart it;
 * - the example implementing client (examples/echo_bot.ts, the docs'
 *   worked example), unless `--no-example-client` is given;
 * - `.sandbox.json` in the repo root with the connection details, for
 *   `deno task dev:request`.
 *
 * SIGINT or SIGTERM stops all of it and removes its files.
 */
import { readStartFlags } from "../deploy/start_flags.ts";
import { taskArgs } from "../deploy/task_args.ts";
import { startProsody, type XmppServer } from "../tests/support/prosody.ts";
import { Child, prefix } from "./child.ts";
import {
  removeSandboxInfo,
  runningSandbox,
  SANDBOX_FILE,
  type SandboxInfo,
  writeSandboxInfo,
} from "./sandbox_info.ts";

/** The example implementing client, as `deno task dev:client` runs it (deno.json). */
const BOT = ["run", "--allow-net", "--allow-env", "examples/echo_bot.ts"];

const COMPONENT = "proxy.localhost";
const IMPLEMENTING = "service";
const REQUESTER = "alice";
/** Generous: the first start may have TypeScript to check and npm packages to load. */
const READY_TIMEOUT_MS = 60_000;

const USAGE = `Usage: deno task dev [--no-example-client] [--beyond]

Starts a throwaway Prosody, the accounts service@localhost (the implementing
client) and alice@localhost (a requester), the proxy for ${COMPONENT} in
watch mode and the example implementing client, then prints how to connect.
Ctrl-C stops everything and removes what it wrote.

  --no-example-client  do not start examples/echo_bot.ts: connect your own
                       implementing client as service@localhost
  --beyond             turn on what mod_client_proxy does not do:
                       allow_target_requests, messages: forward and
                       presence: true (state_dir: the sandbox's directory)`;

const SANDBOX = prefix("sandbox", 35);

function say(line: string): void {
  try {
    console.log(`${SANDBOX}${line}`);
  } catch { /* the terminal is gone (SIGHUP): carry on cleaning up */ }
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function proxyConfig(
  server: XmppServer,
  secret: string,
  beyond: { stateDir: string } | undefined,
): string {
  // JSON strings are YAML strings: no quoting rules to get wrong.
  const q = JSON.stringify;
  // Off, they are there to uncomment: the proxy restarts on the edit.
  const on = beyond ? "" : "# ";
  return [
    "# Written by `deno task dev` (dev/sandbox.ts) for its throwaway Prosody;",
    "# removed when the sandbox stops. Edit it to try options: the proxy restarts.",
    `server: ${q(server.componentUrl)}`,
    "log_level: debug",
    "# Deno's watcher ends a restarting proxy about a second after it asks it to stop: with no",
    "# grace, what is in flight is answered (service-unavailable) at once, not lost.",
    "shutdown_grace: 0s",
    `${on}state_dir: ${q(beyond?.stateDir ?? ".")}`,
    "proxies:",
    `  - domain: ${q(COMPONENT)}`,
    `    secret: ${q(secret)}`,
    `    target_address: ${q(`${IMPLEMENTING}@${server.domain}`)}`,
    `    ${on}allow_target_requests: true`,
    `    ${on}messages: forward`,
    `    ${on}presence: true`,
    "",
  ].join("\n");
}

/** The example client's settings (examples/echo_bot.ts reads them from the environment). */
function botEnv(info: SandboxInfo): Record<string, string> {
  return {
    BOT_SERVICE: info.service,
    BOT_JID: info.implementing.jid,
    BOT_PASSWORD: info.implementing.password,
    BOT_PROXY: info.component,
  };
}

function banner(
  info: SandboxInfo,
  ready: boolean,
  options: { exampleClient: boolean; beyond: boolean },
): string {
  const { exampleClient, beyond } = options;
  const rows: [string, string][] = [
    ["XMPP server (c2s)", `${info.c2s}   no TLS, SASL PLAIN allowed`],
    [
      "implementing client",
      `${info.implementing.jid}   password ${info.implementing.password}` +
      (exampleClient ? "   (online: examples/echo_bot.ts)" : ""),
    ],
    ["requester", `${info.requester.jid}   password ${info.requester.password}`],
    [
      "component domain",
      `${info.component}   (the proxy; Prosody's component port ${
        info.componentService.replace("xmpp://", "")
      })`,
    ],
    ["proxy config", `${info.config}   (editing it or src/ restarts the proxy)`],
    ["prosody log", info.prosodyLog],
    ["all of the above", SANDBOX_FILE],
  ];
  const width = Math.max(...rows.map(([key]) => key.length)) + 2;
  const line = "─".repeat(72);
  const title = ready ? "client-proxy sandbox is ready" : "client-proxy sandbox (NOT ready yet)";
  const out = [line, `  ${title}`, ""];
  for (const [key, value] of rows) out.push(`  ${key.padEnd(width)}${value}`);
  out.push("");
  if (!exampleClient) {
    const env = Object.entries(botEnv(info)).map(([name, value]) => `${name}=${value}`);
    out.push(
      `  Connect your implementing client as ${info.implementing.jid}: it must send initial`,
      `  presence and approve the subscription request from ${info.component}. Or run the example:`,
      `    ${env.slice(0, 2).join(" ")} \\`,
      `    ${env.slice(2).join(" ")} deno task dev:client`,
      "",
    );
  }
  out.push(
    "  Send a request through the proxy (in another terminal):",
    "    deno task dev:request                (disco#info; --ping for a ping)",
    beyond
      ? '    deno task dev:request --message hi   (a chat message; "ping": the bot pings you)'
      : "    deno task dev:request --message hi   (a chat message: start with --beyond)",
    "",
    "  Stop everything: Ctrl-C",
    line,
  );
  return out.join("\n");
}

async function main(args: string[]): Promise<number> {
  const parsed = taskArgs("deno task dev", args, {
    usage: USAGE,
    options: {
      "no-example-client": { type: "boolean" },
      beyond: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if ("exit" in parsed) return parsed.exit;
  const { values } = parsed;
  const exampleClient = !values["no-example-client"];
  // One sandbox per checkout: `.sandbox.json` says where `dev:request` connects.
  const other = runningSandbox();
  if (other !== undefined) {
    say(
      `another sandbox runs in this checkout (pid ${other}): stop it first (Ctrl-C in its terminal)`,
    );
    return 1;
  }

  // Listen first: a Ctrl-C during start-up must still clean up.
  let stopRequested = false;
  let requestStop!: (signal: string) => void;
  const stopSignal = new Promise<string>((resolve) => {
    requestStop = (signal) => {
      stopRequested = true;
      resolve(signal);
    };
  });
  // SIGHUP: the terminal was closed (Prosody would only reload on it).
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    Deno.addSignalListener(signal, () => requestStop(signal));
  }

  let server: XmppServer | undefined;
  let dir: string | undefined;
  const children: Child[] = [];
  let wroteInfo = false;
  try {
    const secret = randomToken();
    const implementing = { username: IMPLEMENTING, password: randomToken() };
    const requester = { username: REQUESTER, password: randomToken() };
    say("starting Prosody…");
    server = await startProsody({
      components: [{ domain: COMPONENT, secret }],
      users: [implementing, requester],
      // A Ctrl-C reaches the terminal's whole process group: Prosody stays
      // out of it, so that the proxy and the client still have it as they stop.
      detached: true,
    });
    if (stopRequested) return 0;
    dir = await Deno.makeTempDir({ prefix: "client-proxy-sandbox-" });
    const config = `${dir}/client-proxy.yaml`;
    await Deno.writeTextFile(
      config,
      proxyConfig(server, secret, values.beyond ? { stateDir: dir } : undefined),
    );

    const info: SandboxInfo = {
      pid: Deno.pid,
      c2s: server.c2sUrl.replace("xmpp://", ""),
      service: server.c2sUrl,
      domain: server.domain,
      component: COMPONENT,
      componentService: server.componentUrl,
      config,
      prosodyLog: `${server.dir}/prosody.log`,
      implementing: { jid: `${IMPLEMENTING}@${server.domain}`, password: implementing.password },
      requester: { jid: `${REQUESTER}@${server.domain}`, password: requester.password },
    };
    await writeSandboxInfo(info);
    wroteInfo = true;

    say("starting the proxy in watch mode…");
    const proxy = new Child("proxy", 36, [
      "run",
      ...readStartFlags(),
      "--watch",
      `--watch=${config}`,
      "--no-clear-screen",
      "main.ts",
      "--config",
      config,
    ]);
    children.push(proxy);
    const ready = [proxy.waitFor(/ stream\.online /)];
    if (exampleClient) {
      // Its resource is usable once the proxy has seen its presence.
      ready.push(proxy.waitFor(/ target\.resource_up /));
      children.push(new Child("client", 33, BOT, botEnv(info)));
    }

    // A child that exits on its own is a broken sandbox: say so and stop.
    // (A proxy that fails to start in watch mode waits for an edit instead.)
    // On Ctrl-C the terminal signals every child too, and one may exit
    // before our own handler has run: that is a stop, not a death.
    const died = Promise.race(children.map((child) => child.exited.then(() => child)))
      .then(async (child) => {
        await new Promise((resolve) => setTimeout(resolve, 500));
        return `${child.name} exited with code ${child.exitCode}`;
      });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      Promise.all(ready).then(() => "ready"),
      stopSignal.then(() => "stop"),
      died,
      new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve("timeout"), READY_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (outcome === "stop" || stopRequested) return 0;
    if (outcome === "timeout") {
      say(
        `not ready after ${READY_TIMEOUT_MS / 1000} s (see the proxy's lines above); ` +
          "still running: edit src/ to restart the proxy, or Ctrl-C",
      );
    } else if (outcome !== "ready") {
      say(`${outcome}: stopping`);
      return 1;
    }
    console.log(
      banner(info, outcome === "ready", { exampleClient, beyond: values.beyond ?? false }),
    );
    const end = await Promise.race([stopSignal, died]);
    if (stopRequested) return 0;
    say(`${end}: stopping`);
    return 1;
  } catch (error) {
    say(`failed: ${error instanceof Error ? error.message : error}`);
    return 1;
  } finally {
    say("stopping…");
    // The client and the proxy first, so they do not watch the server go.
    // The watcher stops the proxy gracefully on SIGINT, not on SIGTERM.
    await Promise.all(
      children.map((child) => child.stop(child.name === "proxy" ? "SIGINT" : "SIGTERM")),
    );
    await server?.stop();
    if (dir) await Deno.remove(dir, { recursive: true }).catch(() => {});
    if (wroteInfo) removeSandboxInfo();
    say("stopped; nothing left behind");
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));

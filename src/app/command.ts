/**
 * The main thread's program: command line, settings and config, then the
 * proxies in a permission-narrowed Worker (src/app/supervisor.ts). It never
 * loads the routing code; the worker never loads the config parser.
 */
import { EXIT, parseCommand, USAGE } from "./cli.ts";
import { loadConfig } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import { resolveSettings, settingsFields } from "../config/env.ts";
import { checkStateDir, openSubscriberStore } from "../ops/subscribers.ts";
import { JOURNAL_STREAM } from "../ops/log.ts";
import { superviseWorker } from "./supervisor.ts";
import { useSystemTrustStore } from "./trust_store.ts";
import type { Logging } from "./worker_protocol.ts";
import { EXAMPLE_CONFIG } from "./example_config.ts";
import { VERSION } from "./version.ts";

/**
 * Runs the command line `args`; resolves with the exit code.
 *
 * @param workerEntry the module the worker runs (main.ts itself).
 */
export async function run(args: string[], workerEntry: string | URL): Promise<number> {
  const command = parseCommand(args);
  switch (command.kind) {
    case "help":
      console.log(USAGE);
      return EXIT.ok;
    case "version":
      console.log(`client-proxy ${VERSION}`);
      return EXIT.ok;
    case "example_config":
      Deno.stdout.writeSync(new TextEncoder().encode(EXAMPLE_CONFIG));
      return EXIT.ok;
    case "usage_error":
      console.error(`client-proxy: ${command.message}\n\n${USAGE}`);
      return EXIT.usage;
  }
  const env = (name: string) => Deno.env.get(name);
  const first = resolveSettings({ flags: command.flags, env });
  // `--check` reports the environment's problems and then the config's.
  const envErrors = first.ok ? [] : first.errors;
  if (envErrors.length > 0 && (!command.check || envErrors.some(isFlagError))) {
    return fail(envErrors);
  }
  for (const error of envErrors) console.error(`client-proxy: ${error}`);
  const file = first.settings.configPath.value;
  const load = () => loadConfig(file, { credentialsDir: command.credentialsDir });
  const loaded = load();
  if (!loaded.ok) {
    for (const error of loaded.errors) console.error(error);
    // The hint is for a user who gave no path and has no default file; one
    // whose default file has errors needs the errors, not a hint.
    if (first.settings.configPath.source === "default" && !exists(file)) {
      console.error("(pass --config FILE or set CLIENT_PROXY_CONFIG; see --help)");
    }
    return command.check ? EXIT.failure : EXIT.config;
  }
  const config = loaded.config;
  const problem = stateDirProblem(config, command.check);
  if (problem) {
    console.error(`${config.file}: ${problem}`);
    return command.check ? EXIT.failure : EXIT.config;
  }
  if (command.check) {
    if (envErrors.length > 0) return EXIT.failure;
    const count = config.proxies.length;
    const live = command.live;
    if (!live?.json) {
      console.log(`${config.file}: ok (${count} ${count === 1 ? "proxy" : "proxies"})`);
    }
    if (!live) return EXIT.ok;
    const { narrowForLiveCheck, runLiveCheck } = await import("./live_check.ts");
    narrowForLiveCheck();
    return await runLiveCheck(config, live);
  }
  // Flags and the environment win over the file, at start and at reload.
  const logging = (current: Config): Logging => {
    const resolved = resolveSettings({
      flags: command.flags,
      env,
      fileLogLevel: current.logLevel,
      fileLogFormat: current.logFormat,
    });
    const settings = resolved.ok ? resolved.settings : first.settings;
    return {
      level: settings.logLevel.value,
      format: settings.logFormat.value,
      journal: env(JOURNAL_STREAM) !== undefined,
      fields: settingsFields(settings),
    };
  };
  useSystemTrustStore();
  return superviseWorker(workerEntry, config, {
    logging,
    reload: load,
    inThread: async () => new (await import("./runtime.ts")).Runtime(),
  });
}

/** Bad flags are a usage error; a bad environment is a config error. */
function fail(errors: readonly string[]): number {
  for (const error of errors) console.error(`client-proxy: ${error}`);
  const flagged = errors.some(isFlagError);
  if (flagged) console.error(`\n${USAGE}`);
  return flagged ? EXIT.usage : EXIT.config;
}

function isFlagError(error: string): boolean {
  return error.startsWith("--");
}

/**
 * The state database must open and take writes now, not at the first
 * subscriber; `--check` proves it without creating the database.
 */
function stateDirProblem(config: Config, check: boolean): string | undefined {
  if (config.stateDir === undefined) return undefined;
  try {
    if (check) checkStateDir(config.stateDir);
    else openSubscriberStore(config.stateDir).close();
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** Whether `path` names an existing file or directory (a lookup we may not make: no). */
function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

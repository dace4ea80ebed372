/**
 * The main thread's program: command line, settings and config, then the
 * proxies in a permission-narrowed Worker (src/app/supervisor.ts). It never
 * loads the routing code; the worker never loads the config parser.
 */
import { EXIT, parseCommand, USAGE } from "./cli.ts";
import { loadConfig } from "../config/load.ts";
import { fileLabel } from "../config/problems.ts";
import type { Config } from "../config/types.ts";
import { resolveSettings, settingsFields } from "../config/env.ts";
import { assertDirectory, checkStateDir, openSubscriberStore } from "../ops/subscribers.ts";
import { sayOnStderr, type StartupLogOptions, underJournald } from "../ops/startup_log.ts";
import type { LogLevel } from "../config/log_options.ts";
import { superviseWorker } from "./supervisor.ts";
import { useSystemTrustStore } from "./trust_store.ts";
import type { Logging } from "./worker_protocol.ts";
import { EXAMPLE_CONFIG } from "./example_config.ts";
import { VERSION } from "./version.ts";
import { jsonConfigReport } from "./live_facts.ts";

/**
 * Runs the command line `args`; resolves with the exit code.
 *
 * @param workerEntry the module the worker runs (main.ts itself).
 */
export async function run(args: string[], workerEntry: string | URL): Promise<number> {
  const env = (name: string) => Deno.env.get(name);
  const journal = underJournald(env);
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
    case "config_schema": {
      const { configJsonSchema } = await import("../config/json_schema.ts");
      Deno.stdout.writeSync(new TextEncoder().encode(configJsonSchema()));
      return EXIT.ok;
    }
    case "usage_error": {
      // The other flags are not known: `--log-format` if it was given and is valid, else the
      // environment's.
      const asked = resolveSettings({ flags: { logFormat: command.logFormat }, env });
      const { settings } = asked.ok ? asked : resolveSettings({ flags: {}, env });
      return usageError([command.message], { format: settings.logFormat.value, journal }, true);
    }
  }
  const first = resolveSettings({ flags: command.flags, env });
  // Until the config is read, its `log_format` is not known: flag and environment say.
  const earlyOptions = { format: first.settings.logFormat.value, journal };
  const early = say(earlyOptions);
  // `--check` reports the environment's problems and then the config's.
  const envErrors = first.ok ? [] : first.errors;
  if (envErrors.some(isFlagError)) return usageError(envErrors, earlyOptions);
  for (const error of envErrors) early("error", "config.problem", `client-proxy: ${error}`);
  if (envErrors.length > 0 && !command.check) return EXIT.config;
  const file = first.settings.configPath.value;
  const load = () =>
    loadConfig(file, { credentialsDir: command.credentialsDir, expandEnv: command.expandEnv });
  const loaded = load();
  if (!loaded.ok) {
    for (const error of loaded.errors) early("error", "config.problem", error);
    if (command.live?.json) console.log(jsonConfigReport(file, [...envErrors, ...loaded.errors]));
    // The hint is for a user who gave no path and has no default file; one
    // whose default file has errors needs the errors, not a hint.
    if (first.settings.configPath.source === "default" && !exists(file)) {
      early("info", "config.hint", "(pass --config FILE or set CLIENT_PROXY_CONFIG; see --help)");
    }
    return command.check ? EXIT.failure : EXIT.config;
  }
  const config = loaded.config;
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
      journal,
      fields: settingsFields(settings),
    };
  };
  const problem = stateDirProblem(config, command.check);
  if (problem) {
    const line = `${fileLabel(config.file)}: ${problem}`;
    say({ format: logging(config).format, journal })("error", "config.problem", line);
    if (command.live?.json) console.log(jsonConfigReport(config.file, [...envErrors, line]));
    return command.check ? EXIT.failure : EXIT.config;
  }
  if (command.check) {
    if (envErrors.length > 0) {
      if (command.live?.json) console.log(jsonConfigReport(config.file, envErrors));
      return EXIT.failure;
    }
    const count = config.proxies.length;
    const live = command.live;
    if (!live?.json) {
      console.log(`${fileLabel(config.file)}: ok (${count} ${count === 1 ? "proxy" : "proxies"})`);
    }
    if (!live) return EXIT.ok;
    const { narrowForLiveCheck, runLiveCheck } = await import("./live_check.ts");
    // The check trusts what the proxy would; after narrowing, env could not be set.
    useSystemTrustStore();
    narrowForLiveCheck();
    return await runLiveCheck(config, live);
  }
  useSystemTrustStore();
  return superviseWorker(workerEntry, config, {
    logging,
    reload: load,
    inThread: async () => new (await import("./runtime.ts")).Runtime(),
  });
}

/** Says one message on stderr before the logger runs (src/ops/startup_log.ts). */
type Say = (level: LogLevel, event: string, message: string) => void;

function say(options: StartupLogOptions): Say {
  return (level, event, message) => sayOnStderr(level, event, message, options);
}

/**
 * A usage error: each problem (`flags`: all the command line's; else those
 * that name a flag, the rest being the environment's), then where the
 * options are (in text only: it is for a person).
 */
function usageError(
  problems: readonly string[],
  options: StartupLogOptions,
  flags = false,
): number {
  const said = say(options);
  for (const problem of problems) {
    said(
      "error",
      flags || isFlagError(problem) ? "cli.usage_error" : "config.problem",
      `client-proxy: ${problem}`,
    );
  }
  if (options.format !== "json") said("info", "cli.usage", "(see client-proxy --help)");
  return EXIT.usage;
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
    else {
      assertDirectory(config.stateDir);
      openSubscriberStore(config.stateDir).close();
    }
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

/**
 * client-proxy: the entry point. It only wires: command line and config in
 * the main thread, the proxies in a Worker with narrowed permissions
 * (src/supervisor.ts).
 */
import { DEFAULT_CONFIG, EXIT, parseCommand, USAGE } from "./src/cli.ts";
import { type Config, loadConfig } from "./src/config.ts";
import { logger, type LogLevel, setupLogging } from "./src/log.ts";
import { Proxy } from "./src/proxy.ts";
import { inWorker, serveWorker, superviseWorker } from "./src/supervisor.ts";
import { VERSION } from "./src/version.ts";

function main(args: string[]): number | Promise<number> {
  const command = parseCommand(args, (name) => Deno.env.get(name));
  switch (command.kind) {
    case "help":
      console.log(USAGE);
      return EXIT.ok;
    case "version":
      console.log(`client-proxy ${VERSION}`);
      return EXIT.ok;
    case "usage_error":
      console.error(`client-proxy: ${command.message}\n\n${USAGE}`);
      return EXIT.usage;
  }
  const loaded = loadConfig(command.config);
  if (!loaded.ok) {
    for (const error of loaded.errors) console.error(error);
    if (command.config === DEFAULT_CONFIG) {
      console.error(
        "(pass --config FILE or set CLIENT_PROXY_CONFIG; see --help)",
      );
    }
    return command.check ? EXIT.failure : EXIT.config;
  }
  const config = loaded.config;
  if (command.check) {
    const count = config.proxies.length;
    console.log(
      `${config.file}: ok (${count} ${count === 1 ? "proxy" : "proxies"})`,
    );
    return EXIT.ok;
  }
  return superviseWorker(import.meta.url, config, {
    logLevel: command.logLevel ?? config.logLevel,
  });
}

/** The worker: runs one proxy per config entry until told to stop. */
function worker(): void {
  let proxies: Proxy[] = [];
  let config: Config | undefined;
  serveWorker({
    start(given: Config, level: LogLevel) {
      config = given;
      setupLogging(level);
      logger("main").info("proxy.starting", {
        version: VERSION,
        config: given.file,
        proxies: given.proxies.length,
      });
      proxies = given.proxies.map((proxy) => new Proxy(proxy));
    },
    async stop(signal: string) {
      const graceMs = config?.shutdownGraceMs ?? 0;
      logger("main").info("proxy.stopping", { signal, grace_ms: graceMs });
      await Promise.all(proxies.map((proxy) => proxy.shutdown(graceMs)));
      logger("main").info("proxy.stopped");
      return EXIT.ok;
    },
  });
}

if (inWorker()) {
  worker();
} else if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    console.error("client-proxy: fatal:", error);
    Deno.exit(EXIT.failure);
  }
}

/**
 * client-proxy: the entry point. It only wires: command line, config,
 * logging, one proxy per config entry, signals.
 */
import { DEFAULT_CONFIG, EXIT, parseCommand, USAGE } from "./src/cli.ts";
import { loadConfig } from "./src/config.ts";
import { logger, setupLogging } from "./src/log.ts";
import { Proxy } from "./src/proxy.ts";
import { VERSION } from "./src/version.ts";

async function main(args: string[]): Promise<number> {
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
    if (command.config === DEFAULT_CONFIG && !command.check) {
      console.error(
        "(pass --config FILE or set CLIENT_PROXY_CONFIG; see --help)",
      );
    }
    return command.check ? EXIT.failure : EXIT.config;
  }
  const config = loaded.config;
  if (command.check) {
    console.log(
      `${config.file}: ok (${config.proxies.length} ${
        config.proxies.length === 1 ? "proxy" : "proxies"
      })`,
    );
    return EXIT.ok;
  }

  setupLogging(command.logLevel ?? config.logLevel);
  const log = logger("main");
  log.info("proxy.starting", {
    version: VERSION,
    config: config.file,
    proxies: config.proxies.length,
  });
  const proxies = config.proxies.map((proxy) => new Proxy(proxy));

  const signal = await new Promise<string>((resolve) => {
    for (const name of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(name, () => resolve(name));
    }
  });
  log.info("proxy.stopping", { signal, grace_ms: config.shutdownGraceMs });
  await Promise.all(
    proxies.map((proxy) => proxy.shutdown(config.shutdownGraceMs)),
  );
  log.info("proxy.stopped");
  return EXIT.ok;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    console.error("client-proxy: fatal:", error);
    Deno.exit(EXIT.failure);
  }
}

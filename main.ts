/**
 * client-proxy: the entry point. It only wires: command line and config in
 * the main thread, the proxies in a Worker with narrowed permissions
 * (src/supervisor.ts).
 */
import { DEFAULT_CONFIG, EXIT, parseCommand, USAGE } from "./src/cli.ts";
import { loadConfig } from "./src/config.ts";
import { Runtime } from "./src/runtime.ts";
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
    logLevel: (current) => command.logLevel ?? current.logLevel,
    reload: () => loadConfig(command.config),
  });
}

if (inWorker()) {
  serveWorker(new Runtime());
} else if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    console.error("client-proxy: fatal:", error);
    Deno.exit(EXIT.failure);
  }
}

/**
 * client-proxy: the entry point. It only wires: the main thread runs the
 * command (src/app/command.ts), the Worker it starts runs the proxies
 * (src/app/runtime.ts). Each thread loads only its own modules.
 */
import { inWorker, logUnhandledRejections, serveWorker } from "./src/app/supervisor.ts";
import { sayOnStderr, underJournald } from "./src/ops/startup_log.ts";

if (inWorker()) {
  logUnhandledRejections();
  const { Runtime } = await import("./src/app/runtime.ts");
  serveWorker(new Runtime());
} else if (import.meta.main) {
  try {
    const { run } = await import("./src/app/command.ts");
    Deno.exit(await run(Deno.args, import.meta.url));
  } catch (error) {
    // Neither the flags nor the config can be trusted to say the format here.
    const journal = underJournald((name) => Deno.env.get(name));
    const text = error instanceof Error ? error.stack ?? String(error) : String(error);
    sayOnStderr("fatal", "proxy.crashed", `client-proxy: fatal: ${text}`, { journal });
    Deno.exit(1);
  }
}

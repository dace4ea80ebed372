/**
 * client-proxy: the entry point. It only wires: the main thread runs the
 * command (src/command.ts), the Worker it starts runs the proxies
 * (src/runtime.ts). Each thread loads only its own modules.
 */
import { inWorker, logUnhandledRejections, serveWorker } from "./src/supervisor.ts";

if (inWorker()) {
  logUnhandledRejections();
  const { Runtime } = await import("./src/runtime.ts");
  serveWorker(new Runtime());
} else if (import.meta.main) {
  try {
    const { run } = await import("./src/command.ts");
    Deno.exit(await run(Deno.args, import.meta.url));
  } catch (error) {
    console.error("client-proxy: fatal:", error);
    Deno.exit(1);
  }
}

/**
 * client-proxy: the entry point. It only wires: the main thread runs the
 * command (src/app/command.ts), the Worker it starts runs the proxies
 * (src/app/runtime.ts). Each thread loads only its own modules.
 */
import { inWorker, logUnhandledRejections, serveWorker } from "./src/app/supervisor.ts";

if (inWorker()) {
  logUnhandledRejections();
  const { Runtime } = await import("./src/app/runtime.ts");
  serveWorker(new Runtime());
} else if (import.meta.main) {
  try {
    const { run } = await import("./src/app/command.ts");
    Deno.exit(await run(Deno.args, import.meta.url));
  } catch (error) {
    console.error("client-proxy: fatal:", error);
    Deno.exit(1);
  }
}

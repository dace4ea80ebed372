/**
 * Bench only: the proxy's runtime (src/app/runtime.ts) in the main thread,
 * without the permission-narrowed Worker, for `--profile`. Deno does write
 * a `*.worker-N.cpuprofile` for the worker too, but main.ts ends the
 * process (worker.terminate(), Deno.exit) while the worker may still be
 * writing it: profiles of a few hundred KB come out cut short. Here the
 * only thread is the one profiled. The code on the hot path is the same.
 *
 * deno run -A --cpu-prof --cpu-prof-dir=DIR bench/inprocess_proxy.ts CONFIG
 */
import { loadConfig } from "../src/config/load.ts";
import { Runtime } from "../src/app/runtime.ts";

const loaded = loadConfig(Deno.args[0]);
if (!loaded.ok) {
  for (const error of loaded.errors) console.error(error);
  Deno.exit(78);
}
const config = loaded.config;
const runtime = new Runtime();
await runtime.start(config, { level: config.logLevel ?? "info", format: "text", fields: {} });
let stopping = false;
Deno.addSignalListener("SIGTERM", async () => {
  if (stopping) return;
  stopping = true;
  Deno.exit(await runtime.stop("SIGTERM"));
});

/** Log lines captured in memory, for tests that check what the proxy says. */
import { setupLogging } from "../../src/ops/log.ts";

/**
 * Sends log lines (level info, or `level`; text format) to the returned
 * array until `restore()`, which silences logging again.
 */
export function captureLogs(
  level: "debug" | "info" = "info",
): { lines: string[]; restore: () => void } {
  const lines: string[] = [];
  setupLogging(level, { write: (line) => lines.push(line) });
  return { lines, restore: () => setupLogging("info", { write: () => {} }) };
}

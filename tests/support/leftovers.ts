/**
 * Servers not stopped yet: killed (SIGKILL) and their dirs removed when the
 * Deno process unloads, so a test that forgot stop() (or failed before it)
 * leaves nothing behind. A process killed by a signal cannot do this.
 */

/** What can be cleaned up synchronously at exit. */
export interface Killable {
  /** Last resort at process exit: no waiting possible. */
  killSync(): void;
}

const live = new Set<Killable>();
let hooked = false;

/** Cleans `server` up at exit unless {@link untrack}ed first. */
export function trackUntilExit(server: Killable): void {
  live.add(server);
  if (hooked) return;
  hooked = true;
  globalThis.addEventListener("unload", () => {
    for (const server of live) server.killSync();
  });
}

/** `server` was stopped properly. */
export function untrack(server: Killable): void {
  live.delete(server);
}

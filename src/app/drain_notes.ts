/**
 * What a reload's `drain` should tell the operator at once: names that no
 * resource online has (a typo, a case that differs, or an instance yet to
 * come), and every resource online draining (new work then finds none).
 * Pure: the proxy logs what it returns.
 */
import type { ResourceState } from "../core/router.ts";

/** One log line: its level, event and fields (without the domain). */
export interface DrainNote {
  readonly level: "info" | "warning";
  readonly event: "config.drain_unknown" | "target.all_draining";
  readonly fields: Record<string, unknown>;
}

/** The notes for `drain` over the resources online now. */
export function drainNotes(
  drain: readonly string[] | undefined,
  resources: readonly ResourceState[],
): DrainNote[] {
  const notes: DrainNote[] = [];
  const online = new Set(resources.map((r) => r.name));
  const unknown = (drain ?? []).filter((name) => !online.has(name));
  if (unknown.length > 0) {
    notes.push({
      level: "info",
      event: "config.drain_unknown",
      fields: {
        names: unknown.join(","),
        hint: "no resource online has these names (case counts): they drain once one comes " +
          "with one; /status lists those online",
      },
    });
  }
  if (resources.length > 0 && resources.every((r) => r.draining)) {
    notes.push({
      level: "warning",
      event: "target.all_draining",
      fields: {
        resources: resources.length,
        hint: "every resource online is draining: a request whose key is pinned to none of them, " +
          "or that has no key, gets service-unavailable until one is back in service",
      },
    });
  }
  return notes;
}

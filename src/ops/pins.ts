/**
 * Where the affinity pins are kept (`affinity` with `state_dir`): a table
 * of the state database (src/ops/subscribers.ts), so that a restarted proxy,
 * or a standby taking over on the same `state_dir` (one host), keeps every
 * key on the resource it was on.
 * The changes of one router step are written in one transaction.
 */
import { openStateDatabase } from "./subscribers.ts";

/** One change: `key` pinned to a resource, or (undefined) pinned no more. */
export type PinChange = readonly [key: string, resource: string | undefined];

/** Pins by component domain. */
export interface PinStore {
  /** Every pin of a domain, `[key, resource]`, in the order they were pinned. */
  list(domain: string): Array<[string, string]>;
  /** Applies changes in their order, all or none. */
  apply(domain: string, changes: readonly PinChange[]): void;
  close(): void;
}

/**
 * Opens the database in `stateDir` (creating it and the table if needed).
 * Throws an Error whose message names the path when it cannot.
 */
export function openPinStore(stateDir: string): PinStore {
  const db = openStateDatabase(stateDir, [
    // With its rowid: a key pinned again goes last, and list() reads that order.
    "CREATE TABLE IF NOT EXISTS affinity_pins (domain TEXT NOT NULL, key TEXT NOT NULL, " +
    "resource TEXT NOT NULL, PRIMARY KEY (domain, key))",
  ]);
  const list = db.prepare(
    "SELECT key, resource FROM affinity_pins WHERE domain = ? ORDER BY rowid",
  );
  const pin = db.prepare(
    "INSERT OR REPLACE INTO affinity_pins (domain, key, resource) VALUES (?, ?, ?)",
  );
  const unpin = db.prepare("DELETE FROM affinity_pins WHERE domain = ? AND key = ?");
  return {
    list: (domain) =>
      list.all(domain).map((row): [string, string] => [String(row.key), String(row.resource)]),
    apply: (domain, changes) => {
      // Writing from the start: waits for another process's write, never
      // fails on upgrading a read (a standby sharing `state_dir`).
      db.exec("BEGIN IMMEDIATE");
      try {
        for (const [key, resource] of changes) {
          if (resource === undefined) unpin.run(domain, key);
          else pin.run(domain, key, resource);
        }
        db.exec("COMMIT");
      } catch (error) {
        db.exec("ROLLBACK");
        throw error;
      }
    },
    close: () => db.close(),
  };
}

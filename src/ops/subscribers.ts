/**
 * Where the service's presence subscribers are kept (`presence: true`): a
 * SQLite database in `state_dir`, so a crash or a restart loses none. Every
 * write is committed before the router's `subscribed` goes out.
 */
import { DatabaseSync } from "node:sqlite";

/** The file name of the database inside `state_dir`. */
export const DATABASE_FILE = "client-proxy.sqlite";

/** Subscribers by component domain. */
export interface SubscriberStore {
  /** Every subscriber's bare JID for a domain. */
  list(domain: string): string[];
  add(domain: string, jid: string): void;
  remove(domain: string, jid: string): void;
  close(): void;
}

/**
 * Opens (creating if needed) the database in `stateDir`. Throws an Error
 * whose message names the path when it cannot be opened or written.
 */
export function openSubscriberStore(stateDir: string): SubscriberStore {
  const db = openStateDatabase(stateDir, [
    "CREATE TABLE IF NOT EXISTS subscribers (domain TEXT NOT NULL, jid TEXT NOT NULL, " +
    "since INTEGER NOT NULL, PRIMARY KEY (domain, jid)) WITHOUT ROWID",
    // A write that fails here fails now, at start-up, not at the first
    // subscriber: a real one (an empty transaction needs no journal file, so
    // it passes in a directory the database's journal cannot be made in).
    "BEGIN IMMEDIATE; INSERT OR REPLACE INTO subscribers VALUES ('', '', 0); ROLLBACK",
  ]);
  const list = db.prepare("SELECT jid FROM subscribers WHERE domain = ? ORDER BY jid");
  const add = db.prepare("INSERT OR IGNORE INTO subscribers (domain, jid, since) VALUES (?, ?, ?)");
  const remove = db.prepare("DELETE FROM subscribers WHERE domain = ? AND jid = ?");
  return {
    list: (domain) => list.all(domain).map((row) => String(row.jid)),
    add: (domain, jid) => void add.run(domain, jid, Date.now()),
    remove: (domain, jid) => void remove.run(domain, jid),
    close: () => db.close(),
  };
}

/**
 * Proves that the proxy could open its database in `stateDir`, and leaves
 * nothing behind (`--check`): an existing database is opened, otherwise a
 * temporary file is written in the directory and removed. Throws as
 * {@link openSubscriberStore} does.
 */
export function checkStateDir(stateDir: string): void {
  assertDirectory(stateDir);
  const path = databasePath(stateDir);
  try {
    Deno.statSync(path);
  } catch {
    try {
      Deno.removeSync(Deno.makeTempFileSync({ dir: stateDir, prefix: ".client-proxy-check-" }));
      return;
    } catch (error) {
      // Deno's message ends with the call and the temp file's name: not the operator's concern.
      const reason = String((error as Error).message ?? error).replace(
        /(\(os error \d+\)).*$/s,
        "$1",
      );
      throw new Error(`state_dir: cannot create files in ${stateDir}: ${reason}`);
    }
  }
  openSubscriberStore(stateDir).close();
}

/**
 * Opens (creating if needed) the database in `stateDir` and runs `setup`
 * (its tables). Throws an Error whose message names the path when it
 * cannot, with the database closed again.
 */
export function openStateDatabase(stateDir: string, setup: readonly string[]): DatabaseSync {
  const path = databasePath(stateDir);
  // Two processes opening a new file at once (an instance and its standby)
  // can find it locked while the other turns on WAL, where SQLite calls no
  // busy handler: opening is tried again for about a second.
  for (let attempt = 1;; attempt++) {
    try {
      return openOnce(path, setup);
    } catch (error) {
      if (attempt >= OPEN_ATTEMPTS || !isLocked(error)) throw cannotUse(path, error);
      Atomics.wait(PAUSE, 0, 0, OPEN_PAUSE_MS);
    }
  }
}

const OPEN_ATTEMPTS = 40;
const OPEN_PAUSE_MS = 25;
/** What a synchronous pause waits on (nothing ever wakes it). */
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

function isLocked(error: unknown): boolean {
  return error instanceof Error && /database is locked|database is busy/i.test(error.message);
}

/** One try of {@link openStateDatabase}; throws the cause, with the database closed again. */
function openOnce(path: string, setup: readonly string[]): DatabaseSync {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path);
    // Another process on the file (a standby sharing `state_dir`, a
    // `--check` run by hand) holds its lock for an instant: wait for it
    // rather than fail that write.
    db.exec("PRAGMA busy_timeout = 1000");
    // A reader never holds up the writer (a standby reading while the
    // active writes), nor the writer a reader. Kept in the file once set.
    db.exec("PRAGMA journal_mode = WAL");
    for (const sql of setup) db.exec(sql);
    return db;
  } catch (error) {
    try {
      db?.close();
    } catch { /* already closed, or never opened */ }
    throw error;
  }
}

/** The database's path in `stateDir`. */
export function databasePath(stateDir: string): string {
  return `${stateDir.replace(/\/+$/, "")}/${DATABASE_FILE}`;
}

/** The error the openers throw: the database's path and why. */
/**
 * Throws, in the operator's words, when `stateDir` is not a directory: the
 * proxy does not create it (its owner and mode are the operator's to set).
 */
export function assertDirectory(stateDir: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(stateDir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        `state_dir: expected an existing directory, got ${stateDir}, which does not exist ` +
          "(create it, writable by the user the proxy runs as)",
      );
    }
    throw new Error(`state_dir: cannot use ${stateDir}: ${(error as Error).message}`);
  }
  if (!info.isDirectory) {
    throw new Error(`state_dir: expected a directory, got ${stateDir}, which is a file`);
  }
}

export function cannotUse(path: string, error: unknown): Error {
  return new Error(
    `state_dir: cannot use ${path}: ${error instanceof Error ? error.message : error}`,
  );
}

/**
 * `.sandbox.json` in the repo root: the running sandbox's connection
 * details, written by `deno task dev` (dev/sandbox.ts) and read by
 * `deno task dev:request` (dev/request.ts).
 */
import { fileURLToPath } from "node:url";

/** Where the sandbox's connection details are written while it runs. */
export const SANDBOX_FILE = fileURLToPath(new URL("../.sandbox.json", import.meta.url));

/** An account of the sandbox. */
export interface SandboxAccount {
  readonly jid: string;
  readonly password: string;
}

/** The contents of `.sandbox.json`. */
export interface SandboxInfo {
  /** The sandbox's process id (so that only its owner removes the file). */
  readonly pid: number;
  /** `127.0.0.1:<port>`: Prosody's client port; no TLS, SASL PLAIN allowed. */
  readonly c2s: string;
  /** The same as `xmpp://127.0.0.1:<port>`, for @xmpp/client. */
  readonly service: string;
  /** The accounts' domain: `localhost`. */
  readonly domain: string;
  /** The proxy's component domain: `proxy.localhost`. */
  readonly component: string;
  /** `xmpp://127.0.0.1:<port>`: Prosody's component port. */
  readonly componentService: string;
  readonly config: string;
  readonly prosodyLog: string;
  readonly implementing: SandboxAccount;
  readonly requester: SandboxAccount;
}

/**
 * Reads `.sandbox.json` (written by a running `deno task dev`); throws an
 * Error saying what to do when there is none.
 */
export function readSandboxInfo(file = SANDBOX_FILE): SandboxInfo {
  let data: unknown;
  try {
    data = JSON.parse(Deno.readTextFileSync(file));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`${file} not found: start the sandbox first with \`deno task dev\``);
    }
    throw new Error(`${file}: ${error instanceof Error ? error.message : error}`);
  }
  const info = data as SandboxInfo;
  const account = (a: unknown) =>
    typeof a === "object" && a !== null &&
    typeof (a as SandboxAccount).jid === "string" &&
    typeof (a as SandboxAccount).password === "string";
  if (
    typeof info?.service !== "string" || typeof info.component !== "string" ||
    !account(info.implementing) || !account(info.requester)
  ) {
    throw new Error(`${file}: not written by this version of \`deno task dev\`; restart it`);
  }
  return info;
}

/** The pid of another sandbox running in this checkout, if `.sandbox.json` names a live one. */
export function runningSandbox(file = SANDBOX_FILE): number | undefined {
  let pid: number;
  try {
    pid = readSandboxInfo(file).pid;
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === Deno.pid) return undefined;
  try {
    // SIGCONT changes nothing for a running process; it fails for a process that is gone.
    Deno.kill(pid, "SIGCONT");
    return pid;
  } catch (error) {
    return error instanceof Deno.errors.NotFound ? undefined : pid;
  }
}

/** Writes this sandbox's details. */
export async function writeSandboxInfo(info: SandboxInfo): Promise<void> {
  await Deno.writeTextFile(SANDBOX_FILE, JSON.stringify(info, null, 2) + "\n");
}

/** Removes the file, if it is still this process's: another sandbox may have replaced it since. */
export function removeSandboxInfo(): void {
  try {
    if (readSandboxInfo().pid !== Deno.pid) return;
  } catch {
    return;
  }
  try {
    Deno.removeSync(SANDBOX_FILE);
  } catch { /* gone already */ }
}

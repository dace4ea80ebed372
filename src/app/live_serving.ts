/**
 * What the live check can still learn when an instance holds the domain's
 * only connection (Prosody): the instance's own word, from its HTTP
 * listener (`http:` in the config): `/readyz` for its stream and
 * resources, `/metrics` for the version it runs.
 */
import type { HttpListen } from "../config/types.ts";
import { formatAddress, type ReadyReport } from "../ops/http.ts";
import type { Fact } from "./live_facts.ts";

/** The `/readyz` reason that says what the check's resources step would. */
const NO_RESOURCE = "no target resource online";

/** Options of {@link askServing}. */
export interface AskServingOptions {
  /** Each request's bound. */
  readonly timeoutMs: number;
  /** Default: the global `fetch`. */
  readonly fetch?: typeof fetch;
}

/**
 * The facts the serving instance's listener at `http` (undefined: none
 * configured) gives about `domain`.
 */
export async function askServing(
  http: HttpListen | undefined,
  domain: string,
  options: AskServingOptions,
): Promise<Fact[]> {
  if (http === undefined) {
    return [{
      step: "readiness",
      ok: true,
      text: "not asked: the config has no http: listener to ask the serving instance " +
        "(its log says target.subscription_approved and target.resource_up)",
      details: { asked: false },
    }];
  }
  const origin = `http://${formatAddress(http)}`;
  const get = (path: string) =>
    (options.fetch ?? fetch)(`${origin}${path}`, {
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  let status: number;
  let report: ReadyReport;
  try {
    const response = await get("/readyz");
    status = response.status;
    report = await response.json() as ReadyReport;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return [{
      step: "readiness",
      ok: false,
      text: `could not ask the serving instance at ${origin}/readyz: ${reason}`,
      details: { url: `${origin}/readyz`, reason },
    }];
  }
  const version = await versionAt(get);
  const runs = version === undefined ? "" : ` (version ${version})`;
  const entry = report.proxies?.find((proxy) => proxy.proxy === domain);
  const details = { url: `${origin}/readyz`, status, version: version ?? null, ...entry };
  if (entry === undefined) {
    return [{
      step: "readiness",
      ok: false,
      text: `the instance at ${origin}${runs} does not serve this domain (not in its /readyz)`,
      details,
    }];
  }
  if (entry.ready) {
    const count = `${entry.resources} ${entry.resources === 1 ? "resource" : "resources"}`;
    return [{
      step: "readiness",
      ok: true,
      text: `the serving instance${runs} is ready: stream online, ${count} online`,
      details,
    }];
  }
  return [{
    step: entry.reason === NO_RESOURCE ? "resources" : "readiness",
    ok: false,
    text: `the serving instance${runs} is not ready: ${entry.reason}`,
    details,
  }];
}

/** The version in the instance's `client_proxy_build_info`, if it says. */
async function versionAt(get: (path: string) => Promise<Response>): Promise<string | undefined> {
  try {
    const text = await (await get("/metrics")).text();
    return /^client_proxy_build_info\{[^}]*\bversion="([^"]*)"/m.exec(text)?.[1];
  } catch {
    return undefined;
  }
}

/**
 * `client-proxy --check --live`: every proxy of a valid config checked
 * end to end against its server, one after the other (live_probe.ts), and
 * what an instance already serving says of itself (live_serving.ts). The
 * facts are printed as lines as they are found, or as one JSON document
 * at the end; the exit status names the first thing that failed.
 *
 * It runs in the main thread, within the process's own network permission:
 * the addresses it uses (the servers, the HTTP listener) are those a
 * config's scope grants (src/app/permissions.ts). Like the proxies' worker
 * (src/app/supervisor.ts), it reads no file and no variable once the
 * config is read, and writes nothing: {@link narrowForLiveCheck}.
 */
import type { Config } from "../config/types.ts";
import type { LiveOptions } from "./cli.ts";
import { exitCode, factLine, jsonReport, type ProxyReport, summaryLine } from "./live_facts.ts";
import { type ProbeOptions, probeProxy } from "./live_probe.ts";
import { askServing } from "./live_serving.ts";

/** What the check needs from the outside world; tests replace it. */
export interface LiveCheckDeps {
  /** Where lines go. Default: stdout. */
  readonly print?: (line: string) => void;
  /** Opens each guest stream. Default: the real one. */
  readonly open?: ProbeOptions["open"];
  /** Asks a serving instance's listener. Default: the global `fetch`. */
  readonly fetch?: typeof fetch;
}

/** Checks every proxy of `config`; resolves with the exit code. */
export async function runLiveCheck(
  config: Config,
  options: LiveOptions,
  deps: LiveCheckDeps = {},
): Promise<number> {
  const print = deps.print ?? ((line: string) => console.log(line));
  const { timeoutMs, json } = options;
  const reports: ProxyReport[] = [];
  for (const proxy of config.proxies) {
    const onFact = json
      ? undefined
      : (fact: ProxyReport["facts"][number]) => print(factLine(proxy.domain, fact));
    const { facts, connected } = await probeProxy(proxy, { timeoutMs, onFact, open: deps.open });
    if (connected === "serving") {
      for (
        const fact of await askServing(config.http, proxy.domain, { timeoutMs, fetch: deps.fetch })
      ) {
        facts.push(fact);
        onFact?.(fact);
      }
    }
    reports.push({ proxy: proxy.domain, server: proxy.server.url, facts });
  }
  print(json ? jsonReport(config.file, reports) : summaryLine(reports));
  return exitCode(reports);
}

/**
 * Gives up what the check never uses, before it reads anything from the
 * network: file access and the environment (the config and its secrets
 * are read already). Network access stays as the process has it.
 */
export function narrowForLiveCheck(): void {
  for (const name of ["read", "write", "env", "run", "ffi", "sys"] as const) {
    Deno.permissions.revokeSync({ name });
  }
}

/**
 * Config text to a frozen {@link Config}, in three stages: YAML
 * (src/config/yaml.ts), the schema and its cross-checks
 * (src/config/schema.ts), then assembly into the camelCase value the
 * program reads. Pure: secrets are read through the functions given.
 */
import { dirname } from "node:path";
import { expandEnv, mentionsVariable } from "./expand.ts";
import { fileLabel, report } from "./problems.ts";
import { checkConfig, type ParsedConfig } from "./schema.ts";
import type { SecretSources } from "./secrets.ts";
import {
  type Config,
  type ConfigResult,
  DEFAULT_PENDING_SHARE_PER_DOMAIN,
  type ProxyConfig,
  type TlsConfig,
} from "./types.ts";
import type { CaFile } from "./tls.ts";
import { isTlsServer, resolvePath } from "./values.ts";
import { readYaml } from "./yaml.ts";

/**
 * What parseConfig needs besides the text. `file` prefixes messages and
 * anchors relative `secret_file` paths. Without `readFile` every secret
 * file read fails; without `getEnv` no variable is set: parsing stays pure.
 */
export interface ParseConfigOptions extends Partial<Pick<SecretSources, "readFile" | "getEnv">> {
  readonly file: string;
  /**
   * `--expand-env`: the environment `${NAME}` and `${NAME:-default}` in
   * values are read from. Without it, values are taken as written.
   */
  readonly expandEnv?: (name: string) => string | undefined;
}

/**
 * Parses config text; pure (reads secrets via the injected functions).
 *
 * @param text the YAML source
 * @param options `file` names the config in messages and anchors relative
 *   `secret_file` paths; `readFile` defaults to failing every read and
 *   `getEnv` to an empty environment, so nothing outside is touched unless
 *   the caller passes them (loadConfig passes Deno's).
 */
export function parseConfig(text: string, options: ParseConfigOptions): ConfigResult {
  const { file } = options;
  const yaml = readYaml(text, file);
  if (!yaml.ok) return yaml;
  const expanded = options.expandEnv
    ? expandEnv(yaml.value, options.expandEnv)
    : { value: yaml.value, names: [], problems: [] };
  const checked = checkConfig(expanded.value, {
    configDir: dirname(file),
    readFile: options.readFile ?? refuseRead,
    getEnv: options.getEnv ?? (() => undefined),
  });
  // Every problem at once; a value left unexpanded is said once, as such.
  const unexpanded = new Set(expanded.problems.map(({ path }) => path.join("\0")));
  const problems = [
    ...expanded.problems,
    ...(checked.ok ? [] : checked.problems.filter(({ path }) => !unexpanded.has(path.join("\0")))),
  ];
  if (!checked.ok || problems.length > 0) {
    const errors = report(file, problems, yaml.locate);
    // `${NAME}` written without the flag is likely behind these problems.
    if (!options.expandEnv && mentionsVariable(text)) {
      errors.push(`${fileLabel(file)}: ${UNEXPANDED}`);
    }
    return { ok: false, errors };
  }
  return { ok: true, config: assemble(file, checked.data, expanded.names) };
}

const UNEXPANDED = "values hold ${NAME}: they are taken as written unless the config is read " +
  "with --expand-env";

/** The checked data as the program reads it, deeply frozen; `expandedNames`: the variables read. */
function assemble(file: string, data: ParsedConfig, expandedNames: readonly string[]): Config {
  const readPaths = [file];
  const envNames: string[] = [...expandedNames];
  const proxies = data.proxies.map((proxy): ProxyConfig => {
    // crossCheck guaranteed exactly one source and a server somewhere.
    const secret = (proxy.secret ?? proxy.secret_env ?? proxy.secret_file ??
      proxy.secret_credential)!;
    if (secret.path !== undefined && !readPaths.includes(secret.path)) {
      readPaths.push(secret.path);
    }
    if (secret.env !== undefined && !envNames.includes(secret.env)) {
      envNames.push(secret.env);
    }
    const deny = proxy.deny === undefined || proxy.deny.length === 0
      ? {}
      : { deny: Object.freeze(proxy.deny) };
    const server = (proxy.server ?? data.server)!;
    const tls = isTlsServer(server)
      ? tlsOf(proxy.tls_ca ?? data.tls_ca, proxy.tls_server_name ?? data.tls_server_name)
      : undefined;
    if (tls?.caFile !== undefined && !readPaths.includes(tls.caFile)) readPaths.push(tls.caFile);
    return Object.freeze({
      domain: proxy.domain,
      secret: secret.value,
      targetAddress: proxy.target_address,
      server: Object.freeze({ ...server }),
      ...(tls === undefined ? {} : { tls }),
      requestTimeoutMs: proxy.request_timeout,
      balance: proxy.balance,
      maxPendingPerResource: proxy.max_pending_per_resource,
      maxPending: proxy.max_pending,
      // Optional keys are left out rather than set to undefined.
      ...(proxy.allow === undefined ? {} : { allow: Object.freeze(proxy.allow) }),
      ...deny,
      hideFromDenied: proxy.hide_from_denied,
      ...(proxy.rate_limit === undefined ? {} : { rateLimit: proxy.rate_limit }),
      maxPendingPerRequester: proxy.max_pending_per_requester,
      maxPendingPerDomain: proxy.max_pending_per_domain ??
        Math.max(1, Math.floor(proxy.max_pending * DEFAULT_PENDING_SHARE_PER_DOMAIN)),
      ...(proxy.rate_limit_per_domain === undefined
        ? {}
        : { rateLimitPerDomain: proxy.rate_limit_per_domain }),
      keepaliveMs: proxy.keepalive,
      keepaliveTimeoutMs: proxy.keepalive_timeout,
      standbyRetryMs: proxy.standby_retry,
      maxStanzaSize: proxy.max_stanza_size,
      maxSendBuffer: proxy.max_send_buffer,
      ...(proxy.standby_peer === undefined
        ? {}
        : { standbyPeer: Object.freeze(proxy.standby_peer) }),
      allowTargetRequests: proxy.allow_target_requests,
      messages: proxy.messages,
      presence: proxy.presence,
      maxSubscribers: proxy.max_subscribers,
      maxSubscribersPerDomain: proxy.max_subscribers_per_domain,
      // Off (absent or empty), its tunings are left out with it.
      ...(proxy.affinity === undefined || proxy.affinity.length === 0 ? {} : {
        affinity: Object.freeze(proxy.affinity),
        affinityIdleMs: proxy.affinity_idle,
        maxAffinityKeys: proxy.max_affinity_keys,
      }),
      ...(proxy.drain === undefined || proxy.drain.length === 0
        ? {}
        : { drain: Object.freeze(proxy.drain) }),
    });
  });
  return Object.freeze({
    file,
    ...(data.log_level === undefined ? {} : { logLevel: data.log_level }),
    ...(data.log_format === undefined ? {} : { logFormat: data.log_format }),
    ...(data.http === undefined ? {} : { http: Object.freeze({ ...data.http }) }),
    shutdownGraceMs: data.shutdown_grace,
    ...(data.state_dir === undefined
      ? {}
      : { stateDir: resolvePath(dirname(file), data.state_dir) }),
    proxies: Object.freeze(proxies),
    readPaths: Object.freeze(readPaths),
    envNames: Object.freeze(envNames),
  });
}

/** A TLS server's settings, the keys left unset left out. */
function tlsOf(ca: CaFile | undefined, serverName: string | undefined): TlsConfig {
  return Object.freeze({
    ...(ca === undefined ? {} : { caFile: ca.path, ca: ca.pem }),
    ...(serverName === undefined ? {} : { serverName }),
  });
}

function refuseRead(_path: string): string {
  throw new Error("no readFile function was given to parseConfig");
}

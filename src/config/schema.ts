/**
 * The shape of a config file, checked with zod: every key, its type, its
 * default, and the rules that span keys (one secret source per proxy, no
 * domain twice, a server for every proxy, state_dir for presence). All
 * problems are collected, none stops the others.
 */
import { z } from "zod";
import { BALANCES } from "../core/balance.ts";
import { isBareJid, isHostname, stampedBare } from "../core/jid.ts";
import { LOG_FORMATS, LOG_LEVELS } from "./log_options.ts";
import {
  affinityField,
  countField,
  drainField,
  durationField,
  enumField,
  httpField,
  logOptionField,
  patternListField,
  peerField,
  rateLimitField,
  serverField,
  sizeField,
} from "./fields.ts";
import { describe, expecting, fromZod, type Problem } from "./problems.ts";
import { SECRET_KEYS, SECRET_KEYS_TEXT, secretFields, type SecretSources } from "./secrets.ts";
import { keysAt, suggestion } from "./suggest.ts";
import { caField, serverNameField, TLS_KEYS } from "./tls.ts";
import {
  DEFAULT_AFFINITY_IDLE_MS,
  DEFAULT_BALANCE,
  DEFAULT_KEEPALIVE_MS,
  DEFAULT_KEEPALIVE_TIMEOUT_MS,
  DEFAULT_MAX_AFFINITY_KEYS,
  DEFAULT_MAX_PENDING,
  DEFAULT_MAX_PENDING_PER_REQUESTER,
  DEFAULT_MAX_PENDING_PER_RESOURCE,
  DEFAULT_MAX_SEND_BUFFER,
  DEFAULT_MAX_STANZA_SIZE,
  DEFAULT_MAX_SUBSCRIBERS,
  DEFAULT_MAX_SUBSCRIBERS_PER_DOMAIN,
  DEFAULT_MESSAGES,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_SHUTDOWN_GRACE_MS,
  DEFAULT_STANDBY_RETRY_MS,
  MESSAGE_MODES,
} from "./types.ts";
import { isTlsServer, parseServer, SERVER_EXPECTED } from "./values.ts";

/** The file's data as zod leaves it: snake_case keys, defaults filled in, secrets read. */
export type ParsedConfig = z.output<ReturnType<typeof configSchema>>;

/** The checked data, or every problem found in it. */
export type CheckResult =
  | { ok: true; data: ParsedConfig }
  | { ok: false; problems: Problem[] };

/**
 * Checks the YAML's data against the schema and the cross-key rules,
 * reading secrets through `secrets`.
 */
export function checkConfig(raw: unknown, secrets: SecretSources): CheckResult {
  if (!isPlainObject(raw)) {
    // Not its text: a secret file given as --config would be shown.
    const got = raw === null ? "an empty document" : describe(raw, true);
    return {
      ok: false,
      problems: [{ path: [], message: `expected a mapping with server and proxies, got ${got}` }],
    };
  }
  const schema = configSchema(secrets);
  const parsed = schema.safeParse(raw);
  const proxyKeys = keysAt(schema, ["proxies", 0]);
  const problems: Problem[] = parsed.success ? [] : fromZod(
    parsed.error,
    (path, key) => suggestion(key, keysAt(schema, path), proxyKeys),
  );
  problems.push(...crossCheck(raw));
  if (!parsed.success || problems.length > 0) return { ok: false, problems };
  return { ok: true, data: parsed.data };
}

export function configSchema(secrets: SecretSources) {
  const proxiesError = expecting("expected a non-empty list of proxies");
  return z.strictObject({
    server: serverField().optional(),
    tls_ca: caField(secrets).optional(),
    tls_server_name: serverNameField().optional(),
    log_level: logOptionField(LOG_LEVELS).optional(),
    log_format: logOptionField(LOG_FORMATS).optional(),
    http: httpField().optional(),
    shutdown_grace: durationField(0).default(DEFAULT_SHUTDOWN_GRACE_MS),
    state_dir: z.string({ error: expecting("expected a directory path") }).min(1, {
      error: expecting("expected a directory path"),
    }).optional(),
    proxies: z.array(proxySchema(secrets), { error: proxiesError })
      .min(1, { error: proxiesError }),
  });
}

function proxySchema(secrets: SecretSources) {
  const domainError = expecting("expected a domain name like proxy.example.org");
  const jidError = expecting("expected a bare JID like service@example.org");
  const flag = () => z.boolean({ error: expecting("expected true or false") }).default(false);
  return z.strictObject({
    domain: z.string({ error: domainError })
      .refine((text) => isHostname(text.toLowerCase()), { error: domainError })
      .transform((text) => text.toLowerCase()),
    ...secretFields(secrets),
    target_address: z.string({ error: jidError })
      .refine((text) => isBareJid(text.toLowerCase()), { error: jidError })
      // Compared with what the server stamps: `Straße@…` is the `strasse@…` it sends.
      .transform(stampedBare),
    server: serverField().optional(),
    tls_ca: caField(secrets).optional(),
    tls_server_name: serverNameField().optional(),
    request_timeout: durationField(1).default(DEFAULT_REQUEST_TIMEOUT_MS),
    balance: enumField(BALANCES).default(DEFAULT_BALANCE),
    max_pending_per_resource: countField().default(DEFAULT_MAX_PENDING_PER_RESOURCE),
    max_pending: countField().default(DEFAULT_MAX_PENDING),
    allow: patternListField("allow").optional(),
    deny: patternListField("deny").optional(),
    hide_from_denied: flag(),
    rate_limit: rateLimitField().optional(),
    max_pending_per_requester: countField().default(DEFAULT_MAX_PENDING_PER_REQUESTER),
    max_pending_per_domain: countField().optional(),
    rate_limit_per_domain: rateLimitField().optional(),
    keepalive: durationField(0).default(DEFAULT_KEEPALIVE_MS),
    keepalive_timeout: durationField(1).default(DEFAULT_KEEPALIVE_TIMEOUT_MS),
    standby_retry: durationField(1).default(DEFAULT_STANDBY_RETRY_MS),
    standby_peer: peerField().optional(),
    max_stanza_size: sizeField().default(DEFAULT_MAX_STANZA_SIZE),
    max_send_buffer: sizeField().default(DEFAULT_MAX_SEND_BUFFER),
    allow_target_requests: flag(),
    messages: enumField(MESSAGE_MODES).default(DEFAULT_MESSAGES),
    presence: flag(),
    max_subscribers: countField().default(DEFAULT_MAX_SUBSCRIBERS),
    max_subscribers_per_domain: countField().default(DEFAULT_MAX_SUBSCRIBERS_PER_DOMAIN),
    affinity: affinityField().optional(),
    affinity_idle: durationField(1).default(DEFAULT_AFFINITY_IDLE_MS),
    max_affinity_keys: countField().default(DEFAULT_MAX_AFFINITY_KEYS),
    drain: drainField().optional(),
  }, {
    error: expecting(
      `expected a mapping with domain, target_address and one of ${SECRET_KEYS_TEXT}`,
      // `- secret:s3cret` (no space) is a string: do not show it.
      true,
    ),
  });
}

/**
 * Rules that span keys. They look at the raw data, so that they are
 * reported even when zod found other problems in the same proxy.
 */
function crossCheck(raw: Record<string, unknown>): Problem[] {
  const problems: Problem[] = [];
  const proxies = Array.isArray(raw.proxies) ? raw.proxies : [];
  const firstUse = new Map<string, number>();
  let withoutServer: number | undefined;
  problems.push(...tlsWithoutTls(raw, raw.server, []));
  proxies.forEach((proxy: unknown, index) => {
    if (!isPlainObject(proxy)) return;
    const server = Object.hasOwn(proxy, "server") ? proxy.server : raw.server;
    problems.push(...tlsWithoutTls(proxy, server, ["proxies", index]));
    const sources = SECRET_KEYS.filter((key) => Object.hasOwn(proxy, key));
    if (sources.length !== 1) {
      problems.push({
        path: ["proxies", index],
        message: `expected exactly one of ${SECRET_KEYS_TEXT}, got ${
          sources.length === 0 ? "none" : sources.join(" and ")
        }`,
      });
    }
    if (!Object.hasOwn(proxy, "server")) withoutServer ??= index;
    if (typeof proxy.domain === "string") {
      const domain = proxy.domain.toLowerCase();
      const first = firstUse.get(domain);
      if (first === undefined) {
        firstUse.set(domain, index);
      } else {
        problems.push({
          path: ["proxies", index, "domain"],
          message: `expected a domain no other proxy uses, got ${
            JSON.stringify(domain)
          } (also proxies[${first}].domain)`,
        });
      }
    }
  });
  const withPresence = proxies.findIndex((proxy: unknown) =>
    isPlainObject(proxy) && proxy.presence === true
  );
  if (withPresence >= 0 && !Object.hasOwn(raw, "state_dir")) {
    problems.push({
      path: ["proxies", withPresence, "presence"],
      message: "needs state_dir (a directory where subscribers are kept), got nothing",
    });
  }
  if (!Object.hasOwn(raw, "server") && withoutServer !== undefined) {
    problems.push({
      path: ["server"],
      message:
        `${SERVER_EXPECTED} (required because proxies[${withoutServer}] has no server of its own), got nothing (the key is missing)`,
    });
  }
  return problems;
}

/**
 * The TLS keys written in `where` (at `path`) when the server they go
 * with is a plaintext one: they would do nothing, and say otherwise.
 */
function tlsWithoutTls(
  where: Record<string, unknown>,
  server: unknown,
  path: readonly PropertyKey[],
): Problem[] {
  const address = typeof server === "string" ? parseServer(server) : undefined;
  if (address === undefined || isTlsServer(address)) return [];
  return TLS_KEYS.filter((key) => Object.hasOwn(where, key)).map((key) => ({
    path: [...path, key],
    message: `applies only to a TLS server (xmpps://), got the plaintext server ${address.url}`,
  }));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null &&
    Object.getPrototypeOf(value) === Object.prototype;
}

/**
 * The shape of a config file, checked with zod: every key, its type, its
 * default, and the rules that span keys (one secret source per proxy, no
 * domain twice, a server for every proxy, state_dir for presence). All
 * problems are collected, none stops the others.
 */
import { z } from "zod";
import { parseAffinityShape, SHAPE_EXPECTED } from "../core/affinity_key.ts";
import { BALANCES } from "../core/balance.ts";
import { isBareJid, isHostname } from "../core/jid.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { LOG_FORMATS, LOG_LEVELS, readOption } from "./log_options.ts";
import { describe, expecting, expectingAddress, fromZod, type Problem } from "./problems.ts";
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
  type HttpListen,
  MESSAGE_MODES,
  type RateLimitConfig,
  type ServerAddress,
} from "./types.ts";
import {
  DURATION_EXPECTED,
  HTTP_EXPECTED,
  isAccessPattern,
  isTlsServer,
  MAX_DURATION_MS,
  parseListen,
  parsePeer,
  parseRate,
  parseResourceName,
  parseServer,
  parseSize,
  PATTERN_EXPECTED,
  PEER_EXPECTED,
  RATE_EXPECTED,
  RESOURCE_EXPECTED,
  SERVER_EXPECTED,
  SIZE_EXPECTED,
} from "./values.ts";

/** The file's data as zod leaves it: snake_case keys, defaults filled in, secrets read. */
export type ParsedConfig = z.output<ReturnType<typeof configSchema>>;

/** The checked data, or every problem found in it. */
export type CheckResult =
  | { ok: true; data: ParsedConfig }
  | { ok: false; problems: Problem[] };

/** What a duration's input is, for the JSON schema (its check is the transform's). */
const DURATION_META = {
  description: "a duration: 500ms, 2s, 1.5s, 1m, 1h, or a number of milliseconds",
  type: ["string", "number"],
} as never;

const SIZE_META = {
  description: "a size in bytes: 65536, or with a unit: 512KB, 1MB, 1.5MiB",
  type: ["string", "number"],
} as never;

const RATE_META = {
  description: "a rate: 20/s, 100/m or 1000/h",
  type: "string",
  pattern: "^\\s*(\\d+(\\.\\d+)?|\\.\\d+)\\s*/\\s*[smh]\\s*$",
} as never;

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
      .transform((text) => text.toLowerCase()),
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

// ------------------------------------------------------------------ fields

function serverField() {
  const error = expectingAddress(SERVER_EXPECTED);
  return z.string({ error })
    .refine((text) => parseServer(text) !== undefined, { error })
    .transform((text) => parseServer(text) as ServerAddress);
}

/** `standby_peer: http://HOST:PORT`: an origin, no path. */
function peerField() {
  const error = expectingAddress(PEER_EXPECTED);
  return z.string({ error })
    .refine((text) => parsePeer(text) !== undefined, { error })
    .transform((text) => parsePeer(text) as ServerAddress);
}

/** `http: HOST:PORT`; the port is required (there is no usual one). */
function httpField() {
  const error = expecting(HTTP_EXPECTED);
  return z.string({ error })
    .refine((text) => parseListen(text) !== undefined, { error })
    .transform((text) => parseListen(text) as HttpListen);
}

/** A duration from `minMs` up to what a timer can wait. */
function durationField(minMs: number) {
  return readField(
    DURATION_META,
    (input) => {
      const ms = typeof input === "string" || typeof input === "number"
        ? parseDuration(input)
        : undefined;
      return ms !== undefined && ms >= minMs && ms <= MAX_DURATION_MS ? ms : undefined;
    },
    // Only a duration out of range is said as one.
    (input) =>
      (typeof input === "string" || typeof input === "number") &&
        parseDuration(input) !== undefined
        ? `expected a duration from ${formatDuration(minMs)} to ${formatDuration(MAX_DURATION_MS)}`
        : DURATION_EXPECTED,
  );
}

/** A size in bytes: `1MB`, `512KB`, `65536`. */
function sizeField() {
  return readField(SIZE_META, parseSize, () => SIZE_EXPECTED);
}

/**
 * A value `read` from whatever the YAML gave (undefined: not one), each
 * failure said as `expected(input)`, got what it was. `meta` says in the
 * JSON schema what the input may be, which the transform alone cannot.
 */
function readField<T>(
  meta: never,
  read: (input: unknown) => T | undefined,
  expected: (input: unknown) => string,
) {
  return z.unknown().meta(meta).transform((input, ctx) => {
    const value = read(input);
    if (value === undefined) {
      ctx.issues.push({
        code: "custom",
        input,
        message: `${expected(input)}, got ${describe(input)}`,
      });
      return z.NEVER;
    }
    return value;
  });
}

function countField() {
  const error = expecting("expected an integer >= 1");
  return z.number({ error }).int({ error }).min(1, { error });
}

/** `log_level`, `log_format`: one of `values`, in any case or by an alias (log_options.ts). */
function logOptionField<const T extends readonly [string, ...string[]]>(values: T) {
  return z.preprocess(
    (value) => typeof value === "string" ? readOption(values, value) ?? value : value,
    enumField(values),
  );
}

function enumField<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, {
    error: expecting(`expected one of ${values.join(", ")}`),
  });
}

/** `allow` / `deny`: a list of requester patterns, each checked, lowercased. */
function patternListField(key: "allow" | "deny") {
  const listExpected = key === "allow"
    ? 'expected a non-empty list of patterns like ["@example.org"] (leave allow out to allow everyone)'
    : 'expected a list of patterns like ["@evil.example"]';
  const error = expecting(PATTERN_EXPECTED);
  const list = z.array(
    z.string({ error })
      .refine(isAccessPattern, { error })
      .transform((text) => text.toLowerCase()),
    { error: expecting(listExpected) },
  );
  return key === "allow" ? list.min(1, { error: expecting(listExpected) }) : list;
}

/** `affinity`: a list of request shapes, each checked on its own (the message names it). */
function affinityField() {
  const error = expecting(SHAPE_EXPECTED);
  return z.array(
    z.string({ error })
      .refine((text) => parseAffinityShape(text) !== undefined, { error })
      .transform((text) => Object.freeze(parseAffinityShape(text)!)),
    {
      error: expecting(
        `expected a list of request shapes like ["{http://jitsi.org/protocol/focus}conference@room"]`,
      ),
    },
  );
}

/** `drain`: resources of the target, as the server stamps them. */
function drainField() {
  const error = expecting(RESOURCE_EXPECTED);
  return z.array(
    z.string({ error }).min(1, { error, abort: true })
      .refine((text) => parseResourceName(text) !== undefined, { error })
      .transform((text) => parseResourceName(text)!),
    { error: expecting('expected a list of resources like ["jicofo-1"]') },
  );
}

/** `rate_limit: { rate: 20/s, burst: 40 }`. */
function rateLimitField() {
  return z.strictObject({
    rate: readField(RATE_META, parseRate, () => RATE_EXPECTED),
    burst: countField().optional(),
  }, {
    error: expecting("expected a mapping like { rate: 20/s, burst: 40 }"),
  }).transform(({ rate, burst }): RateLimitConfig =>
    Object.freeze({
      perSecond: rate.perSecond,
      burst: burst ?? Math.max(1, Math.ceil(rate.count)),
    })
  );
}

// ------------------------------------------------------------ cross-checks

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

/**
 * The daemon's YAML configuration: parsed with npm:yaml, checked with zod,
 * secrets resolved, and every problem reported at once as
 * `"<file>: <key path>: <what was expected>, got <what was found>"`, so an
 * operator fixes the whole file in one go instead of one error per restart.
 *
 * A secret's value never appears in a message, whichever key it sits under.
 */
import { dirname, isAbsolute, join } from "node:path";
import { type Document, isAlias, isNode, isScalar, LineCounter, parseDocument, visit } from "yaml";
import { z } from "zod";
import { classifyPattern } from "../core/access.ts";
import { isBareJid, isHostname } from "../core/jid.ts";
import { formatDuration, parseDuration } from "./duration.ts";

import { type Balance, BALANCES } from "../core/balance.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "./log_options.ts";

export type { Balance, LogFormat, LogLevel };

/** Where the XMPP server accepts external components (XEP-0114). */
export interface ServerAddress {
  /** Host name or IP address; an IPv6 address without brackets (`::1`). */
  readonly host: string;
  readonly port: number;
  /** Normalised `xmpp://host:port` (IPv6 in brackets), for logs. */
  readonly url: string;
}

/** Where the HTTP side listener (health, readiness, metrics) binds. */
export interface HttpListen {
  /** Host name or IP address; an IPv6 address without brackets (`::1`). */
  readonly host: string;
  readonly port: number;
}

/** A token bucket per requester: `rate_limit: { rate: 20/s, burst: 40 }`. */
export interface RateLimitConfig {
  /** `rate` (`N/s`, `N/m` or `N/h`) in requests per second; > 0. */
  readonly perSecond: number;
  /**
   * `burst`: requests that may come back to back; >= 1. Default: the N of
   * the rate, rounded up (`20/s` → 20, `1000/h` → 1000).
   */
  readonly burst: number;
}

/** One component domain and the account its IQs are forwarded to. */
export interface ProxyConfig {
  /** Component domain, lowercased. */
  readonly domain: string;
  /** Resolved shared secret: non-empty printable ASCII. */
  readonly secret: string;
  /** Bare JID `local@domain` of the implementing account, lowercased. */
  readonly targetAddress: string;
  /** The proxy's own `server:`, else the top-level one. */
  readonly server: ServerAddress;
  /** `request_timeout`, default 30 s. */
  readonly requestTimeoutMs: number;
  /** `balance`, default `"least-pending"`. */
  readonly balance: Balance;
  /** `max_pending_per_resource`, default 1000. */
  readonly maxPendingPerResource: number;
  /** `max_pending`, default 100000. */
  readonly maxPending: number;
  /**
   * `allow`: requester patterns let in, lowercased (`user@example.org`,
   * `@example.org`, `*.example.org`; see src/core/access.ts). Absent: everyone
   * not denied. Never empty (the config refuses `allow: []`).
   */
  readonly allow?: readonly string[];
  /**
   * `deny`: requester patterns refused even when allowed, lowercased.
   * Absent (an empty list is left out too): nobody is denied.
   */
  readonly deny?: readonly string[];
  /**
   * `hide_from_denied`, default false: answer a refused requester as if
   * the proxy were not there (`service-unavailable`) rather than
   * `forbidden`.
   */
  readonly hideFromDenied: boolean;
  /** `rate_limit`, per requester bare JID. Absent: no rate limit. */
  readonly rateLimit?: RateLimitConfig;
  /**
   * `max_pending_per_requester`, default 100: how many requests one bare
   * JID may have awaiting a reply.
   */
  readonly maxPendingPerRequester: number;
  /** `keepalive`, default 30 s: how often to ping over the stream; 0 turns it off. */
  readonly keepaliveMs: number;
  /** `keepalive_timeout`, default 10 s: a ping unanswered this long means a dead link. */
  readonly keepaliveTimeoutMs: number;
  /** `standby_retry`, default 2 s: how often a standby instance tries to take over. */
  readonly standbyRetryMs: number;
  /**
   * `standby_peer: http://HOST:PORT`, the other instance's HTTP listener.
   * On a server that shares a domain between connections (ejabberd), a
   * standby asks it before each look, and does not look while it says it
   * serves the domain. Absent: it looks every 3 × `standby_retry`.
   */
  readonly standbyPeer?: ServerAddress;
  /** `allow_target_requests`, default false: the implementing client may start requests. */
  readonly allowTargetRequests: boolean;
  /** `messages`, default `reject`: `forward` passes messages both ways. */
  readonly messages: "reject" | "forward";
  /** `presence`, default false: users may subscribe to the service's availability. */
  readonly presence: boolean;
  /**
   * `max_subscribers`, default 10000: how many users may subscribe to the
   * service's presence; beyond it a new `subscribe` gets `unsubscribed`.
   */
  readonly maxSubscribers: number;
}

/** The whole validated configuration; deeply frozen. */
export interface Config {
  /** The config file's path as given. */
  readonly file: string;
  /**
   * `log_level`; absent when the file does not set it (then the flag, the
   * environment or the default `info` decide: src/config/env.ts).
   */
  readonly logLevel?: LogLevel;
  /** `log_format`; absent when the file does not set it (default `text`, as above). */
  readonly logFormat?: LogFormat;
  /**
   * `http: HOST:PORT` (`127.0.0.1:9347`; IPv6 quoted: `"[::1]:9347"`), the
   * health/readiness/metrics listener. Absent: no listener.
   */
  readonly http?: HttpListen;
  /** `shutdown_grace`, default 5 s. */
  readonly shutdownGraceMs: number;
  /**
   * `state_dir`: where state that must survive a restart is kept (the
   * service's presence subscribers); relative to the config file's
   * directory. Required when a proxy has `presence: true`.
   */
  readonly stateDir?: string;
  readonly proxies: readonly ProxyConfig[];
  /**
   * Files the running proxy reads (config + secret_file / secret_credential
   * paths): for permission scoping.
   */
  readonly readPaths: readonly string[];
  /**
   * Environment variable names the config used (secret_env,
   * CREDENTIALS_DIRECTORY): for permission scoping.
   */
  readonly envNames: readonly string[];
}

/** A config, or every problem found in it (never a throw). */
export type ConfigResult =
  | { ok: true; config: Config }
  | { ok: false; errors: string[] };

/** Where parseConfig gets secrets from; see {@link parseConfig}. */
export interface ParseConfigOptions {
  /** The config file's path: prefixes messages; `secret_file` paths are relative to its directory. */
  file: string;
  /**
   * Reads a `secret_file` or `secret_credential`. Default: every read
   * fails, so parsing stays pure.
   */
  readFile?: (path: string) => string;
  /** Reads a `secret_env` variable and CREDENTIALS_DIRECTORY. Default: no variable is set. */
  getEnv?: (name: string) => string | undefined;
}

const SECRET_KEYS = ["secret", "secret_env", "secret_file", "secret_credential"] as const;
const SECRET_KEYS_TEXT = "secret, secret_env, secret_file or secret_credential";
/** Where systemd puts `LoadCredential=` files for the unit. */
/** Where systemd says the unit's credentials are (`secret_credential`). */
export const CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY";
/** What npm:yaml reads from the environment while it parses. */
export const YAML_ENV_NAMES = Object.freeze(["LOG_TOKENS", "LOG_STREAM"] as const);

const DEFAULT_PORT = 5347;
const DEFAULT_SHUTDOWN_GRACE_MS = 5_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_BALANCE: Balance = "least-pending";
const DEFAULT_MAX_PENDING_PER_RESOURCE = 1_000;
const DEFAULT_MAX_PENDING = 100_000;
const DEFAULT_MAX_PENDING_PER_REQUESTER = 100;
const DEFAULT_MAX_SUBSCRIBERS = 10_000;
const DEFAULT_KEEPALIVE_MS = 30_000;
const DEFAULT_KEEPALIVE_TIMEOUT_MS = 10_000;
const DEFAULT_STANDBY_RETRY_MS = 2_000;
const MESSAGE_MODES = ["reject", "forward"] as const;
// setTimeout fires at once for delays above 2^31-1 ms (about 24.8 days);
// 596h is the largest whole number of hours below that.
const MAX_DURATION_MS = 596 * 3_600_000;

const ASCII_MESSAGE = "must be printable ASCII (XEP-0114 handshake hashes it as latin1)";
const SERVER_EXPECTED =
  "expected a server address like xmpp://127.0.0.1:5347, 127.0.0.1:5347 or 127.0.0.1";
const DURATION_EXPECTED = "expected a duration like 500ms, 2s or 1m";
const HTTP_EXPECTED = 'expected a listen address like 127.0.0.1:9347 or "[::1]:9347"';
const PEER_EXPECTED =
  "expected the other instance's HTTP listener, like http://10.0.0.2:9347 (http or https, no path)";
const PATTERN_EXPECTED = "expected a pattern like user@example.org, @example.org or *.example.org";
const RATE_EXPECTED = "expected a rate above zero like 20/s, 100/m or 1000/h";

/**
 * Parses config text; pure (reads secrets via the injected functions).
 *
 * @param text the YAML source
 * @param options `file` names the config in messages and anchors relative
 *   `secret_file` paths; `readFile` defaults to failing every read and
 *   `getEnv` to an empty environment, so nothing outside is touched unless
 *   the caller passes them (loadConfig passes Deno's).
 */
export function parseConfig(
  text: string,
  options: ParseConfigOptions,
): ConfigResult {
  const { file } = options;
  const yaml = readYaml(text, file);
  if (!yaml.ok) return yaml;
  const raw = yaml.value;
  if (!isPlainObject(raw)) {
    return {
      ok: false,
      errors: [
        // Not its text: a secret file given as --config would be shown.
        `${file}: expected a mapping with server and proxies, got ${
          raw === null ? "an empty document" : describe(raw, true)
        }`,
      ],
    };
  }

  const secrets: SecretSources = {
    configDir: dirname(file),
    readFile: options.readFile ?? refuseRead,
    getEnv: options.getEnv ?? (() => undefined),
  };
  const parsed = configSchema(secrets).safeParse(raw);
  const problems: Problem[] = parsed.success ? [] : fromZod(parsed.error);
  problems.push(...crossCheck(raw));
  if (!parsed.success || problems.length > 0) {
    return { ok: false, errors: report(file, problems) };
  }
  return { ok: true, config: assemble(file, parsed.data) };
}

/**
 * Reads the file then parseConfig, using Deno.readTextFileSync /
 * Deno.env.get; a missing/unreadable file is an error result
 * (`"client-proxy.yaml: cannot read: No such file"`), never a throw.
 * Needs read access to the file and its secret files, env access to its
 * `secret_env` names (and CREDENTIALS_DIRECTORY for `secret_credential`),
 * and (for npm:yaml) `LOG_TOKENS` and `LOG_STREAM`.
 */
export function loadConfig(file: string): ConfigResult {
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (error) {
    return { ok: false, errors: [`${file}: cannot read: ${reason(error)}`] };
  }
  return parseConfig(text, {
    file,
    readFile: (path) => Deno.readTextFileSync(path),
    getEnv: (name) => Deno.env.get(name),
  });
}

// ---------------------------------------------------------------- YAML stage

type YamlResult = { ok: true; value: unknown } | {
  ok: false;
  errors: string[];
};

/** YAML text to plain data, or syntax problems as `file:line:col: message`. */
function readYaml(text: string, file: string): YamlResult {
  const lineCounter = new LineCounter();
  // prettyErrors would append the offending source line to each message,
  // and that line may be a secret.
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    logLevel: "error",
  });
  const found: { offset: number; message: string }[] = [
    ...doc.errors,
    ...doc.warnings, // e.g. an unknown `!tag`: not silently ignored either
  ].map((e) => ({ offset: e.pos[0], message: redactYamlMessage(e.message) }));
  found.push(...structuralYamlProblems(doc));
  if (found.length > 0) {
    found.sort((a, b) => a.offset - b.offset);
    return {
      ok: false,
      errors: found.map(({ offset, message }) => {
        const { line, col } = lineCounter.linePos(offset);
        return `${file}:${line}:${col}: ${message}`;
      }),
    };
  }
  try {
    return { ok: true, value: doc.toJS() };
  } catch (error) {
    // e.g. "Excessive alias count": no position to give.
    return { ok: false, errors: [`${file}: ${reason(error)}`] };
  }
}

/**
 * Problems npm:yaml only notices (by throwing, or by a console warning)
 * while converting to JS: keys that are not scalars and unresolved aliases.
 */
function structuralYamlProblems(
  doc: Document,
): { offset: number; message: string }[] {
  const found: { offset: number; message: string }[] = [];
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key)) return;
      const node = isNode(pair.key) ? pair.key : pair.value;
      const offset = isNode(node) ? node.range?.[0] ?? 0 : 0;
      found.push({
        offset,
        message: "keys must be plain scalars (no lists, mappings or aliases)",
      });
    },
    Alias(_, node) {
      if (isAlias(node) && node.resolve(doc) === undefined) {
        found.push({
          offset: node.range?.[0] ?? 0,
          // Not its name: `secret: *x9…` may be a secret that starts with `*`.
          message:
            "unresolved alias: a value starting with * names an &anchor; quote it if it is text",
        });
      }
    },
  });
  return found;
}

/**
 * Drops the bits of npm:yaml messages that quote the source (maybe a
 * secret: `secret: !x…`, `|x…`): what follows their colon, as in
 * "Unresolved tag: !x…", "Block scalar header includes extra characters:
 * |x…". The position (line:column) still says where.
 */
function redactYamlMessage(message: string): string {
  return message
    .replace(/^(Invalid escape sequence).*$/s, "$1")
    .replace(/^(Unresolved plain scalar).*$/s, "$1")
    .replace(/^([^:]*?): .*$/s, "$1")
    // `allow: [@example.org]` is a pattern the README shows: say how to write it.
    .replace(/^(Plain value cannot start with reserved character .)$/, "$1 (quote the value)");
}

// ----------------------------------------------------------------- zod stage

/** Injected access to secrets, resolved while the schema parses. */
interface SecretSources {
  configDir: string;
  readFile: (path: string) => string;
  getEnv: (name: string) => string | undefined;
}

/** A secret with where it came from, for readPaths / envNames. */
interface Resolved {
  value: string;
  path?: string;
  env?: string;
}

/** Error callback giving `expected …, got <input>`; zod passes the input. */
function expecting(
  expected: string,
  sensitive = false,
): (issue: { input?: unknown }) => string {
  return (issue) => `${expected}, got ${describe(issue.input, sensitive)}`;
}

function serverField() {
  const error = expecting(SERVER_EXPECTED);
  return z.string({ error })
    .refine((text) => parseServer(text) !== undefined, { error })
    .transform((text) => parseServer(text) as ServerAddress);
}

function durationField(minMs: number) {
  return z.unknown().transform((input, ctx) => {
    const ms = typeof input === "string" || typeof input === "number"
      ? parseDuration(input)
      : undefined;
    if (ms === undefined || ms < minMs || ms > MAX_DURATION_MS) {
      const expected = ms === undefined
        ? DURATION_EXPECTED
        : `expected a duration from ${formatDuration(minMs)} to ${formatDuration(MAX_DURATION_MS)}`;
      ctx.issues.push({
        code: "custom",
        input,
        message: `${expected}, got ${describe(input)}`,
      });
      return z.NEVER;
    }
    return ms;
  });
}

function countField() {
  const error = expecting("expected an integer >= 1");
  return z.number({ error }).int({ error }).min(1, { error });
}

function enumField<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, {
    error: expecting(`expected one of ${values.join(", ")}`),
  });
}

/** Checks a resolved secret's content; pushes the problem, never the value. */
function checkSecret(
  value: string,
  where: string,
  push: (message: string) => void,
): void {
  if (value === "") {
    push(`expected ${where} to hold a non-empty secret, got an empty value`);
  } else if (value.charCodeAt(0) === 0xfeff) {
    push(`${where} starts with a byte order mark (BOM): save it without one`);
  } else if (/[\r\n]/.test(value)) {
    push(`${where} holds more than one line: a secret is one line (a final newline is dropped)`);
  } else if (!PRINTABLE_ASCII.test(value)) {
    push(ASCII_MESSAGE);
  }
}

/** `secret:` inline; its value is never echoed, even when mistyped. */
function inlineSecretField() {
  return z.string({
    error: expecting(
      "expected a string (quote secrets that YAML would read as numbers)",
      true,
    ),
  })
    .min(1, {
      error: expecting("expected a non-empty string", true),
      abort: true,
    })
    .refine((text) => PRINTABLE_ASCII.test(text), { error: ASCII_MESSAGE })
    .transform((value): Resolved => ({ value }));
}

/** `secret_env: NAME`, resolved through the injected getEnv. */
function envSecretField(secrets: SecretSources) {
  // A value that is no variable name may be the secret pasted in here.
  const error = expecting(
    "expected an environment variable name like PROXY_SECRET",
    true,
  );
  return z.string({ error })
    .regex(ENV_NAME, { error })
    .transform((name, ctx): Resolved => {
      const push = (message: string) => ctx.issues.push({ code: "custom", input: name, message });
      let value: string | undefined;
      try {
        value = secrets.getEnv(name);
      } catch (error) {
        push(
          `expected a readable environment variable ${name}, got ${reason(error)}`,
        );
        return { value: "", env: name };
      }
      if (value === undefined) {
        push(
          `expected the environment variable ${name} to be set, got it unset`,
        );
      } else {
        checkSecret(value, `the environment variable ${name}`, push);
      }
      return { value: value ?? "", env: name };
    });
}

/** `secret_file: PATH`, relative to the config's directory, read through the injected readFile. */
function fileSecretField(secrets: SecretSources) {
  const error = expecting("expected a file path");
  return z.string({ error })
    .min(1, { error, abort: true })
    .transform((given, ctx): Resolved => {
      const path = isAbsolute(given) ? given : join(secrets.configDir, given);
      const push = (message: string) => ctx.issues.push({ code: "custom", input: given, message });
      let content: string;
      try {
        content = secrets.readFile(path);
      } catch (error) {
        push(
          `expected a readable file, got ${JSON.stringify(path)} (${reason(error)})`,
        );
        return { value: "", path };
      }
      // Editors add a final newline; a secret never ends in one.
      const value = content.replace(/\r?\n$/, "");
      checkSecret(value, `the file ${JSON.stringify(path)}`, push);
      return { value, path };
    });
}

/**
 * `secret_credential: NAME`: the file NAME in $CREDENTIALS_DIRECTORY, where
 * systemd puts what the unit's `LoadCredential=` / `SetCredential=` name.
 */
function credentialSecretField(secrets: SecretSources) {
  // A value that is no credential name may be the secret pasted in here.
  const error = expecting(
    "expected a credential name like client-proxy.secret (systemd LoadCredential=)",
    true,
  );
  return z.string({ error })
    .regex(CREDENTIAL_NAME, { error })
    .transform((name, ctx): Resolved => {
      const push = (message: string) => ctx.issues.push({ code: "custom", input: name, message });
      let dir: string | undefined;
      try {
        dir = secrets.getEnv(CREDENTIALS_ENV);
      } catch (error) {
        push(
          `expected a readable environment variable ${CREDENTIALS_ENV}, got ${reason(error)}`,
        );
        return { value: "", env: CREDENTIALS_ENV };
      }
      if (dir === undefined || dir === "") {
        push(
          `expected the environment variable ${CREDENTIALS_ENV} to be set (systemd sets it for a unit with LoadCredential=), got it unset`,
        );
        return { value: "", env: CREDENTIALS_ENV };
      }
      const path = join(dir, name);
      let content: string;
      try {
        content = secrets.readFile(path);
      } catch (error) {
        push(
          `expected a readable credential file, got ${JSON.stringify(path)} (${reason(error)})`,
        );
        return { value: "", path, env: CREDENTIALS_ENV };
      }
      const value = content.replace(/\r?\n$/, "");
      checkSecret(value, `the credential file ${JSON.stringify(path)}`, push);
      return { value, path, env: CREDENTIALS_ENV };
    });
}

/** `standby_peer: http://HOST:PORT`: an origin, no path. */
function peerField() {
  const error = expecting(PEER_EXPECTED);
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

/** `rate_limit: { rate: 20/s, burst: 40 }`. */
function rateLimitField() {
  return z.strictObject({
    rate: z.unknown().transform((input, ctx) => {
      const rate = parseRate(input);
      if (rate === undefined) {
        ctx.issues.push({
          code: "custom",
          input,
          message: `${RATE_EXPECTED}, got ${describe(input)}`,
        });
        return z.NEVER;
      }
      return rate;
    }),
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

function proxySchema(secrets: SecretSources) {
  const domainError = expecting(
    "expected a domain name like proxy.example.org",
  );
  const jidError = expecting("expected a bare JID like service@example.org");
  return z.strictObject({
    domain: z.string({ error: domainError })
      .refine((text) => isHostname(text.toLowerCase()), { error: domainError })
      .transform((text) => text.toLowerCase()),
    secret: inlineSecretField().optional(),
    secret_env: envSecretField(secrets).optional(),
    secret_file: fileSecretField(secrets).optional(),
    secret_credential: credentialSecretField(secrets).optional(),
    target_address: z.string({ error: jidError })
      .refine((text) => isBareJid(text.toLowerCase()), { error: jidError })
      .transform((text) => text.toLowerCase()),
    server: serverField().optional(),
    request_timeout: durationField(1).default(DEFAULT_REQUEST_TIMEOUT_MS),
    balance: enumField(BALANCES).default(DEFAULT_BALANCE),
    max_pending_per_resource: countField().default(
      DEFAULT_MAX_PENDING_PER_RESOURCE,
    ),
    max_pending: countField().default(DEFAULT_MAX_PENDING),
    allow: patternListField("allow").optional(),
    deny: patternListField("deny").optional(),
    hide_from_denied: z.boolean({ error: expecting("expected true or false") }).default(false),
    rate_limit: rateLimitField().optional(),
    max_pending_per_requester: countField().default(DEFAULT_MAX_PENDING_PER_REQUESTER),
    keepalive: durationField(0).default(DEFAULT_KEEPALIVE_MS),
    keepalive_timeout: durationField(1).default(DEFAULT_KEEPALIVE_TIMEOUT_MS),
    standby_retry: durationField(1).default(DEFAULT_STANDBY_RETRY_MS),
    standby_peer: peerField().optional(),
    allow_target_requests: z.boolean({ error: expecting("expected true or false") }).default(false),
    messages: enumField(MESSAGE_MODES).default("reject"),
    presence: z.boolean({ error: expecting("expected true or false") }).default(false),
    max_subscribers: countField().default(DEFAULT_MAX_SUBSCRIBERS),
  }, {
    error: expecting(
      `expected a mapping with domain, target_address and one of ${SECRET_KEYS_TEXT}`,
      // `- secret:s3cret` (no space) is a string: do not show it.
      true,
    ),
  });
}

function configSchema(secrets: SecretSources) {
  const proxiesError = expecting("expected a non-empty list of proxies");
  return z.strictObject({
    server: serverField().optional(),
    log_level: enumField(LOG_LEVELS).optional(),
    log_format: enumField(LOG_FORMATS).optional(),
    http: httpField().optional(),
    shutdown_grace: durationField(0).default(DEFAULT_SHUTDOWN_GRACE_MS),
    state_dir: z.string({ error: expecting("expected a directory path") }).min(1, {
      error: expecting("expected a directory path"),
    }).optional(),
    proxies: z.array(proxySchema(secrets), { error: proxiesError })
      .min(1, { error: proxiesError }),
  });
}

type ParsedConfig = z.output<ReturnType<typeof configSchema>>;

// ------------------------------------------------------- cross-field checks

/** A problem at a key path; rendered by {@link report}. */
interface Problem {
  path: readonly PropertyKey[];
  message: string;
}

function fromZod(error: z.ZodError): Problem[] {
  const problems: Problem[] = [];
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        problems.push({ path: [...issue.path, key], message: "unknown key" });
      }
    } else {
      problems.push({ path: issue.path, message: issue.message });
    }
  }
  return problems;
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
  proxies.forEach((proxy: unknown, index) => {
    if (!isPlainObject(proxy)) return;
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

/** `file: path: message` lines, top-level keys first, then proxy by proxy. */
function report(file: string, problems: Problem[]): string[] {
  const rank = ({ path }: Problem) =>
    path[0] === "proxies" && typeof path[1] === "number" ? path[1] : -1;
  // Array.prototype.sort is stable, so zod's order survives within a rank.
  return [...problems]
    .sort((a, b) => rank(a) - rank(b))
    .map(({ path, message }) =>
      path.length === 0 ? `${file}: ${message}` : `${file}: ${formatPath(path)}: ${message}`
    );
}

/** A path from the config, relative to the config file's directory. */
function resolveFrom(file: string, path: string): string {
  return isAbsolute(path) ? path : join(dirname(file), path);
}

/** `["proxies", 0, "secret"]` → `proxies[0].secret`. */
function formatPath(path: readonly PropertyKey[]): string {
  let text = "";
  for (const part of path) {
    if (typeof part === "number") {
      text += `[${part}]`;
    } else {
      const key = String(part);
      // Odd keys (spaces, dots, newlines) are quoted so the line stays one line.
      if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) {
        text += text === "" ? key : `.${key}`;
      } else {
        text += `[${JSON.stringify(key)}]`;
      }
    }
  }
  return text;
}

// ----------------------------------------------------------------- assembly

function assemble(file: string, data: ParsedConfig): Config {
  const readPaths = [file];
  const envNames: string[] = [];
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
    return Object.freeze({
      domain: proxy.domain,
      secret: secret.value,
      targetAddress: proxy.target_address,
      server: Object.freeze({ ...(proxy.server ?? data.server)! }),
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
      keepaliveMs: proxy.keepalive,
      keepaliveTimeoutMs: proxy.keepalive_timeout,
      standbyRetryMs: proxy.standby_retry,
      ...(proxy.standby_peer === undefined
        ? {}
        : { standbyPeer: Object.freeze(proxy.standby_peer) }),
      allowTargetRequests: proxy.allow_target_requests,
      messages: proxy.messages,
      presence: proxy.presence,
      maxSubscribers: proxy.max_subscribers,
    });
  });
  return Object.freeze({
    file,
    ...(data.log_level === undefined ? {} : { logLevel: data.log_level }),
    ...(data.log_format === undefined ? {} : { logFormat: data.log_format }),
    ...(data.http === undefined ? {} : { http: Object.freeze({ ...data.http }) }),
    shutdownGraceMs: data.shutdown_grace,
    ...(data.state_dir === undefined ? {} : { stateDir: resolveFrom(file, data.state_dir) }),
    proxies: Object.freeze(proxies),
    readPaths: Object.freeze(readPaths),
    envNames: Object.freeze(envNames),
  });
}

// --------------------------------------------------------- value validators

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SERVER_RE = /^(?:xmpp:\/\/)?(?:\[([0-9A-Fa-f:.]+)\]|([^:/[\]@\s]+))(?::(\d{1,5}))?$/i;
const LISTEN_RE = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:/[\]@\s]+)):(\d{1,5})$/;
// What systemd accepts as a credential name, less the odd characters a
// pasted secret would have; a leading dot (`.`, `..`) is refused.
const CREDENTIAL_NAME = /^[A-Za-z0-9_@:+-][A-Za-z0-9_.@:+-]{0,254}$/;
const RATE_RE = /^(\d+(?:\.\d+)?|\.\d+)\s*\/\s*(s|m|h)$/;
const RATE_UNIT_SECONDS = { s: 1, m: 60, h: 3_600 } as const;

/** `xmpp://host:port`, `host:port` or `host` (port 5347); IPv6 in brackets. */
function parseServer(text: string): ServerAddress | undefined {
  const match = SERVER_RE.exec(text);
  if (match === null) return undefined;
  const [, ipv6, name, portText] = match;
  const port = portText === undefined ? DEFAULT_PORT : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) return undefined;
  if (ipv6 !== undefined) {
    if (!isIpv6(ipv6)) return undefined;
    const host = ipv6.toLowerCase();
    return { host, port, url: `xmpp://[${host}]:${port}` };
  }
  const host = name.toLowerCase();
  if (!isHostname(host)) return undefined;
  return { host, port, url: `xmpp://${host}:${port}` };
}

/** `http(s)://host[:port]`, an origin with no path: the standby peer's HTTP listener. */
function parsePeer(text: string): ServerAddress | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  const plain = url.pathname === "/" && !url.search && !url.hash && !url.username && !url.password;
  if ((url.protocol !== "http:" && url.protocol !== "https:") || !plain) return undefined;
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  // URL keeps IPv6 hosts in brackets (and has checked them); the other
  // addresses hold them bare. Names get the same check as everywhere else.
  const bracketed = /^\[(.*)\]$/.exec(url.hostname);
  const host = bracketed ? bracketed[1] : url.hostname;
  if (!bracketed && !isHostname(host)) return undefined;
  return { host, port, url: url.origin };
}

/** `host:port` or `[ipv6]:port`, port 1-65535, for the HTTP listener. */
function parseListen(text: string): HttpListen | undefined {
  const match = LISTEN_RE.exec(text);
  if (match === null) return undefined;
  const [, ipv6, name, portText] = match;
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) return undefined;
  if (ipv6 !== undefined) {
    return isIpv6(ipv6) ? { host: ipv6.toLowerCase(), port } : undefined;
  }
  const host = name.toLowerCase();
  return isHostname(host) ? { host, port } : undefined;
}

/** A well-formed `allow` / `deny` pattern, with a valid JID or domain inside. */
function isAccessPattern(text: string): boolean {
  const pattern = classifyPattern(text);
  switch (pattern?.kind) {
    case "jid":
      return isBareJid(pattern.jid);
    case "domain":
      return isHostname(pattern.domain);
    case "subdomains":
      return isHostname(pattern.parent);
    default:
      return false;
  }
}

/** `N/s`, `N/m` or `N/h` with N > 0: the count as written and per second. */
function parseRate(input: unknown): { count: number; perSecond: number } | undefined {
  if (typeof input !== "string") return undefined;
  const match = RATE_RE.exec(input.trim());
  if (match === null) return undefined;
  const count = Number(match[1]);
  const perSecond = count / RATE_UNIT_SECONDS[match[2] as keyof typeof RATE_UNIT_SECONDS];
  return count > 0 && Number.isFinite(count) && perSecond > 0 ? { count, perSecond } : undefined;
}

function isIpv6(text: string): boolean {
  // WHATWG URL parsing validates IPv6 literals for special schemes.
  try {
    new URL(`http://[${text}]/`);
    return text.includes(":");
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------ helpers

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null &&
    Object.getPrototypeOf(value) === Object.prototype;
}

/**
 * What was found, for `got …`. Strings are JSON-quoted (so control
 * characters cannot break a log line) and cut short; with `sensitive`
 * only the type is named.
 */
function describe(value: unknown, sensitive = false): string {
  if (value === undefined) return "nothing (the key is missing)";
  if (value === null) return "an empty value";
  if (Array.isArray(value)) {
    return value.length === 0 ? "an empty list" : "a list";
  }
  if (value instanceof Uint8Array) return "binary data";
  if (typeof value === "object") {
    return Object.keys(value).length === 0 ? "an empty mapping" : "a mapping";
  }
  if (value === "") return "an empty string";
  if (sensitive) {
    const article = typeof value === "string" ? "a string" : `a ${typeof value}`;
    return `${article} (value not shown)`;
  }
  if (typeof value === "string") {
    return JSON.stringify(
      value.length > 80 ? `${value.slice(0, 77)}...` : value,
    );
  }
  return String(value);
}

/** A short reason for a failed read, without Deno's `(os error 2)` noise. */
function reason(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "No such file";
  if (error instanceof Deno.errors.PermissionDenied) return "Permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "Is a directory";
  if (error instanceof Deno.errors.NotCapable) {
    // Only a process started with lists (a scoped binary) gets here.
    return "not allowed by Deno's permissions (--allow-read / --allow-env; a binary built " +
      "with `deno task compile --config FILE` may read only the files and variables that FILE uses)";
  }
  return error instanceof Error ? error.message : String(error);
}

function refuseRead(_path: string): string {
  throw new Error("no readFile function was given to parseConfig");
}

/**
 * What a validated configuration is: the frozen value the rest of the
 * program reads, and the defaults of the keys a file may leave out.
 */
import type { AffinityShape } from "../core/affinity_key.ts";
import type { Balance } from "../core/balance.ts";
import type { LogFormat, LogLevel } from "./log_options.ts";

/** Where the XMPP server accepts external components (XEP-0114). */
export interface ServerAddress {
  /** Host name or IP address; an IPv6 address without brackets (`::1`). */
  readonly host: string;
  readonly port: number;
  /** Normalised `xmpp://host:port` (IPv6 in brackets), for logs. */
  readonly url: string;
}

/**
 * How a TLS link (`server: xmpps://…`) checks the server: present on a
 * proxy exactly when its server is an `xmpps://` one.
 */
export interface TlsConfig {
  /** `tls_ca`: the PEM file of certificates trusted besides the system's store. */
  readonly caFile?: string;
  /** Its text (read with the config, so that the worker needs no file access). */
  readonly ca?: string;
  /** `tls_server_name`: the name the certificate must carry. Default: the server's host. */
  readonly serverName?: string;
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
  /** The proxy's own `server:`, else the top-level one; `xmpps://` in its url for TLS. */
  readonly server: ServerAddress;
  /**
   * The TLS settings of an `xmpps://` server (the proxy's own `tls_ca` and
   * `tls_server_name`, else the top-level ones); absent for `xmpp://`.
   */
  readonly tls?: TlsConfig;
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
  /**
   * `max_pending_per_domain`, default a quarter of `max_pending`: how many
   * requests the users of one domain may have awaiting a reply together.
   */
  readonly maxPendingPerDomain: number;
  /** `rate_limit_per_domain`, per requester domain. Absent: none. */
  readonly rateLimitPerDomain?: RateLimitConfig;
  /** `keepalive`, default 30 s: how often to ping over the stream; 0 turns it off. */
  readonly keepaliveMs: number;
  /** `keepalive_timeout`, default 10 s: a ping unanswered this long means a dead link. */
  readonly keepaliveTimeoutMs: number;
  /** `standby_retry`, default 2 s: how often a standby instance tries to take over. */
  readonly standbyRetryMs: number;
  /**
   * `max_stanza_size`, default 1 MB (1,048,576): the largest stanza read
   * from the stream, in bytes of UTF-8 (as on the wire); a larger one is
   * skipped unread (a get/set is refused with `policy-violation`).
   */
  readonly maxStanzaSize: number;
  /**
   * `max_send_buffer`, default 8 MB (8,388,608): bytes written to the
   * server and not yet taken by the socket above which the proxy stops
   * reading from it; if they do not drain within `keepalive_timeout`, the
   * link is replaced.
   */
  readonly maxSendBuffer: number;
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
  readonly messages: typeof MESSAGE_MODES[number];
  /** `presence`, default false: users may subscribe to the service's availability. */
  readonly presence: boolean;
  /**
   * `max_subscribers`, default 10000: how many users may subscribe to the
   * service's presence; beyond it a new `subscribe` gets `unsubscribed`.
   */
  readonly maxSubscribers: number;
  /**
   * `max_subscribers_per_domain`, default 1000: how many users of one domain
   * may subscribe to the service's presence.
   */
  readonly maxSubscribersPerDomain: number;
  /**
   * `affinity`: request shapes (`"{namespace}element@attribute"`) whose
   * attribute says what a request is about; requests about one thing go
   * to one resource (src/core/affinity.ts). Absent (an empty list is left
   * out too): every request is placed by `balance`.
   */
  readonly affinity?: readonly AffinityShape[];
  /** `affinity_idle`, default 1 h: a key unused this long is pinned no more. Set with `affinity`. */
  readonly affinityIdleMs?: number;
  /** `max_affinity_keys`, default 100000: keys pinned at most. Set with `affinity`. */
  readonly maxAffinityKeys?: number;
  /**
   * `drain`: resources of the target (resourceparts) that take no new work,
   * whatever their presence says. Absent when empty.
   */
  readonly drain?: readonly string[];
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
   * service's presence subscribers, the affinity pins); relative to the
   * config file's directory. Required when a proxy has `presence: true`.
   */
  readonly stateDir?: string;
  readonly proxies: readonly ProxyConfig[];
  /**
   * Files the running proxy reads (config + secret_file / secret_credential
   * / tls_ca paths): for permission scoping.
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

/** The port XMPP servers accept components on when `server:` gives none. */
export const DEFAULT_PORT = 5347;
/** `shutdown_grace`. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 5_000;
/** `request_timeout`. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** `balance`. */
export const DEFAULT_BALANCE: Balance = "least-pending";
/** `max_pending_per_resource`. */
export const DEFAULT_MAX_PENDING_PER_RESOURCE = 1_000;
/** `max_pending`. */
export const DEFAULT_MAX_PENDING = 100_000;
/** `max_pending_per_requester`. */
export const DEFAULT_MAX_PENDING_PER_REQUESTER = 100;
/** `max_subscribers`. */
export const DEFAULT_MAX_SUBSCRIBERS = 10_000;
/** `max_subscribers_per_domain`. */
export const DEFAULT_MAX_SUBSCRIBERS_PER_DOMAIN = 1_000;
/** `max_pending_per_domain`, as a share of `max_pending`. */
export const DEFAULT_PENDING_SHARE_PER_DOMAIN = 0.25;
/** `keepalive`. */
export const DEFAULT_KEEPALIVE_MS = 30_000;
/** `keepalive_timeout`. */
export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 10_000;
/** `standby_retry`. */
export const DEFAULT_STANDBY_RETRY_MS = 2_000;
/** `max_stanza_size`: 1 MB. */
export const DEFAULT_MAX_STANZA_SIZE = 1024 * 1024;
/** `affinity_idle` and `max_affinity_keys`: the core's, which it also uses when they are absent. */
export { DEFAULT_AFFINITY_IDLE_MS, DEFAULT_MAX_AFFINITY_KEYS } from "../core/affinity.ts";
/** `max_send_buffer`: 8 MB. */
export const DEFAULT_MAX_SEND_BUFFER = 8 * 1024 * 1024;
/** The values of `messages`. */
export const MESSAGE_MODES = ["reject", "forward"] as const;
/** `messages`. */
export const DEFAULT_MESSAGES = "reject";

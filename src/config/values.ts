/**
 * The config's values one by one, from text to meaning: server and peer
 * addresses, the HTTP listen address, rates, requester patterns, resource
 * names and paths.
 * Each parser returns `undefined` for a value it refuses; the text that
 * says what was expected instead sits next to it.
 */
import { isAbsolute, join } from "node:path";
import { classifyPattern } from "../core/access.ts";
import { utf8Length } from "../core/byte_length.ts";
import { isBareJid, isHostname, prepResource } from "../core/jid.ts";
import { DEFAULT_PORT, type HttpListen, type ServerAddress } from "./types.ts";

// What each value should look like, for `expected …, got …`.
export const SERVER_EXPECTED =
  "expected a server address like xmpp://127.0.0.1:5347, 127.0.0.1:5347 or 127.0.0.1";
export const DURATION_EXPECTED = "expected a duration like 500ms, 2s or 1m";
export const HTTP_EXPECTED = 'expected a listen address like 127.0.0.1:9347 or "[::1]:9347"';
export const PEER_EXPECTED =
  "expected the other instance's HTTP listener, like http://10.0.0.2:9347 (http or https, no path)";
export const PATTERN_EXPECTED =
  "expected a pattern like user@example.org, @example.org or *.example.org";
export const RATE_EXPECTED = "expected a rate above zero like 20/s, 100/m or 1000/h";
export const SIZE_EXPECTED = "expected a size from 1KB to 1GB like 64KB, 1MB or 1048576 (bytes)";
export const RESOURCE_EXPECTED =
  "expected a resource of the target, as target.resource_up names it (1 to 1023 bytes)";

// setTimeout fires at once for delays above 2^31-1 ms (about 24.8 days);
// 596h is the largest whole number of hours below that.
export const MAX_DURATION_MS = 596 * 3_600_000;

const SERVER_RE = /^(?:(xmpps?):\/\/)?(?:\[([0-9A-Fa-f:.]+)\]|([^:/[\]@\s]+))(?::(\d{1,5}))?$/i;
const LISTEN_RE = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:/[\]@\s]+)):(\d{1,5})$/;
const RATE_RE = /^(\d+(?:\.\d+)?|\.\d+)\s*\/\s*(s|m|h)$/;
const RATE_UNIT_SECONDS = { s: 1, m: 60, h: 3_600 } as const;
const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i;
const SIZE_UNITS: Readonly<Record<string, number>> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
/** The bounds of `max_stanza_size`. */
export const MIN_SIZE = 1024;
export const MAX_SIZE = 1024 ** 3;

/**
 * A resource name as the server stamps it (resourceprep), or undefined: empty,
 * over 1023 bytes (RFC 7622 §3.4) or with a control character.
 */
export function parseResourceName(text: string): string | undefined {
  const name = prepResource(text);
  // deno-lint-ignore no-control-regex
  if (name === "" || utf8Length(name) > 1023 || /[\u0000-\u001f\u007f]/.test(name)) {
    return undefined;
  }
  return name;
}

/**
 * `xmpp://host:port`, `host:port` or `host` (port 5347); `xmpps://` for
 * direct TLS (kept in the url); IPv6 in brackets.
 */
export function parseServer(text: string): ServerAddress | undefined {
  const match = SERVER_RE.exec(text);
  if (match === null) return undefined;
  const [, scheme, ipv6, name, portText] = match;
  const port = portText === undefined ? DEFAULT_PORT : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) return undefined;
  const prefix = scheme?.toLowerCase() === "xmpps" ? "xmpps://" : "xmpp://";
  if (ipv6 !== undefined) {
    if (!isIpv6(ipv6)) return undefined;
    const host = ipv6.toLowerCase();
    return { host, port, url: `${prefix}[${host}]:${port}` };
  }
  const host = name.toLowerCase();
  if (!isHostname(host)) return undefined;
  return { host, port, url: `${prefix}${host}:${port}` };
}

/** Whether a server address (parsed) is a direct TLS one (`xmpps://`). */
export function isTlsServer(server: ServerAddress): boolean {
  return server.url.startsWith("xmpps://");
}

/** `http(s)://host[:port]`, an origin with no path: the standby peer's HTTP listener. */
export function parsePeer(text: string): ServerAddress | undefined {
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
export function parseListen(text: string): HttpListen | undefined {
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
export function isAccessPattern(text: string): boolean {
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
export function parseRate(input: unknown): { count: number; perSecond: number } | undefined {
  if (typeof input !== "string") return undefined;
  const match = RATE_RE.exec(input.trim());
  if (match === null) return undefined;
  const count = Number(match[1]);
  const perSecond = count / RATE_UNIT_SECONDS[match[2] as keyof typeof RATE_UNIT_SECONDS];
  return count > 0 && Number.isFinite(count) && perSecond > 0 ? { count, perSecond } : undefined;
}

/**
 * A size in bytes: a whole number, or a number with a unit (`512KB`,
 * `1MB`, `1.5 MiB`; K, KB and KiB are 1024 bytes, M 1024 K, G 1024 M),
 * from {@link MIN_SIZE} to {@link MAX_SIZE}.
 */
export function parseSize(input: unknown): number | undefined {
  let bytes: number;
  if (typeof input === "number") bytes = input;
  else if (typeof input === "string") {
    const match = SIZE_RE.exec(input.trim());
    if (match === null) return undefined;
    const unit = SIZE_UNITS[(match[2] ?? "b")[0].toLowerCase()];
    if (unit === 1 && match[1].includes(".")) return undefined;
    bytes = Math.floor(Number(match[1]) * unit);
  } else return undefined;
  return Number.isInteger(bytes) && bytes >= MIN_SIZE && bytes <= MAX_SIZE ? bytes : undefined;
}

/** An IPv4 address (dotted quad) or an IPv6 one (without brackets). */
export function isIpAddress(text: string): boolean {
  const quad = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (quad) return quad.slice(1).every((part) => Number(part) <= 255);
  return isIpv6(text);
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

/** A path from the config: relative ones are taken from the config file's directory. */
export function resolvePath(configDir: string, path: string): string {
  return isAbsolute(path) ? path : join(configDir, path);
}

/**
 * Where a component stream goes: `xmpp://host:port` (plaintext TCP) or
 * `xmpps://host:port` (direct TLS), read once into an {@link Endpoint},
 * and whether that address stays on this machine.
 */

/** How a stream's TLS is checked (`xmpps://` only). */
export interface TlsOptions {
  /** PEM certificates trusted besides the system's store (`tls_ca`). */
  readonly ca?: string;
  /** The name the certificate must carry (`tls_server_name`). Default: the host. */
  readonly serverName?: string;
}

/** A server's component listener, as the transport dials it. */
export interface Endpoint {
  /** A name or an IP address; IPv6 without brackets. */
  readonly host: string;
  readonly port: number;
  /** Present for direct TLS (`xmpps://`). */
  readonly tls?: {
    readonly ca?: string;
    /** The name checked in the server's certificate. */
    readonly serverName: string;
  };
}

/** The component port when a URL gives none (XEP-0114's usual one). */
const DEFAULT_PORT = 5347;

/**
 * `url` (`xmpp://host[:port]` or `xmpps://host[:port]`) as an endpoint;
 * `tls` applies to `xmpps://` only. Throws on anything else: the config
 * checked the address already.
 */
export function endpointOf(url: string, tls: TlsOptions = {}): Endpoint {
  const match = /^(xmpps?):\/\/(?:\[([^\]]+)\]|([^:/[\]]+))(?::(\d+))?\/?$/i.exec(url);
  if (match === null) throw new TypeError(`not an xmpp:// or xmpps:// address: ${url}`);
  const [, scheme, ipv6, name, port] = match;
  const host = (ipv6 ?? name).toLowerCase();
  const endpoint = { host, port: port === undefined ? DEFAULT_PORT : Number(port) };
  if (scheme.toLowerCase() === "xmpp") return endpoint;
  return {
    ...endpoint,
    tls: {
      ...(tls.ca === undefined ? {} : { ca: tls.ca }),
      serverName: tls.serverName ?? host,
    },
  };
}

/**
 * Whether `host` is this machine: `localhost`, 127.0.0.0/8 or `::1` (in
 * any of its spellings). Any other name may resolve anywhere.
 */
export function isLoopback(host: string): boolean {
  const lower = host.toLowerCase();
  if (lower === "localhost") return true;
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(lower)) return true;
  if (!lower.includes(":")) return false;
  try {
    // The URL parser writes an IPv6 address in its shortest form.
    return new URL(`http://[${lower}]/`).hostname === "[::1]";
  } catch {
    return false;
  }
}

/**
 * Direct TLS on a component stream (`xmpps://`): the handshake over an
 * open TCP connection, and what its failures mean for the operator. A
 * certificate that does not verify ends the connection before a byte of
 * the stream (let alone the secret's handshake) is sent.
 */

/** A TLS connection that could not be made, said in the operator's terms. */
export class TlsFailure extends Error {
  /** What the link reports and counts (src/ops/metrics.ts). */
  readonly code = "tls-failed";

  constructor(
    /** What went wrong, e.g. `certificate expired`. */
    readonly reason: string,
    /** What to do about it. */
    readonly hint: string,
    /** The TLS library's own words. */
    readonly detail: string,
  ) {
    super(`TLS failed: ${reason}`);
    this.name = "TlsFailure";
  }
}

/** Options of {@link startTls}. */
export interface TlsStart {
  /** The name checked in the server's certificate. */
  readonly serverName: string;
  /** PEM certificates trusted besides the system's store. */
  readonly ca?: string;
}

/**
 * TLS over `tcp`, handshake done and the certificate verified; rejects
 * with a {@link TlsFailure} (the TCP connection closed) when it fails.
 */
export async function startTls(tcp: Deno.TcpConn, options: TlsStart): Promise<Deno.TlsConn> {
  let tls: Deno.TlsConn | undefined;
  try {
    tls = await Deno.startTls(tcp, {
      hostname: options.serverName,
      ...(options.ca === undefined ? {} : { caCerts: [options.ca] }),
    });
    await tls.handshake();
    return tls;
  } catch (error) {
    try {
      (tls ?? tcp).close();
    } catch { /* closed already */ }
    throw tlsFailure(error, options.serverName);
  }
}

/** What a failed handshake's error says, for a server whose certificate should name `serverName`. */
export function tlsFailure(error: unknown, serverName: string): TlsFailure {
  const detail = error instanceof Error ? error.message : String(error);
  for (const [pattern, reason, hint] of EXPLANATIONS) {
    if (pattern.test(detail)) {
      return new TlsFailure(reason.replaceAll("$name", serverName), hint, detail);
    }
  }
  const alert = /received fatal alert: (\w+)/.exec(detail)?.[1];
  if (alert) {
    return new TlsFailure(
      `the server ended the handshake (${alert})`,
      "see the server's log for why it refused this client",
      detail,
    );
  }
  return new TlsFailure(detail, "see the detail", detail);
}

/** The failures worth a plain word: what the TLS library says, what it means, what to do. */
const EXPLANATIONS: readonly (readonly [RegExp, string, string])[] = [
  [
    /UnknownIssuer/,
    "certificate not trusted (unknown issuer)",
    "give the CA that signed the server's certificate (or the certificate itself, when it " +
    "is self-signed) as tls_ca",
  ],
  [
    /not valid for name/,
    'certificate not valid for "$name"',
    "set tls_server_name to a name the server's certificate carries, or give the server a " +
    "certificate for this name",
  ],
  [/certificate expired/i, "certificate expired", "renew the server's certificate"],
  [
    /not valid (yet|before)|NotValidYet/i,
    "certificate not valid yet",
    "check the clocks of both machines",
  ],
  [
    /CaUsedAsEndEntity/,
    "the server presents a CA certificate as its own",
    "give the server a certificate that is not a CA (basicConstraints CA:FALSE)",
  ],
  [
    /InvalidContentType|corrupt message|WrongVersion|unexpected ?eof|close_notify|UnexpectedMessage/i,
    "no TLS on this port",
    "the server answered in plaintext or hung up: use xmpp:// for a plaintext listener, or " +
    "turn TLS on for the server's component listener",
  ],
];

/**
 * What a TLS link trusts besides its `tls_ca`: the system's certificate
 * store (on Debian /etc/ssl/certs, where `update-ca-certificates` puts an
 * operator's own CA), not Deno's default, Mozilla's list built into the
 * binary. Deno reads DENO_TLS_CA_STORE when the process makes its first
 * TLS connection, from any thread: set in the main thread before the
 * worker starts, it holds for every proxy. An operator's own setting wins.
 */

/** The variable Deno reads its trust stores from. */
export const TRUST_STORE_ENV = "DENO_TLS_CA_STORE";

/** Trusts the system's store, unless the environment already says which. */
export function useSystemTrustStore(): void {
  try {
    if (!Deno.env.get(TRUST_STORE_ENV)) Deno.env.set(TRUST_STORE_ENV, "system");
  } catch {
    // Not allowed (a binary scoped to an older config): Deno's default stays.
  }
}

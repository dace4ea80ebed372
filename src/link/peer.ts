/**
 * The other instance of a standby pair, asked over its HTTP listener
 * (`standby_peer`): whether its stream for a domain is up, from its
 * `/metrics`. On ejabberd a standby can only tell otherwise by connecting
 * for a look, and a stanza the server hands it as it closes again is lost;
 * while the peer says it serves, the standby does not look.
 */

/** Whether Prometheus text from a peer says `client_proxy_up{proxy="<domain>"} 1`. */
export function peerServes(metrics: string, domain: string): boolean {
  const label = `client_proxy_up{proxy=${JSON.stringify(domain)}}`;
  for (const line of metrics.split("\n")) {
    if (line.startsWith(label)) return Number(line.slice(label.length).trim()) === 1;
  }
  return false;
}

/** Options of {@link askPeer}. */
export interface AskPeerOptions {
  /** How long to wait for the answer. Default: 1000 ms. */
  readonly timeoutMs?: number;
  /** Default: the global `fetch`. */
  readonly fetch?: typeof fetch;
}

/**
 * Asks the peer at `origin` (`http://host:port`) whether it serves
 * `domain`. Anything but a clear yes (unreachable, slow, an error status,
 * the stream down) is no: the standby then looks for itself.
 */
export async function askPeer(
  origin: string,
  domain: string,
  options: AskPeerOptions = {},
): Promise<boolean> {
  try {
    const response = await (options.fetch ?? fetch)(`${origin}/metrics`, {
      signal: AbortSignal.timeout(options.timeoutMs ?? 1_000),
    });
    if (!response.ok) {
      await response.body?.cancel();
      return false;
    }
    return peerServes(await response.text(), domain);
  } catch {
    return false;
  }
}

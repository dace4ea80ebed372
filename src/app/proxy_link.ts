/**
 * A proxy's stream as its config describes it: where, with which secret and
 * TLS settings, the stream's timings, and how a standby asks its peer.
 */
import type { ProxyConfig } from "../config/types.ts";
import { type Link, type LinkHandlers, type LinkTimings, openLink } from "../link/connection.ts";
import { askPeer } from "../link/peer.ts";
import type { Logger } from "../ops/log.ts";

/** Opens the link of the proxy for `config` (with `deps.openLink`, in tests). */
export function openProxyLink(
  config: ProxyConfig,
  log: Logger,
  handlers: LinkHandlers,
  deps: { readonly openLink?: typeof openLink; readonly random?: () => number },
): Link {
  const { domain, standbyPeer } = config;
  return (deps.openLink ?? openLink)({
    url: config.server.url,
    ...(config.tls ? { tls: config.tls } : {}),
    domain,
    secret: config.secret,
    log,
    handlers,
    random: deps.random ?? Math.random,
    ...timings(config),
    ...(standbyPeer ? { siblingServes: () => askPeer(standbyPeer.url, domain) } : {}),
  });
}

/** The stream's timings and size limit in a proxy's config (a reload retunes them). */
export function timings(config: ProxyConfig): LinkTimings {
  return {
    keepaliveMs: config.keepaliveMs,
    keepaliveTimeoutMs: config.keepaliveTimeoutMs,
    standbyRetryMs: config.standbyRetryMs,
    maxStanzaSize: config.maxStanzaSize,
    maxSendBuffer: config.maxSendBuffer,
  };
}

/**
 * An `@xmpp/client` 0.14 entity that logs in with SASL PLAIN, and the part
 * of that untyped object the tests use.
 */
import { client as xmppClient } from "@xmpp/client";
import type { XmlElement } from "../../src/core/xml.ts";

export type Listener = (...args: never[]) => unknown;

export interface XmppClientEntity {
  jid: { toString(): string } | null;
  status: string;
  /** a node:net Socket while connected */
  socket: {
    destroy(): void;
    on(event: "error", listener: (err: Error) => void): void;
  } | null;
  reconnect: { stop(): void };
  start(): Promise<unknown>;
  stop(): Promise<unknown>;
  send(element: XmlElement): Promise<void>;
  write(text: string): Promise<void>;
  on(event: "stanza", listener: (el: XmlElement) => void): void;
  on(event: "online", listener: () => void): void;
  on(event: "error", listener: (err: Error) => void): void;
  listeners(event: string): Listener[];
  removeListener(event: string, listener: Listener): void;
}

type SaslAuthenticate = (
  credentials: { username: string; password: string },
  mechanism: string,
) => Promise<void>;

type XmppClientFactory = (options: {
  service: string;
  domain: string;
  resource?: string;
  username?: string;
  credentials: (
    authenticate: SaslAuthenticate,
    mechanisms: string[],
  ) => Promise<void>;
}) => {
  on(event: "connect", listener: () => void): void;
  socket: { setEncoding(encoding: "utf8"): void } | null;
};

/** Where and as whom {@link plainXmppClient} logs in. */
export interface PlainLogin {
  readonly service: string;
  readonly domain: string;
  readonly username: string;
  readonly password: string;
  readonly resource?: string;
}

/**
 * An `@xmpp/client` entity (not started) that logs in with SASL PLAIN,
 * typed as the caller's view `E` of the untyped xmpp.js object. PLAIN
 * explicitly: xmpp.js refuses it on a stream without TLS and would pick
 * SCRAM-SHA-1 (slow); the test servers are configured to allow it.
 */
export function plainXmppClient<E>(login: PlainLogin): E {
  const { service, domain, resource, username, password } = login;
  const entity = (xmppClient as unknown as XmppClientFactory)({
    service,
    domain,
    resource,
    username,
    credentials: (authenticate, mechanisms) =>
      authenticate({ username, password }, mechanisms.includes("PLAIN") ? "PLAIN" : mechanisms[0]),
  });
  // xmpp.js decodes each read on its own and would turn a character cut
  // between two reads into U+FFFD.
  entity.on("connect", () => entity.socket?.setEncoding("utf8"));
  return entity as E;
}

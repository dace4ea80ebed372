/**
 * One interface over the real XMPP servers the integration tests run
 * against: a throwaway Prosody (./prosody.ts) or a private ejabberd
 * (./ejabberd.ts), each with its own temp dir and free ports on 127.0.0.1.
 */
import { startEjabberd } from "./ejabberd.ts";
import { startProsody } from "./prosody.ts";

/** The servers the harness can start. */
export type ServerKind = "prosody" | "ejabberd";

/** Every kind, in the order the suites run them. */
export const SERVER_KINDS: readonly ServerKind[] = ["prosody", "ejabberd"];

export interface ComponentSpec {
  domain: string;
  secret: string;
}

export interface UserSpec {
  username: string;
  password: string;
  /** The host the account is made on; default the server's `domain`. */
  host?: string;
}

/** A component listener speaking direct TLS (besides the plaintext one). */
export interface TlsListenerSpec {
  /** PEM file of the certificate */
  readonly cert: string;
  /** PEM file of its key */
  readonly key: string;
  /** PEM file of both, certificate first (ejabberd's `certfile`) */
  readonly full: string;
  /** ejabberd: the components it lists (default all; see `listenerPerComponent`) */
  readonly domains?: readonly string[];
}

export interface StartOptions {
  components?: ComponentSpec[];
  /**
   * Direct TLS component listeners, each with its certificate
   * (`XmppServer.tlsComponentUrls`, in this order). Prosody serves them
   * through mod_net_multiplex's `ssl_ports`, ejabberd with `tls: true`.
   */
  tlsListeners?: readonly TlsListenerSpec[];
  /**
   * ejabberd only: each component also gets a plaintext listener of its own
   * (`XmppServer.componentUrlOf`). A component that authenticates on an
   * ejabberd listener serves every domain that listener lists, and stanzas
   * for a domain are spread over all its connections: components that must
   * not share traffic need listeners of their own. Prosody routes each
   * domain to its own connection on the one port.
   */
  listenerPerComponent?: boolean;
  users?: UserSpec[];
  /**
   * Extra config, in the server's own syntax, appended at the end of the
   * generated file: Lua lines in Prosody's global section, top-level YAML
   * keys (not already set) for ejabberd.
   */
  extraConfig?: string;
  /**
   * Run the server in a session of its own (Prosody only), so that a
   * terminal's Ctrl-C reaches only its caller, which stops it last (the
   * sandbox). Default false: an interrupted test run takes its servers along.
   */
  detached?: boolean;
  /**
   * Prosody only: write the config files instead of the generated one, as a
   * deployment lays them out (tests/integration/jitsi_test.ts). Called with the
   * server's temp dir, the generated global settings without the component
   * listener's (its ports must be set by the files written, on `componentPort`),
   * and that port; returns the path of the main config file. `components` and
   * `extraConfig` are not used then.
   */
  layout?: (setup: LayoutSetup) => Promise<string>;
  /** Prosody only: variables added to the server's environment. */
  env?: Record<string, string>;
}

/** What {@link StartOptions.layout} writes its files with. */
export interface LayoutSetup {
  /** The server's temp dir (removed with it). */
  readonly dir: string;
  /** Lua lines for the global section: data, log, c2s port, no TLS, no s2s. */
  readonly globals: string;
  /** The free port the component listener must use (on 127.0.0.1). */
  readonly componentPort: number;
}

export interface XmppServer {
  readonly kind: ServerKind;
  /** "localhost" (the user host) */
  readonly domain: string;
  /** free port, on 127.0.0.1 */
  readonly c2sPort: number;
  /** free port, on 127.0.0.1 (Prosody listens on it only when at least one component is configured) */
  readonly componentPort: number;
  /** temp dir holding config, data, log */
  readonly dir: string;
  /** `xmpp://127.0.0.1:<c2sPort>` for @xmpp/client */
  readonly c2sUrl: string;
  /** `xmpp://127.0.0.1:<componentPort>` for the proxy config */
  readonly componentUrl: string;
  /** `xmpps://127.0.0.1:<port>` of each of `StartOptions.tlsListeners`, in order */
  readonly tlsComponentUrls: readonly string[];
  /** Where component `domain` connects: its own listener, else {@link componentUrl}. */
  componentUrlOf(domain: string): string;
  register(user: UserSpec): Promise<void>;
  /** stop (SIGTERM, wait; SIGKILL after 5 s) then start again on the same ports and data dir */
  restart(): Promise<void>;
  /** the server's log so far (for assertions and for failure messages) */
  log(): string;
  /** sends a signal to the server process (SIGSTOP/SIGCONT freeze and thaw it) */
  signal(signal: Deno.Signal): void;
  /** idempotent; leaves no process and removes the temp dir */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts a throwaway server of `kind`; throws a clear Error when it is not installed. */
export function startServer(kind: ServerKind, options: StartOptions = {}): Promise<XmppServer> {
  switch (kind) {
    case "prosody":
      return startProsody(options);
    case "ejabberd":
      return startEjabberd(options);
  }
}

/**
 * The load generator's connections: logged in with `@xmpp/client` (SASL
 * PLAIN, as tests/support/client.ts does), then taken off xmpp.js: its
 * socket is detached from the entity (no parser, no middleware, no
 * per-stanza events) and the bench writes raw strings and reads raw text,
 * looking only at the start tags of top-level stanzas.
 */
import { type PlainLogin, plainXmppClient } from "../tests/support/client.ts";

/** A logged-in c2s stream, spoken to in raw text. */
export interface RawConn {
  /** The bound full JID. */
  readonly jid: string;
  /** Writes text to the socket as is. */
  write(text: string): void;
  /** Receives each start tag of a stanza: its name and its attribute text. */
  onTag: (name: string, attrs: string) => void;
  /** Closes the stream; bounded in time. */
  close(): Promise<void>;
}

/** The part of a node:net socket used here. */
interface NetSocket {
  setEncoding(encoding: "utf8"): void;
  setNoDelay(noDelay?: boolean): void;
  on(event: "data", listener: (chunk: string) => void): void;
  on(event: "close" | "error", listener: () => void): void;
  write(text: string): boolean;
  end(): void;
  destroy(): void;
}

/** The part of the (untyped) xmpp.js client entity used here. */
interface Entity {
  jid: { toString(): string } | null;
  socket: NetSocket | null;
  reconnect: { stop(): void };
  start(): Promise<unknown>;
  on(event: "online", listener: () => void): void;
  on(event: "error", listener: (error: Error) => void): void;
  _detachSocket(): void;
}

/** Logs in and hands back the raw stream. */
export async function login(options: PlainLogin): Promise<RawConn> {
  const { domain, username, resource } = options;
  const entity = plainXmppClient<Entity>(options);
  entity.reconnect.stop();
  const errors: Error[] = [];
  entity.on("error", (error) => errors.push(error));
  let conn: Conn | undefined;
  // Taken over in the "online" handler itself, before any later data event.
  entity.on("online", () => {
    const socket = entity.socket!;
    entity._detachSocket();
    conn = new Conn(entity.jid?.toString() ?? "", socket);
  });
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`login ${username} timed out`)), 15_000)
  );
  try {
    await Promise.race([entity.start(), timeout]);
  } catch (error) {
    throw new Error(
      `login ${username}@${domain}/${resource}: ${String(error)} ${errors.join("; ")}`,
    );
  }
  if (!conn) throw new Error(`login ${username}: online without a socket`);
  return conn;
}

class Conn implements RawConn {
  onTag: (name: string, attrs: string) => void = () => {};
  readonly #socket: NetSocket;
  #rest = "";
  #closed: Promise<void>;
  #isClosed = false;

  constructor(readonly jid: string, socket: NetSocket) {
    this.#socket = socket;
    socket.setEncoding("utf8");
    socket.setNoDelay(true);
    this.#closed = new Promise((resolve) => {
      socket.on("close", () => {
        this.#isClosed = true;
        resolve();
      });
    });
    socket.on("error", () => {});
    socket.on("data", (chunk) => this.#scan(chunk));
  }

  write(text: string): void {
    if (!this.#isClosed) this.#socket.write(text);
  }

  /**
   * Finds the start tags of `<iq` and `<presence` (the bench's payloads
   * never nest those names) and passes their attribute text on. Text
   * after the last complete tag waits for the next chunk.
   */
  #scan(chunk: string): void {
    const text = this.#rest === "" ? chunk : this.#rest + chunk;
    let pos = 0;
    while (true) {
      const lt = text.indexOf("<", pos);
      if (lt < 0) {
        pos = text.length;
        break;
      }
      const gt = text.indexOf(">", lt);
      if (gt < 0) {
        pos = lt;
        break;
      }
      const c = text.charCodeAt(lt + 1);
      if (c === 105 /* i */ && text.startsWith("iq ", lt + 1)) {
        this.onTag("iq", text.slice(lt + 4, gt));
      } else if (c === 112 /* p */ && text.startsWith("presence", lt + 1)) {
        this.onTag("presence", text.slice(lt + 9, gt));
      }
      pos = gt + 1;
    }
    this.#rest = pos >= text.length ? "" : text.slice(pos);
  }

  async close(): Promise<void> {
    if (this.#isClosed) return;
    this.#socket.write("</stream:stream>");
    this.#socket.end();
    const timer = setTimeout(() => this.#socket.destroy(), 1_000);
    await this.#closed;
    clearTimeout(timer);
  }
}

/**
 * The raw value of attribute `name` in a start tag's attribute text
 * (escaped as on the wire: copy it into an attribute with the same quote).
 */
export function attr(attrs: string, name: string): string | undefined {
  const key = name + "=";
  let at = attrs.indexOf(key);
  while (at >= 0) {
    if (at === 0 || attrs.charCodeAt(at - 1) <= 32) {
      const start = at + key.length + 1;
      const end = attrs.indexOf(attrs[start - 1], start);
      return end < 0 ? undefined : attrs.slice(start, end);
    }
    at = attrs.indexOf(key, at + 1);
  }
  return undefined;
}

/**
 * A TCP relay between the proxy and a server's component port, which the
 * test can tell to stop reading what the proxy sends while the server's
 * side keeps flowing: from the proxy, a server that stops reading. It is a
 * middlebox too: a new connection drops the one before it (both sides),
 * so the server, which holds one stream per component domain, accepts the
 * new stream as soon as the proxy opens it.
 */
import { writeAll } from "./tcp_peer.ts";

/** Bytes read at once. */
const READ_SIZE = 64 * 1024;

/** A relay on a free loopback port; see the module doc. */
export interface StallRelay {
  /** `xmpp://127.0.0.1:<port>`, for the proxy's `server:`. */
  readonly url: string;
  /** Connections accepted so far. */
  readonly connections: number;
  /**
   * From now on, nothing more is read from the current connection's proxy
   * side (a read under way is held, not passed on); the server's side
   * keeps flowing. The next connection is relayed as usual.
   */
  stall(): void;
  /** Closes the listener and every connection. */
  close(): void;
}

/** A relay to the server's component port `port` on 127.0.0.1. */
export function stallRelay(port: number): StallRelay {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const pairs = new Set<Pair>();
  let current: Pair | undefined;
  let connections = 0;
  (async () => {
    for await (const proxySide of listener) {
      connections++;
      current?.drop();
      const pair = current = new Pair(proxySide);
      pairs.add(pair);
      pair.relay(port).catch(() => {}).finally(() => {
        pair.drop();
        pairs.delete(pair);
      });
    }
  })().catch(() => {});
  return {
    url: `xmpp://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    get connections() {
      return connections;
    },
    stall() {
      current?.stall();
    },
    close() {
      try {
        listener.close();
      } catch { /* closed already */ }
      for (const pair of pairs) pair.drop();
    },
  };
}

/** One connection from the proxy and the one it is relayed on to the server. */
class Pair {
  readonly #proxySide: Deno.Conn;
  #serverSide: Deno.Conn | undefined;
  #stalled = false;
  readonly #dropped = Promise.withResolvers<void>();
  #isDropped = false;

  constructor(proxySide: Deno.Conn) {
    this.#proxySide = proxySide;
  }

  stall(): void {
    this.#stalled = true;
  }

  /** Relays both ways until either side ends, or the pair is dropped. */
  async relay(port: number): Promise<void> {
    const serverSide = await Deno.connect({ hostname: "127.0.0.1", port });
    this.#serverSide = serverSide;
    if (this.#isDropped) return closeQuietly(serverSide);
    await Promise.race([
      this.#pump(this.#proxySide, serverSide, () => this.#stalled),
      this.#pump(serverSide, this.#proxySide, () => false),
    ]);
  }

  /** Closes both sides (a read or write under way fails, and its pump ends). */
  drop(): void {
    if (this.#isDropped) return;
    this.#isDropped = true;
    this.#dropped.resolve();
    closeQuietly(this.#proxySide);
    if (this.#serverSide) closeQuietly(this.#serverSide);
  }

  /** Copies `from` to `to`; while `stalled()`, reads nothing and passes nothing on. */
  async #pump(from: Deno.Conn, to: Deno.Conn, stalled: () => boolean): Promise<void> {
    const buffer = new Uint8Array(READ_SIZE);
    try {
      while (!this.#isDropped) {
        if (stalled()) return await this.#dropped.promise;
        const n = await from.read(buffer);
        if (n === null) return;
        if (stalled()) return await this.#dropped.promise;
        await writeAll(to, buffer.subarray(0, n));
      }
    } catch { /* a side closed: the pair ends */ }
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* closed already */ }
}

/**
 * A TCP peer on a free loopback port, for playing the component server
 * the proxy connects to when a real one would not do what the test needs.
 */

const decoder = new TextDecoder();

/** A TCP peer on a free loopback port; `serve` runs for each connection. */
export function peer(
  serve: (conn: Deno.Conn) => Promise<void>,
): { url: string; close: () => void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      serve(conn).catch(() => {}).finally(() => {
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed already */ }
      });
    }
  })().catch(() => {});
  return {
    url: `xmpp://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    close: () => {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed already */ }
      }
    },
  };
}

/** One read from `conn`, decoded (a character cut between reads is not expected here). */
export async function readText(conn: Deno.Conn): Promise<string | undefined> {
  const buf = new Uint8Array(65536);
  const n = await conn.read(buf);
  return n === null ? undefined : decoder.decode(buf.subarray(0, n));
}

/** Writes all of `data` to `conn` (a write may take only part of it). */
export async function writeAll(conn: Deno.Conn, data: string | Uint8Array): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

/** Waits until `done()` holds, for 5 s at most (`what` names it in the failure). */
export async function until(done: () => boolean, what: string, ms = 5_000): Promise<void> {
  const bound = Date.now() + ms;
  while (!done()) {
    if (Date.now() > bound) throw new Error(`not within ${ms / 1000} s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

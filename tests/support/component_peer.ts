/**
 * A component server played by a test, for what a real one would not do
 * (a stanza in the same write as the handshake, a sibling's stanzas), and
 * a link to it that records what reaches its owner.
 */
import {
  type Link,
  type LinkHandlers,
  type LinkOptions,
  openLink,
} from "../../src/link/connection.ts";
import { logger } from "../../src/ops/log.ts";
import { peer, readText, writeAll } from "./tcp_peer.ts";

export const DOMAIN = "proxy.example.org";
export const SECRET = "s3cret";
const encoder = new TextEncoder();

/** The stream header a component server answers with (XEP-0114 §3). */
export function serverHeader(id = "s1", domain = DOMAIN): string {
  return `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' ` +
    `xmlns='jabber:component:accept' id='${id}' from='${domain}'>`;
}

/**
 * A server that accepts the component's stream and handshake, then writes
 * `afterHandshake` in the same write; `written` collects what it read.
 */
export function componentServer(afterHandshake: string, written: string[] = []) {
  return peer(async (conn) => {
    for (let text = await readText(conn); text !== undefined; text = await readText(conn)) {
      written.push(text);
      if (text.includes("<stream:stream")) {
        await conn.write(encoder.encode(
          serverHeader(),
        ));
      }
      if (text.includes("<handshake")) {
        await conn.write(encoder.encode(`<handshake/>${afterHandshake}`));
      }
      if (text.includes("</stream:stream>")) {
        await conn.write(encoder.encode("</stream:stream>"));
        return;
      }
    }
  });
}

/**
 * A link's options for the test domain: `handlers` over ones that do
 * nothing, no keepalive, then `more` over all of it.
 */
export function testLinkOptions(
  url: string,
  handlers: Partial<LinkHandlers> = {},
  more: Partial<LinkOptions> = {},
): LinkOptions {
  return {
    url,
    domain: DOMAIN,
    secret: SECRET,
    log: logger(DOMAIN),
    handlers: { onStanza: () => {}, onOnline: () => {}, onOffline: () => {}, ...handlers },
    keepaliveMs: 0,
    ...more,
  };
}

/** A link opened with {@link testLinkOptions}. */
export function testLink(
  url: string,
  handlers: Partial<LinkHandlers> = {},
  more: Partial<LinkOptions> = {},
): Link {
  return openLink(testLinkOptions(url, handlers, more));
}

/** A link to `url` that notes in `seen` when it is online and each stanza's id. */
export function recordingLink(url: string, seen: string[]): Link {
  return testLink(url, {
    onStanza: (el) => seen.push(`stanza ${el.attrs.id}`),
    onOnline: () => seen.push("online"),
  });
}

/**
 * A component server that accepts the stream (or refuses its handshake with
 * the stream error `refuse`, or says nothing when `silent`), then lets the
 * test write; `read` is what it got.
 */
export function answeringServer(options: { refuse?: string; silent?: boolean } = {}) {
  const read: string[] = [];
  let conn: Deno.Conn | undefined;
  const tcp = peer(async (c) => {
    conn = c;
    for (let text = await readText(c); text !== undefined; text = await readText(c)) {
      read.push(text);
      if (options.silent) continue;
      if (text.includes("<stream:stream")) {
        await writeAll(
          c,
          serverHeader(),
        );
      }
      if (text.includes("<handshake")) {
        await writeAll(
          c,
          options.refuse
            ? `<stream:error><${options.refuse} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>` +
              `</stream:error></stream:stream>`
            : "<handshake/>",
        );
      }
      if (text.includes("</stream:stream>")) {
        await writeAll(c, "</stream:stream>");
        return;
      }
    }
  });
  return {
    url: tcp.url,
    read,
    /** Everything the guest wrote, as one text. */
    text: () => read.join(""),
    write: (text: string) => writeAll(conn!, text),
    close: tcp.close,
  };
}

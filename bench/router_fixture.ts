/**
 * What the router bench (router_bench.ts) runs on: texts byte for byte as
 * Prosody 0.12 sends them to a component, a parser fed as the stream feeds
 * it, and a router, or the whole shell with a fake stream, that knows two
 * resources of the implementing account.
 */
import { parseConfig } from "../src/config/parse.ts";
import type { ProxyConfig } from "../src/config/types.ts";
import type { Link, LinkOptions } from "../src/link/connection.ts";
import { Metrics } from "../src/ops/metrics.ts";
import { Proxy } from "../src/app/proxy.ts";
import { Router } from "../src/core/router.ts";
import { StreamParser } from "../src/link/stream_parser.ts";
import { serialize, type XmlElement } from "../src/core/xml.ts";
import { xmppXmlParser } from "../tests/support/xmpp_xml.ts";

export const DOMAIN = "proxy.localhost";
export const TARGET = "service@localhost";
export const RESOURCES = ["r0", "r1"];
/** Requests in flight per batch, as one requester's window. */
export const WINDOW = 32;
const REQUESTER = "req0@localhost/bench";
const STREAM_HEADER = `<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' ` +
  `xml:lang='en' xmlns:stream='http://etherx.jabber.org/streams' id='bench' from='${DOMAIN}'>`;

export function requestText(id: string): string {
  return `<iq xml:lang='en' id='${id}' to='${DOMAIN}' type='get' from='${REQUESTER}'>` +
    `<ping xmlns='urn:xmpp:ping'/></iq>`;
}

/** A conference request about one of {@link ROOMS} rooms, as Jicofo gets it. */
export function conferenceText(id: string, room: number): string {
  return `<iq xml:lang='en' id='${id}' to='${DOMAIN}' type='set' from='${REQUESTER}'>` +
    `<conference xmlns='http://jitsi.org/protocol/focus' machine-uid='c0ffee' ` +
    `room='room${room}@conference.localhost'><property name='startAudioMuted' value='9'/>` +
    `</conference></iq>`;
}

/** Rooms the conference requests are about: each pinned after its first request. */
export const ROOMS = 1_000;

export function replyText(id: string, resourceJid: string): string {
  return `<iq xml:lang='en' id='${id}' to='${DOMAIN}/${REQUESTER}' type='result' ` +
    `from='${resourceJid}'/>`;
}

export function presenceText(resource: string): string {
  return `<presence xml:lang='en' to='${DOMAIN}' from='${TARGET}/${resource}'/>`;
}

/**
 * A parser fed like the stream's: one header, then stanza after stanza. The
 * proxy's own (src/link/stream_parser.ts) unless `xmpp.js` asks for @xmpp/xml's,
 * which the minimal component uses.
 */
export function streamParser(which: "proxy" | "xmpp.js" = "proxy"): (text: string) => XmlElement {
  const parser = which === "proxy" ? new StreamParser() : xmppXmlParser();
  let last: XmlElement | undefined;
  parser.on("element", (el) => (last = el));
  parser.on("error", (error) => {
    throw error;
  });
  parser.write(STREAM_HEADER);
  return (text) => {
    last = undefined;
    parser.write(text);
    if (!last) throw new Error(`no element from ${text}`);
    return last;
  };
}

/** The proxy's settings with every default, as the config parser gives them. */
function benchConfig(extra: Record<string, unknown> = {}): ProxyConfig {
  const text = JSON.stringify({
    server: "xmpp://127.0.0.1:5347",
    proxies: [{ domain: DOMAIN, secret: "bench", target_address: TARGET, ...extra }],
  });
  const parsed = parseConfig(text, { file: "bench.json" });
  if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
  return parsed.config.proxies[0];
}

export const SETTINGS = benchConfig();
export const AFFINITY_SETTINGS = benchConfig({
  affinity: ["{http://jitsi.org/protocol/focus}conference@room"],
});

export function readyRouter(parse: (text: string) => XmlElement, settings = SETTINGS): Router {
  const router = new Router(settings, {
    random: Math.random,
    randomBits: () => crypto.getRandomValues(new Uint32Array(1))[0],
  });
  router.online(0);
  for (const resource of RESOURCES) router.receive(parse(presenceText(resource)), 0);
  return router;
}

/** A window of request ids, reused once answered. */
export const ids = Array.from({ length: WINDOW }, (_, i) => `b${i}`);
/** Where each step leaves its results, so that none is optimised away. */
export const sink: string[] = new Array(WINDOW * 2);

/**
 * The whole shell: src/app/proxy.ts's Proxy, with metrics, and a fake stream
 * that serialises what it is given. Returns a batch (WINDOW round trips)
 * and the proxy's shutdown.
 */
export function shell(): { batch: (round: number) => void; stop: () => void } {
  const parse = streamParser();
  let handlers: LinkOptions["handlers"] | undefined;
  let lastTo = "";
  // Cast: the Link interface grows as src/link/connection.ts does; the shell
  // only sends through it here.
  const link = {
    online: true,
    state: "online",
    send(stanza: XmlElement) {
      lastTo = stanza.attrs.to!;
      sink[0] = serialize(stanza);
    },
    stop: () => Promise.resolve(),
  } as unknown as Link;
  let clock = 0;
  // With metrics, as src/app/runtime.ts runs every proxy.
  const proxy = new Proxy(SETTINGS, {
    metrics: new Metrics(),
    now: () => clock,
    openLink: (options) => {
      handlers = options.handlers;
      return link;
    },
  });
  const on = handlers!;
  on.onOnline(false);
  for (const resource of RESOURCES) on.onStanza(parse(presenceText(resource)));
  const jids: string[] = new Array(WINDOW);
  const batch = (round: number) => {
    clock = round;
    for (let i = 0; i < WINDOW; i++) {
      on.onStanza(parse(requestText(ids[i])));
      jids[i] = lastTo;
    }
    for (let i = 0; i < WINDOW; i++) on.onStanza(parse(replyText(ids[i], jids[i])));
  };
  return { batch, stop: () => void proxy.shutdown(0).catch(() => {}) };
}

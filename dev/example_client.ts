/**
 * An example implementing client: the bot behind a client-proxy domain.
 *
 * It is an ordinary XMPP client (@xmpp/client). It logs in, sends initial
 * presence, approves the proxy's presence subscription (so the proxy sees
 * its resources) and answers the requests the proxy forwards to it:
 * disco#info, XEP-0199 ping, and any other get, echoed back in a result.
 * It answers the `from` it was given, as every client does: the proxy
 * takes the reply back to the requester.
 *
 *   deno task dev:client --service xmpp://127.0.0.1:5222 --jid service@localhost \
 *     --password PASSWORD --proxy proxy.localhost [--resource example]
 *
 * `deno task dev` runs it against its sandbox; copy it to start a bot
 * (../src/xml.ts is only a typed view of the `xml` that @xmpp/client exports).
 */
import { client as xmppClient } from "@xmpp/client";
import { parseArgs } from "node:util";
import { xml, type XmlElement, type XmlNode } from "../src/xml.ts";

const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
const NS_PING = "urn:xmpp:ping";
const NS_ROSTER = "jabber:iq:roster";
const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

const USAGE =
  `Usage: deno task dev:client --service URL --jid JID --password PASSWORD --proxy DOMAIN
                           [--resource NAME]

  --service   the server's client port, e.g. xmpp://127.0.0.1:5222
  --jid       the implementing account, e.g. service@localhost
  --password  its password
  --proxy     the proxy's component domain: the only one whose presence
              subscription request is approved
  --resource  default: example`;

// ------------------------------------------------------------- the answers

/** What this service says it is (XEP-0030); the proxy passes it on as its own. */
function discoInfo(node: string | undefined): XmlElement {
  return xml(
    "query",
    { xmlns: NS_DISCO_INFO, node },
    xml("identity", {
      category: "component",
      type: "generic",
      name: "client-proxy example service",
    }),
    xml("feature", { var: NS_DISCO_INFO }),
    xml("feature", { var: NS_PING }),
  );
}

/** The reply to one request (an iq get or set) to the account `self`. */
function answer(iq: XmlElement, self: string): XmlElement {
  const payload = iq.children.find((child): child is XmlElement => typeof child !== "string");
  if (iq.attrs.type === "get") {
    if (payload?.is("query", NS_DISCO_INFO)) return result(iq, discoInfo(payload.attrs.node));
    if (payload?.is("ping", NS_PING)) return result(iq);
    // Anything else: echo the payload, so any request can be tried out.
    return payload ? result(iq, payload) : result(iq);
  }
  // The server tells us that our roster changed (RFC 6121 §2.1.6), e.g.
  // once we approved the proxy: acknowledge it.
  const fromServer = iq.attrs.from === undefined || bare(iq.attrs.from) === self;
  if (fromServer && payload?.is("query", NS_ROSTER)) return result(iq);
  // Any other set changes something; this example has nothing to change.
  return xml(
    "iq",
    { type: "error", id: iq.attrs.id, to: iq.attrs.from },
    xml("error", { type: "cancel" }, xml("feature-not-implemented", { xmlns: NS_STANZAS })),
  );
}

/** A result to the requester's address as we received it (the proxy's translated one). */
function result(iq: XmlElement, ...children: XmlNode[]): XmlElement {
  return xml("iq", { type: "result", id: iq.attrs.id, to: iq.attrs.from }, ...children);
}

function isRequest(el: XmlElement): boolean {
  return el.name === "iq" && (el.attrs.type === "get" || el.attrs.type === "set");
}

function bare(jid: string | undefined): string {
  return (jid ?? "").split("/")[0].toLowerCase();
}

// ------------------------------------------- the part of xmpp.js used here

/** @xmpp/client ships no types: the few members this file uses. */
interface XmppClient {
  start(): Promise<unknown>;
  stop(): Promise<unknown>;
  send(el: XmlElement): Promise<void>;
  iqCaller: { get(child: XmlElement): Promise<XmlElement> };
  jid: { toString(): string } | null;
  socket: { setEncoding(encoding: "utf8"): void } | null;
  on(event: "online", listener: () => void): void;
  on(event: "offline" | "disconnect" | "connect", listener: () => void): void;
  on(event: "element" | "stanza", listener: (el: XmlElement) => void): void;
  on(event: "error", listener: (error: Error) => void): void;
  listeners(event: "element"): ((el: XmlElement) => void)[];
  removeListener(event: "element", listener: (el: XmlElement) => void): void;
}

type Authenticate = (
  credentials: { username: string; password: string },
  mechanism: string,
) => Promise<void>;

const createClient = xmppClient as unknown as (options: {
  service: string;
  domain: string;
  resource: string;
  credentials: (authenticate: Authenticate, mechanisms: string[]) => Promise<void>;
}) => XmppClient;

// -------------------------------------------------------------------- main

interface Options {
  service: string;
  jid: string;
  password: string;
  proxy: string;
  resource: string;
}

function parseOptions(args: string[]): Options | string {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      options: {
        service: { type: "string" },
        jid: { type: "string" },
        password: { type: "string" },
        proxy: { type: "string" },
        resource: { type: "string", default: "example" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  if (values.help) return "";
  const { service, jid, password, proxy, resource } = values;
  if (!service || !jid || !password || !proxy) {
    return "--service, --jid, --password and --proxy are required";
  }
  if (!jid.includes("@") || jid.includes("/")) return `--jid: expected a bare JID, got ${jid}`;
  return { service, jid, password, proxy: proxy.toLowerCase(), resource };
}

async function main(args: string[]): Promise<number> {
  const options = parseOptions(args);
  if (typeof options === "string") {
    console.error(options ? `example client: ${options}\n\n${USAGE}` : USAGE);
    return options ? 2 : 0;
  }
  const [username, domain] = options.jid.split("@");
  const xmpp = createClient({
    service: options.service,
    domain,
    resource: options.resource,
    // PLAIN when offered: xmpp.js would otherwise pick SCRAM-SHA-1, which
    // is slow. Use it only over TLS or on a loopback test server.
    credentials: (authenticate, mechanisms) =>
      authenticate(
        { username, password: options.password },
        mechanisms.includes("PLAIN") ? "PLAIN" : mechanisms[0],
      ),
  });
  // xmpp.js decodes each socket read on its own: a character cut between
  // two reads would arrive as two U+FFFD (the sandbox has no TLS, so the
  // socket of "connect" is the one that stays).
  xmpp.on("connect", () => xmpp.socket?.setEncoding("utf8"));

  // xmpp.js answers some requests by itself (pings; `service-unavailable`
  // for any without a route), before routes we could add. So every request
  // comes here instead, and everything else (login, the replies to our own
  // requests) still goes to xmpp.js. (With XEP-0198 stream management on,
  // xmpp.js no longer counts these requests in its acks.)
  const [xmppJs] = xmpp.listeners("element");
  xmpp.removeListener("element", xmppJs);
  xmpp.on("element", (el) => {
    if (!isRequest(el)) return xmppJs(el);
    const reply = answer(el, options.jid.toLowerCase());
    const from = el.attrs.from ?? "the server";
    console.log(`${el.attrs.type} from ${from} (id ${el.attrs.id}): ${reply.attrs.type}`);
    xmpp.send(reply).catch((error) => console.error("send failed:", error.message));
  });

  xmpp.on("stanza", (el) => {
    if (el.name !== "presence" || el.attrs.type !== "subscribe") return;
    // The proxy asks once; approve it, and no one else.
    const from = bare(el.attrs.from);
    const type = from === options.proxy ? "subscribed" : "unsubscribed";
    console.log(`subscription request from ${from}: ${type}`);
    xmpp.send(xml("presence", { type, to: from })).catch(() => {});
  });

  xmpp.on("online", async () => {
    try {
      // As real clients do: fetch the roster before initial presence, or the
      // server does not pass on subscription requests that come later.
      await xmpp.iqCaller.get(xml("query", { xmlns: NS_ROSTER }));
      // Without initial presence the server holds the proxy's request back.
      await xmpp.send(xml("presence"));
      console.log(`online as ${xmpp.jid}, serving ${options.proxy}`);
    } catch (error) {
      console.error("could not go online:", error instanceof Error ? error.message : error);
    }
  });
  xmpp.on("offline", () => console.log("offline"));
  let stopping = false;
  // Once stopping (Ctrl-C in the sandbox stops the server too), a failed
  // goodbye is expected, not news.
  xmpp.on("error", (error) => stopping || console.error("xmpp error:", error.message));

  const stopped = new Promise<void>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(signal, () => resolve(void (stopping = true)));
    }
  });
  try {
    await xmpp.start();
  } catch (error) {
    console.error(
      `cannot log in as ${options.jid} via ${options.service}:`,
      error instanceof Error ? error.message : error,
    );
    return 1;
  }
  await stopped;
  // Unavailable presence and a closed stream; bounded, as a peer may not answer.
  await Promise.race([xmpp.stop().catch(() => {}), new Promise((r) => setTimeout(r, 3_000))]);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

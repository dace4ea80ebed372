// echo_bot.ts: a bot at a client-proxy domain, run by a plain account. As many copies as you like
// (one resource each). The proxy's config: messages: forward, presence: true and, for "ping",
// allow_target_requests: true.
//   BOT_SERVICE=xmpp://localhost:5222 BOT_JID=bot@example.org BOT_PASSWORD=… \
//   BOT_PROXY=bot.example.org deno run --allow-net --allow-env echo_bot.ts
// deno-lint-ignore no-import-prefix -- a file to copy: it must not need this repo's deno.json
import { client, xml } from "npm:@xmpp/client@0.14.0";

/** What the bot reads of a stanza (@xmpp/client ships no types). */
interface Stanza {
  attrs: Record<string, string | undefined>;
  is(name: string): boolean;
  getChildText(name: string): string | null;
}

const env = (name: string, fallback = "") => Deno.env.get(name) || fallback;
const password = env("BOT_PASSWORD");
if (!password) {
  console.error("echo bot: set BOT_PASSWORD (and BOT_SERVICE, BOT_JID, BOT_PROXY)");
  Deno.exit(2);
}
const service = env("BOT_SERVICE", "xmpp://localhost:5222");
const account = env("BOT_JID", "bot@example.org");
const proxy = env("BOT_PROXY", "bot.example.org").toLowerCase();
const [username, domain] = account.split("@");
const resource = Deno.env.get("BOT_RESOURCE"); // default: the server picks one
const bot = client({ service, domain, username, password, resource });
const say = (error: unknown) => console.error(`echo bot: ${(error as Error)?.message ?? error}`);

// Users reach us through the proxy, from <proxy>/<their JID>: the proxy has checked allow/deny
// and rate limits. Anyone writing to the account itself has not: they get nothing.
const viaProxy = (from?: string): from is string =>
  from?.toLowerCase().startsWith(`${proxy}/`) ?? false;

// The domain's identity: the proxy forwards disco#info to us; our answer goes back to the user.
bot.iqCallee.get("http://jabber.org/protocol/disco#info", "query", (ctx: { stanza: Stanza }) => {
  if (!viaProxy(ctx.stanza.attrs.from)) return; // nothing returned: service-unavailable
  return xml(
    "query",
    { xmlns: "http://jabber.org/protocol/disco#info" },
    xml("identity", { category: "client", type: "bot", name: "Echo bot" }),
    xml("feature", { var: "http://jabber.org/protocol/disco#info" }),
    xml("feature", { var: "urn:xmpp:ping" }),
  );
});
// The server tells us when our roster changes (the proxy approved, say): acknowledge it.
bot.iqCallee.set("jabber:iq:roster", "query", (ctx: { stanza: Stanza }) => {
  const from = ctx.stanza.attrs.from;
  if (from === undefined || from.toLowerCase() === account.toLowerCase()) return {};
});

bot.on("stanza", async (stanza: Stanza) => {
  const { from, type } = stanza.attrs;
  if (stanza.is("presence") && type === "subscribe") {
    // The proxy asks once, to see our resources: approve it, and nobody else.
    const answer = from?.toLowerCase() === proxy ? "subscribed" : "unsubscribed";
    await bot.send(xml("presence", { to: from, type: answer })).catch(say);
  } else if (stanza.is("message") && type !== "error" && viaProxy(from)) {
    const body = stanza.getChildText("body");
    if (body === null) return; // chat states, receipts: nothing to answer
    const text = body.trim() === "ping" ? await pingBack(from) : `echo: ${body}`;
    await bot.send(xml("message", { to: from, type: "chat" }, xml("body", {}, text))).catch(say);
  }
});

// The bot asks the user something: a request to <proxy>/<user's JID> reaches the user from the
// proxy's domain, and the answer comes back here (allow_target_requests).
async function pingBack(user: string): Promise<string> {
  const start = performance.now();
  const ping = xml("iq", { type: "get", to: user }, xml("ping", { xmlns: "urn:xmpp:ping" }));
  try {
    await bot.iqCaller.request(ping, 10_000);
    return `pong: your client answered in ${Math.round(performance.now() - start)} ms`;
  } catch (error) {
    return `ping failed: ${error instanceof Error ? error.message : error}`;
  }
}

let started = false;
bot.on("online", async () => {
  try {
    // Fetch the roster before initial presence, as clients do: the server then hands us the
    // proxy's subscription request while we are online.
    await bot.iqCaller.request(
      xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" })),
    );
    await bot.send(xml("presence"));
    console.log(`online as ${bot.jid}, serving ${proxy}`);
  } catch (error) {
    say(error);
  }
});
// Until start() below has succeeded, it says what went wrong.
bot.on("error", (error: Error) => started && say(error));
let stopping = false;
// xmpp.js 0.14 throws from its socket when data arrives after the server closed the stream, as
// it may while we stop: nothing is lost then, and the exit below is ours to make.
globalThis.addEventListener("error", (event) => {
  if (stopping) event.preventDefault();
});
const signals = Deno.build.os === "windows" ? ["SIGINT"] as const : ["SIGINT", "SIGTERM"] as const;
for (const signal of signals) {
  Deno.addSignalListener(signal, () => {
    started = false;
    stopping = true;
    // Close the stream (the server then tells the proxy we are gone); bounded.
    const bye = Promise.race([bot.stop(), new Promise((r) => setTimeout(r, 3_000))]);
    bye.catch(() => {}).finally(() => Deno.exit(0));
  });
}
try {
  await bot.start();
  started = true;
} catch (error) {
  say(`cannot log in as ${account} via ${service}: ${(error as Error)?.message ?? error}`);
  Deno.exit(1);
}

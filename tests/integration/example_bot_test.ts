/**
 * The worked example of docs/beyond.md, examples/echo_bot.ts, run as its header says
 * against a real Prosody and the proxy with the three opt-in features on:
 * what a user of the bot sees, and what someone going past the proxy gets.
 */
import assert from "node:assert/strict";
import { resultFor } from "../support/client.ts";
import { killTree } from "../support/process_tree.ts";
import { DOMAIN, TARGET, withWorld, type World } from "../support/world.ts";
import { xml, type XmlElement } from "../../src/core/xml.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const BOT = "examples/echo_bot.ts";
const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
const NS_PING = "urn:xmpp:ping";
const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

Deno.test("docs/beyond.md's worked example is examples/echo_bot.ts, word for word", async () => {
  const doc = await Deno.readTextFile(`${ROOT}docs/beyond.md`);
  const bot = await Deno.readTextFile(`${ROOT}${BOT}`);
  const from = doc.indexOf("A worked example:");
  const start = doc.indexOf("```ts\n", from) + "```ts\n".length;
  const end = doc.indexOf("```\n", start);
  assert.ok(from > 0 && start > from && end > start, "the worked example's code block");
  assert.equal(doc.slice(start, end), bot);
});

Deno.test("the bot without BOT_PASSWORD: says which variables it needs, exit 2", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", BOT],
    cwd: ROOT,
    env: { BOT_PASSWORD: "" },
    stdin: "null",
    signal: AbortSignal.timeout(30_000),
  }).output();
  assert.equal(output.code, 2);
  assert.equal(
    new TextDecoder().decode(output.stderr),
    "echo bot: set BOT_PASSWORD (and BOT_SERVICE, BOT_JID, BOT_PROXY)\n",
  );
});

/** Starts the bot as `service`; resolves with its full JID once the proxy sees it. */
async function startBot(world: World): Promise<{ jid: string; stop: () => Promise<void> }> {
  const seen = world.proxy.lineCount();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", BOT],
    cwd: ROOT,
    env: {
      BOT_SERVICE: world.server.c2sUrl,
      BOT_JID: TARGET,
      BOT_PASSWORD: "pw",
      BOT_PROXY: DOMAIN,
    },
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* gone already */ }
    const timer = setTimeout(() => killTree(child.pid), 5_000);
    const { code } = await child.status;
    clearTimeout(timer);
    // It closes its stream and exits 0 (not with an error from xmpp.js as it stops).
    assert.equal(code, 0);
  };
  try {
    const line = await world.proxy.waitForLog(/target\.resource_up /, {
      after: seen,
      timeoutMs: 30_000,
    });
    const resource = line.match(/resource=(\S+)/)?.[1];
    assert.ok(resource, line);
    return { jid: `${TARGET}/${resource}`, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

const isChat = (el: XmlElement) => el.name === "message" && el.getChild("body") !== undefined;

withWorld(
  "the echo bot: its identity, echoes, a ping back through the proxy, its presence; nothing past the proxy",
  async (world) => {
    const bot = await startBot(world);
    try {
      // As a real client: its roster fetched, so Prosody hands it subscription answers.
      const alice = await world.rosterClient("alice", "phone");
      alice.onRequest((iq) => iq.getChild("ping", NS_PING) ? resultFor(iq) : undefined);

      const disco = await alice.request(
        xml("iq", { type: "get", to: DOMAIN }, xml("query", { xmlns: NS_DISCO_INFO })),
      );
      assert.equal(disco.attrs.type, "result", String(disco));
      assert.equal(disco.attrs.from, DOMAIN);
      const identity = disco.getChild("query", NS_DISCO_INFO)?.getChild("identity");
      assert.deepEqual(identity?.attrs, { category: "client", type: "bot", name: "Echo bot" });

      await alice.send(xml("message", { type: "chat", to: DOMAIN }, xml("body", {}, "hi")));
      const echo = await alice.waitFor(isChat, { includePast: true });
      assert.equal(echo.attrs.from, DOMAIN);
      assert.equal(echo.attrs.to, "alice@localhost/phone");
      assert.equal(echo.attrs.type, "chat");
      assert.equal(echo.getChildText("body"), "echo: hi");

      await alice.send(xml("message", { type: "chat", to: DOMAIN }, xml("body", {}, "ping")));
      const asked = await alice.waitFor(
        (el) => el.name === "iq" && !!el.getChild("ping", NS_PING),
        { includePast: true },
      );
      assert.equal(asked.attrs.type, "get");
      assert.equal(asked.attrs.from, DOMAIN, "the bot's request comes from the domain");
      const pong = await alice.waitFor((el) => isChat(el) && el !== echo, { includePast: true });
      assert.match(pong.getChildText("body") ?? "", /^pong: your client answered in \d+ ms$/);

      await alice.send(xml("presence", { type: "subscribe", to: DOMAIN }));
      const subscribed = await alice.waitFor(
        (el) => el.name === "presence" && el.attrs.type === "subscribed",
        { includePast: true },
      );
      assert.equal(subscribed.attrs.from, DOMAIN);
      const available = await alice.waitFor(
        (el) => el.name === "presence" && el.attrs.from === DOMAIN && el.attrs.type === undefined,
        { includePast: true },
      );
      assert.equal(available.attrs.to, "alice@localhost");

      // Bob writes to the bot's account itself, past the proxy: nothing served.
      const bob = await world.rosterClient("bob", "pc");
      const direct = await bob.request(
        xml("iq", { type: "get", to: bot.jid }, xml("query", { xmlns: NS_DISCO_INFO })),
      );
      assert.equal(direct.attrs.type, "error", String(direct));
      assert.ok(direct.getChild("error")?.getChild("service-unavailable", NS_STANZAS));
      await bob.send(xml("presence", { type: "subscribe", to: TARGET }));
      const refused = await bob.waitFor(
        (el) =>
          el.name === "presence" && el.attrs.from?.startsWith(TARGET) === true &&
          (el.attrs.type === "unsubscribed" || el.attrs.type === "subscribed"),
        { includePast: true },
      );
      assert.equal(refused.attrs.type, "unsubscribed");
    } finally {
      await bot.stop();
    }
  },
  {
    entry: { messages: "forward", presence: true, allow_target_requests: true },
    // Relative to the proxy's config file: its own temp dir, removed with it.
    top: { state_dir: "." },
  },
);

/**
 * `deno task dev:request`: one request (or message) through the sandbox's proxy.
 *
 * Reads `.sandbox.json` (written by a running `deno task dev`), logs in as
 * the requester (alice), sends a disco#info get (or, with `--ping`, a
 * XEP-0199 ping; with `--message TEXT`, a chat message) to the proxy's
 * domain, and prints what was sent and what came back as XML. While it
 * waits, alice answers pings (the example bot's "ping" asks her one).
 * Exit code: 0 for a result (or a message back), 1 for an error, a timeout
 * or no sandbox, 2 for a usage error.
 */
import { taskArgs } from "../deploy/task_args.ts";
import { parseDuration } from "../src/config/duration.ts";
import { xml, type XmlElement } from "../src/core/xml.ts";
import { connectClient, errorFor, resultFor, type TestClient } from "../tests/support/client.ts";
import { readSandboxInfo } from "./sandbox_info.ts";

const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
const NS_PING = "urn:xmpp:ping";

const USAGE =
  `Usage: deno task dev:request [--ping | --message TEXT] [--to JID] [--timeout DURATION]

Sends a disco#info get (--ping: a ping; --message: a chat message) from
alice to the sandbox's proxy domain (--to: another address) and prints the
request and the reply (for a message: the first message back, or its error).
--timeout: how long to wait for the reply (default 10s).`;

/** An element as indented XML: one element per line, text kept inline. */
export function pretty(el: XmlElement, indent = ""): string {
  const elements = el.children.filter((child): child is XmlElement => typeof child !== "string");
  const text = el.children.some((child) => typeof child === "string" && child.trim() !== "");
  // Mixed content or text only: as it is, so no whitespace is added to it.
  if (elements.length === 0 || text) return indent + el.toString();
  const open = xml(el.name, el.attrs).toString().replace(/\/>$/, ">");
  return [
    indent + open,
    ...elements.map((child) => pretty(child, indent + "  ")),
    `${indent}</${el.name}>`,
  ].join("\n");
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function main(args: string[]): Promise<number> {
  const parsed = taskArgs("dev:request", args, {
    usage: USAGE,
    options: {
      ping: { type: "boolean" },
      message: { type: "string" },
      to: { type: "string" },
      timeout: { type: "string", default: "10s" },
      help: { type: "boolean", short: "h" },
    },
  });
  if ("exit" in parsed) return parsed.exit;
  const { values } = parsed;
  const timeoutMs = parseDuration(values.timeout);
  if (timeoutMs === undefined || timeoutMs <= 0) {
    console.error(`dev:request: --timeout: expected a duration like 5s, got ${values.timeout}`);
    return 2;
  }

  let sandbox;
  try {
    sandbox = readSandboxInfo();
  } catch (error) {
    console.error(`dev:request: ${message(error)}`);
    return 1;
  }
  const [username, domain] = sandbox.requester.jid.split("@");
  let xmpp: TestClient;
  try {
    // The tests' client: one login attempt (SASL PLAIN: the sandbox's Prosody
    // allows it without TLS), no presence, nothing answered automatically.
    xmpp = await connectClient({
      service: sandbox.service,
      domain,
      username,
      password: sandbox.requester.password,
      resource: "request",
      presence: false,
    });
  } catch (error) {
    console.error(
      `dev:request: cannot log in as ${sandbox.requester.jid} via ${sandbox.service}: ` +
        `${message(error)} (is \`deno task dev\` still running?)`,
    );
    return 1;
  }
  const id = `dev-${Date.now().toString(36)}`;
  const to = values.to ?? sandbox.component;
  // What the implementing client asks alice through the proxy: pings are
  // answered, anything else refused (alice is no service).
  xmpp.onRequest((iq) => {
    const ping = iq.getChild("ping", NS_PING) !== undefined;
    console.log(`asked, and ${ping ? "answered" : "refused"}:\n${pretty(iq, "  ")}\n`);
    return ping ? resultFor(iq) : errorFor(iq, "cancel", "service-unavailable");
  });
  try {
    if (values.message !== undefined) {
      const chat = xml("message", { type: "chat", id, to }, xml("body", {}, values.message));
      const back = xmpp.waitFor(
        (el) =>
          el.name === "message" && (el.getChild("body") !== undefined || el.attrs.type === "error"),
        { timeoutMs },
      ).catch(() => undefined);
      await xmpp.send(chat);
      console.log(`sent, as ${xmpp.jid}:\n${pretty(chat, "  ")}\n`);
      const reply = await back;
      if (!reply) {
        console.log(`no message back within ${values.timeout}`);
        return 1;
      }
      console.log(`received:\n${pretty(reply, "  ")}`);
      return reply.attrs.type === "error" ? 1 : 0;
    }
    const request = xml(
      "iq",
      { type: "get", id, to },
      values.ping ? xml("ping", { xmlns: NS_PING }) : xml("query", { xmlns: NS_DISCO_INFO }),
    );
    const sentAt = performance.now();
    const answer = xmpp.request(request, { timeoutMs }).catch(() => undefined);
    console.log(`sent, as ${xmpp.jid}:\n${pretty(request, "  ")}\n`);
    const reply = await answer;
    if (!reply) {
      console.log(`no reply within ${values.timeout}`);
      return 1;
    }
    const ms = Math.round(performance.now() - sentAt);
    console.log(`received ${reply.attrs.type}, after ${ms} ms:\n${pretty(reply, "  ")}`);
    return reply.attrs.type === "result" ? 0 : 1;
  } finally {
    await xmpp.stop();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));

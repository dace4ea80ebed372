/**
 * `deno task dev:request`: one request through the sandbox's proxy.
 *
 * Reads `.sandbox.json` (written by a running `deno task dev`), logs in as
 * the requester (alice), sends a disco#info get (or, with `--ping`, a
 * XEP-0199 ping) to the proxy's domain, and prints the request and the
 * reply as XML. Exit code: 0 for a result, 1 for an error reply, a timeout
 * or no sandbox, 2 for a usage error.
 */
import { client as xmppClient } from "@xmpp/client";
import { parseArgs } from "node:util";
import { parseDuration } from "../src/duration.ts";
import { xml, type XmlElement } from "../src/xml.ts";
import { readSandboxInfo } from "./sandbox.ts";

const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
const NS_PING = "urn:xmpp:ping";
const STOP_TIMEOUT_MS = 2_000;

const USAGE = `Usage: deno task dev:request [--ping] [--to JID] [--timeout DURATION]

Sends a disco#info get (--ping: a ping) from alice to the sandbox's proxy
domain (--to: another address) and prints the request and the reply.
--timeout: how long to wait for the reply (default 10s).`;

/** @xmpp/client ships no types: the few members this file uses. */
interface XmppClient {
  start(): Promise<unknown>;
  stop(): Promise<unknown>;
  send(el: XmlElement): Promise<void>;
  reconnect: { stop(): void };
  jid: { toString(): string } | null;
  on(event: "stanza", listener: (el: XmlElement) => void): void;
  on(event: "error", listener: (error: Error) => void): void;
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
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      options: {
        ping: { type: "boolean" },
        to: { type: "string" },
        timeout: { type: "string", default: "10s" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    console.error(`dev:request: ${message(error)}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
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
  const xmpp = createClient({
    service: sandbox.service,
    domain,
    resource: "request",
    // PLAIN: the sandbox's Prosody allows it without TLS, and SCRAM is slow.
    credentials: (authenticate, mechanisms) =>
      authenticate(
        { username, password: sandbox.requester.password },
        mechanisms.includes("PLAIN") ? "PLAIN" : mechanisms[0],
      ),
  });
  xmpp.reconnect.stop(); // one attempt: a failure is reported, not retried
  xmpp.on("error", () => {}); // start() rejects with the same error

  const id = `dev-${Date.now().toString(36)}`;
  const request = xml(
    "iq",
    { type: "get", id, to: values.to ?? sandbox.component },
    values.ping ? xml("ping", { xmlns: NS_PING }) : xml("query", { xmlns: NS_DISCO_INFO }),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const reply = new Promise<XmlElement | undefined>((resolve) => {
    xmpp.on("stanza", (el) => {
      const type = el.attrs.type;
      if (el.name === "iq" && el.attrs.id === id && (type === "result" || type === "error")) {
        resolve(el);
      }
    });
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });

  try {
    try {
      await xmpp.start();
    } catch (error) {
      console.error(
        `dev:request: cannot log in as ${sandbox.requester.jid} via ${sandbox.service}: ` +
          `${message(error)} (is \`deno task dev\` still running?)`,
      );
      return 1;
    }
    const sentAt = performance.now();
    await xmpp.send(request);
    console.log(`sent, as ${xmpp.jid}:\n${pretty(request, "  ")}\n`);
    const answer = await reply;
    if (!answer) {
      console.log(`no reply within ${values.timeout}`);
      return 1;
    }
    const ms = Math.round(performance.now() - sentAt);
    console.log(`received ${answer.attrs.type}, after ${ms} ms:\n${pretty(answer, "  ")}`);
    return answer.attrs.type === "result" ? 0 : 1;
  } finally {
    clearTimeout(timer);
    await Promise.race([
      xmpp.stop().catch(() => {}),
      new Promise((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS)),
    ]);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));

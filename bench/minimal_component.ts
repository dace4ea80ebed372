/**
 * The benchmark's yardstick: the least a JAT component can do, with the
 * same wire behaviour as the proxy on the happy path and nothing else.
 *
 * - A get/set to the bare domain goes to the next available resource of
 *   the target (round-robin), same id, from `<domain>/<requester full JID>`.
 * - A result/error to `<domain>/<jid>` goes to `<jid>`, from the bare domain.
 * - Resources are learnt from presence; `subscribe` is sent once online.
 *
 * No timeouts, no pending table, no checks, no error replies, no logging
 * per stanza. Built on `@xmpp/component-core` like src/link/connection.ts (so
 * the same parser and serialiser), with no automatic IQ answering.
 *
 * deno run -A bench/minimal_component.ts SERVER DOMAIN SECRET TARGET
 */
import { Component } from "@xmpp/component-core";
import type { XmlElement } from "../src/core/xml.ts";

interface Entity {
  on(event: "open" | "stanza", listener: (el: XmlElement) => void): void;
  on(event: "online", listener: () => void): void;
  on(event: "error", listener: (error: Error) => void): void;
  start(): Promise<unknown>;
  stop(): Promise<unknown>;
  authenticate(id: string, secret: string): Promise<void>;
  write(text: string): Promise<void>;
}

const [server, domain, secret, target] = Deno.args;
if (!target) {
  console.error("usage: minimal_component.ts SERVER DOMAIN SECRET TARGET");
  Deno.exit(2);
}

const resources: string[] = [];
let turn = 0;
const entity = new Component({ service: server, domain }) as unknown as Entity;

function say(line: string): void {
  console.error(`minimal ${line}`);
}

function send(el: XmlElement): void {
  entity.write(el.toString()).catch(() => {});
}

entity.on("error", (error) => say(`error ${error.message}`));
entity.on("open", (el) => {
  entity.authenticate(el.attrs.id ?? "", secret).catch((error) => say(`error ${String(error)}`));
});
entity.on("online", () => {
  say("stream.online");
  entity.write(`<presence type='subscribe' to='${target}' from='${domain}'/>`);
});
entity.on("stanza", (el) => {
  const { from, to, type } = el.attrs;
  if (from === undefined || to === undefined) return;
  if (el.name === "iq") {
    const slash = to.indexOf("/");
    if ((type === "get" || type === "set") && slash < 0 && resources.length > 0) {
      el.attrs.xmlns = undefined;
      el.attrs.to = resources[turn++ % resources.length];
      el.attrs.from = `${domain}/${from}`;
      send(el);
    } else if ((type === "result" || type === "error") && slash >= 0) {
      el.attrs.xmlns = undefined;
      el.attrs.to = to.slice(slash + 1);
      el.attrs.from = domain;
      send(el);
    }
  } else if (el.name === "presence" && from.startsWith(`${target}/`)) {
    const known = resources.indexOf(from);
    if (type === undefined && known < 0) {
      resources.push(from);
      say(`resource_up resource=${from} available=${resources.length}`);
    } else if (type === "unavailable" && known >= 0) {
      resources.splice(known, 1);
      say(`resource_down resource=${from} available=${resources.length}`);
    }
  }
});

Deno.addSignalListener("SIGTERM", () => {
  Promise.race([entity.stop(), new Promise((r) => setTimeout(r, 1_000))])
    .finally(() => Deno.exit(0));
});
await entity.start();

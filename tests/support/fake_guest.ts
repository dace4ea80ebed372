/**
 * A guest stream (src/link/guest.ts) without a server, for the live
 * check's tests: the test's script plays the server, answering what the
 * check sends, and says whether an instance serves beside the guest.
 */
import type { Guest, GuestHandlers, GuestOptions } from "../../src/link/guest.ts";
import { parseXml, type XmlElement } from "../../src/core/xml.ts";

export const DOMAIN = "proxy.example.org";
export const TARGET = "service@example.org";
export const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";

/** Plays the server: given a stanza the check sent, `reply` delivers stanzas to the check. */
export type Script = (sent: XmlElement, reply: (stanza: string) => void) => void;

/** A guest whose server is a {@link Script}. */
export class FakeGuest implements Guest {
  readonly sent: XmlElement[] = [];
  options!: GuestOptions;
  handlers!: GuestHandlers;
  passedOn = 0;
  lostAtClose = 0;
  readonly siblings = new Map<string, number>();
  readonly strangers = new Map<string, number>();
  closed = false;
  readonly look: Promise<boolean>;
  readonly ended: Promise<string | undefined>;
  end: (reason: string | undefined) => void = () => {};
  readonly #script: Script;
  #beside: boolean;

  /** `beside`: an instance serves beside the guest (what is not the check's is passed on). */
  constructor(script: Script, options: { beside?: boolean } = {}) {
    this.#script = script;
    this.#beside = options.beside ?? false;
    this.look = Promise.resolve(this.#beside);
    this.ended = new Promise((resolve) => (this.end = resolve));
  }

  get beside(): boolean {
    return this.#beside;
  }

  /** A sibling shows itself only now, after the look. */
  showSibling(): void {
    this.#beside = true;
  }

  /** Stands for openGuest. */
  open = (options: GuestOptions): Promise<Guest> => {
    this.options = options;
    this.handlers = options.handlers;
    return Promise.resolve(this);
  };

  send(stanza: XmlElement): void {
    if (this.closed) return;
    this.sent.push(stanza);
    this.#script(stanza, (text) => setTimeout(() => this.deliver(text), 0));
  }

  /** A stanza from the server: the check's, passed on, or an orphan. */
  deliver(text: string): void {
    const stanza = parseXml(text);
    if (this.handlers.onStanza(stanza)) return;
    if (this.#beside) this.passedOn++;
    else this.handlers.onOrphan(stanza);
  }

  close(): Promise<void> {
    this.closed = true;
    this.end(undefined);
    return Promise.resolve();
  }
}

/** What the server and the implementing account do in {@link accountScript}. */
export interface Account {
  /** Approves the subscription. Default: true. */
  readonly approves?: boolean;
  /** Answers `unsubscribed` instead. Default: false. */
  readonly refuses?: boolean;
  /** Online resources. Default: ["a"]. */
  readonly resources?: readonly string[];
  /** Those of them that say `<show>dnd</show>`. Default: none. */
  readonly dnd?: readonly string[];
  /** How each resource answers disco#info. Default: a result. */
  readonly disco?: "result" | "error" | "silent";
  /** The answers to drop, by kind: as if they went to an instance beside the check. */
  readonly drop?: { subscribed?: number; presence?: number; disco?: number };
}

/** A server with the implementing account `TARGET`, as Prosody or ejabberd answers. */
export function accountScript(account: Account = {}): Script {
  const resources = account.resources ?? ["a"];
  const drops = { subscribed: 0, presence: 0, disco: 0, ...account.drop };
  const pass = (kind: keyof typeof drops) => drops[kind]-- <= 0;
  const available = (reply: (text: string) => void) => {
    for (const name of resources) {
      const show = account.dnd?.includes(name) ? "<show>dnd</show>" : "";
      if (pass("presence")) {
        reply(`<presence from='${TARGET}/${name}' to='${DOMAIN}'>${show}</presence>`);
      }
    }
  };
  return (sent, reply) => {
    const { type, id, to, from } = sent.attrs;
    if (sent.name === "presence" && type === "subscribe") {
      if (account.refuses) reply(`<presence type='unsubscribed' from='${TARGET}' to='${DOMAIN}'/>`);
      else if (account.approves ?? true) {
        if (pass("subscribed")) {
          reply(`<presence type='subscribed' from='${TARGET}' to='${DOMAIN}'/>`);
        }
      }
    } else if (sent.name === "presence" && type === "probe") available(reply);
    else if (sent.name === "iq" && type === "get" && sent.getChild("query", NS_DISCO_INFO)) {
      const answer = account.disco ?? "result";
      if (answer === "silent" || !pass("disco")) return;
      reply(
        answer === "result"
          ? `<iq type='result' id='${id}' from='${to}' to='${from}'><query xmlns='${NS_DISCO_INFO}'>` +
            `<identity category='client' type='bot' name='Echo'/><feature var='${NS_DISCO_INFO}'/>` +
            `<feature var='urn:xmpp:ping'/></query></iq>`
          : `<iq type='error' id='${id}' from='${to}' to='${from}'><error type='cancel'>` +
            `<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
      );
    }
  };
}

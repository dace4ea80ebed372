/**
 * The shell around the router (src/app/proxy.ts) on a fake stream, for unit
 * tests: the test plays the server and reads what the proxy writes.
 */
import { parseConfig } from "../../src/config/parse.ts";
import type { ProxyConfig } from "../../src/config/types.ts";
import type {
  Link,
  LinkHandlers,
  LinkOptions,
  LinkState,
  LinkTimings,
} from "../../src/link/connection.ts";
import type { Metrics } from "../../src/ops/metrics.ts";
import { Proxy } from "../../src/app/proxy.ts";
import type { SubscriberStore } from "../../src/ops/subscribers.ts";
import type { PinStore } from "../../src/ops/pins.ts";
import { parseXml, serialize, type XmlElement } from "../../src/core/xml.ts";

export const DOMAIN = "proxy.example.org";
export const TARGET = "service@example.org";
export const ALICE = "alice@example.org/phone";
export const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

export function config(extra = ""): ProxyConfig {
  const result = parseConfig(
    `server: xmpp://127.0.0.1:5347
state_dir: state
proxies:
  - domain: ${DOMAIN}
    secret: s3cret
    target_address: ${TARGET}
${extra.replace(/^/gm, "    ")}`,
    { file: "test.yaml" },
  );
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config.proxies[0];
}

/** A stream that records what is written and lets the test play the server. */
export class FakeLink implements Link {
  state: LinkState = "connecting";
  readonly sent: XmlElement[] = [];
  stopped = false;
  readonly retuned: LinkTimings[] = [];
  handlers!: LinkHandlers;
  options!: LinkOptions;

  open = (options: LinkOptions): Link => {
    this.options = options;
    this.handlers = options.handlers;
    return this;
  };

  send(stanza: XmlElement): void {
    this.sent.push(stanza);
  }

  /** Called as the stream's end goes out: what the test's server routes to it meanwhile. */
  onStop: (() => void) | undefined;

  stop(): Promise<void> {
    this.stopped = true;
    this.onStop?.();
    this.state = "stopped";
    return Promise.resolve();
  }

  retune(timings: LinkTimings): void {
    this.retuned.push(timings);
  }

  /** Online; `look`: as a look from standby. */
  online(look = false): void {
    this.state = "online";
    this.handlers.onOnline(look);
  }

  receive(text: string): void {
    this.handlers.onStanza(parseXml(text));
  }

  /** Stanzas sent since the last call, serialised. */
  take(): string[] {
    return this.sent.splice(0).map((el) => serialize(el));
  }
}

/** A proxy on a fake stream (`link`), its config `extra` keys added to the usual ones. */
export function start(
  extra = "",
  deps: {
    store?: SubscriberStore;
    metrics?: Metrics;
    link?: FakeLink;
    pins?: PinStore;
    now?: () => number;
  } = {},
): { proxy: Proxy; link: FakeLink } {
  const link = deps.link ?? new FakeLink();
  const proxy = new Proxy(config(extra), {
    openLink: link.open,
    random: () => 0,
    subscribers: deps.store,
    pins: deps.pins,
    metrics: deps.metrics,
    now: deps.now ?? (() => 0),
  });
  return { proxy, link };
}

/** Online, with resource `a` of the target available. */
export function online(link: FakeLink): void {
  link.online();
  link.receive(`<presence from="${TARGET}/a" to="${DOMAIN}"/>`);
  link.take();
}

export const request = (id: string) =>
  `<iq type="get" id="${id}" from="${ALICE}" to="${DOMAIN}"><ping xmlns="urn:xmpp:ping"/></iq>`;

/** The defined condition of an error stanza's text. */
export function conditionOf(text: string): string | undefined {
  const error = parseXml(text).getChild("error");
  const condition = error?.children.find((c) => typeof c !== "string" && c.attrs.xmlns === STANZAS);
  return typeof condition === "object" ? condition.name : undefined;
}

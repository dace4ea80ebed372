/**
 * A lean test client over `@xmpp/client` 0.14: logs in, records every
 * stanza it receives, and answers nothing unless told to.
 *
 * Differences from a stock `client()`:
 * - reconnect is stopped (a stopped or dropped client stays offline);
 * - once online, the xmpp.js middleware is detached, so its iqCallee no
 *   longer answers get/set with `service-unavailable` (and its ping
 *   handler is gone too): requests go to `onRequest`, or stay unanswered;
 * - authentication uses SASL PLAIN (xmpp.js only does SCRAM-SHA-1 over a
 *   plain TCP stream, which costs about 0.6 s of PBKDF2 per login).
 */
import { xml, type XmlElement, type XmlNode } from "../../src/core/xml.ts";
import { plainXmppClient, type XmppClientEntity } from "./xmpp_login.ts";

export type RequestHandler = (
  iq: XmlElement,
) => XmlElement | undefined | Promise<XmlElement | undefined>;

export interface TestClient {
  /** full JID once online */
  readonly jid: string;
  /** true while the stream is up (false after stop() or a server-side close; there is no reconnect) */
  readonly online: boolean;
  /** send a raw stanza (XmlElement or XML string), unmodified */
  send(stanza: XmlElement | string): Promise<void>;
  /**
   * Sends an iq get/set and resolves with the reply (result or error
   * element) carrying its id; rejects after timeoutMs (default 5000).
   * An iq without `id` gets a fresh one.
   */
  request(
    iq: XmlElement,
    options?: { timeoutMs?: number },
  ): Promise<XmlElement>;
  /**
   * Resolves with the next received stanza matching pred (with
   * `includePast`, the first matching one already received counts too);
   * rejects after timeoutMs (default 5000) with a clear message.
   */
  waitFor(
    pred: (el: XmlElement) => boolean,
    options?: { timeoutMs?: number; includePast?: boolean },
  ): Promise<XmlElement>;
  /** every stanza received since online, in order */
  readonly received: readonly XmlElement[];
  /** errors emitted by xmpp.js (stream errors, socket errors) or thrown by the onRequest handler */
  readonly errors: readonly Error[];
  /** set a handler for incoming iq get/set; default none (nothing is answered) */
  onRequest(handler: RequestHandler | undefined): void;
  /** idempotent, bounded in time; also [Symbol.asyncDispose] */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface ClientOptions {
  /** c2sUrl, e.g. `xmpp://127.0.0.1:5222` */
  service: string;
  domain: string;
  username: string;
  password: string;
  resource?: string;
  priority?: number;
  /** approve presence subscription requests (send `subscribed` back); default true */
  autoApprove?: boolean;
  /** send initial presence; default true */
  presence?: boolean;
  /**
   * fetch the roster before initial presence, as real clients do; default
   * false. Prosody delivers subscription results (`subscribed`,
   * `unsubscribed`) and roster pushes only to resources that did.
   */
  roster?: boolean;
  /** bound on connecting and logging in; default 10000 */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const STOP_TIMEOUT_MS = 5_000;
const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

let nextId = 0;
function freshId(): string {
  return `tc-${Date.now().toString(36)}-${(nextId++).toString(36)}`;
}

/** `<iq type="result" id=.. to=from>` with optional children. */
export function resultFor(iq: XmlElement, ...children: XmlNode[]): XmlElement {
  return xml(
    "iq",
    { type: "result", id: iq.attrs.id, to: iq.attrs.from },
    ...children,
  );
}

/** `<iq type="error" id=.. to=from><error type=..><condition/></error></iq>` */
export function errorFor(
  iq: XmlElement,
  type: "cancel" | "continue" | "modify" | "auth" | "wait",
  condition: string,
  text?: string,
): XmlElement {
  const error = xml("error", { type }, xml(condition, { xmlns: NS_STANZAS }));
  if (text !== undefined) {
    error.children.push(xml("text", { xmlns: NS_STANZAS }, text));
  }
  return xml(
    "iq",
    { type: "error", id: iq.attrs.id, to: iq.attrs.from },
    error,
  );
}

/**
 * A request handler that answers every get/set with a result addressed
 * to its sender (same id), holding the child built by `reply` if any.
 */
export function echoHandler(
  reply?: (iq: XmlElement) => XmlElement | undefined,
): RequestHandler {
  return (iq) => {
    const child = reply?.(iq);
    return child ? resultFor(iq, child) : resultFor(iq);
  };
}

function describe(el: XmlElement): string {
  const text = el.toString();
  return text.length > 300 ? text.slice(0, 300) + "…" : text;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** Runs `promise` with a deadline; the timer never outlives the race. */
async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  message: () => string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message())), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

interface Waiter {
  pred: (el: XmlElement) => boolean;
  resolve: (el: XmlElement) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

class XmppTestClient implements TestClient {
  readonly received: XmlElement[] = [];
  readonly errors: Error[] = [];
  #entity: XmppClientEntity;
  #label: string;
  #handler: RequestHandler | undefined;
  #waiters = new Set<Waiter>();
  #online = false;
  #stopping: Promise<void> | undefined;

  constructor(readonly options: ClientOptions) {
    const { service, domain, username, password, resource } = options;
    this.#label = `${username}@${domain}`;
    const entity = plainXmppClient<XmppClientEntity>({
      service,
      domain,
      resource,
      username,
      password,
    });
    this.#entity = entity;
    entity.reconnect.stop();

    // The only "element" listener at this point is the xmpp.js middleware
    // (stream features, SASL, bind, iqCaller, iqCallee). It is needed to
    // log in; once online it is detached so nothing answers on our behalf.
    const middleware = entity.listeners("element");
    entity.on("online", () => {
      for (const listener of middleware) {
        entity.removeListener("element", listener);
      }
      this.#online = true;
    });
    entity.on("error", (err) => this.errors.push(asError(err)));
    entity.on("stanza", (el) => {
      if (!this.#online) return;
      try {
        this.#onStanza(el);
      } catch (err) {
        this.errors.push(asError(err));
      }
    });
  }

  get online(): boolean {
    return this.#entity.status === "online";
  }

  get jid(): string {
    return this.#entity.jid?.toString() ?? "";
  }

  async connect(): Promise<void> {
    const { options } = this;
    const timeoutMs = options.timeoutMs ?? 10_000;
    try {
      const starting = this.#entity.start();
      starting.catch(() => {}); // still settles after a timeout
      await withTimeout(
        starting,
        timeoutMs,
        () => `not online after ${timeoutMs} ms`,
      );
      if (options.roster) {
        const roster = await this.request(
          xml(
            "iq",
            { type: "get" },
            xml("query", { xmlns: "jabber:iq:roster" }),
          ),
        );
        if (roster.attrs.type !== "result") {
          throw new Error(`roster request failed: ${describe(roster)}`);
        }
      }
      if (options.presence ?? true) {
        await this.send(
          options.priority === undefined ? xml("presence") : xml(
            "presence",
            {},
            xml("priority", {}, String(options.priority)),
          ),
        );
      }
    } catch (err) {
      await this.stop();
      const error = asError(err);
      const cause = [error.message, ...this.errors.map((e) => e.message)];
      throw new Error(
        `connectClient(${this.#label} via ${options.service}) failed: ${
          [...new Set(cause)].join("; ")
        }`,
        { cause: error },
      );
    }
  }

  #onStanza(el: XmlElement): void {
    this.received.push(el);
    for (const waiter of this.#waiters) {
      if (waiter.pred(el)) {
        this.#waiters.delete(waiter);
        clearTimeout(waiter.timer);
        waiter.resolve(el);
      }
    }
    const type = el.attrs.type;
    if (el.name === "iq" && (type === "get" || type === "set")) {
      if (this.#handler) void this.#answer(this.#handler, el);
    } else if (
      el.name === "presence" && type === "subscribe" &&
      (this.options.autoApprove ?? true) && el.attrs.from
    ) {
      void this.send(xml("presence", { type: "subscribed", to: el.attrs.from }))
        .catch((err) => this.errors.push(asError(err)));
    }
  }

  async #answer(handler: RequestHandler, iq: XmlElement): Promise<void> {
    let reply: XmlElement | undefined;
    try {
      reply = await handler(iq);
    } catch (err) {
      this.errors.push(asError(err));
      reply = errorFor(iq, "cancel", "internal-server-error");
    }
    if (reply && !this.#stopping) {
      await this.send(reply).catch((err) => this.errors.push(asError(err)));
    }
  }

  async send(stanza: XmlElement | string): Promise<void> {
    if (typeof stanza === "string") await this.#entity.write(stanza);
    else await this.#entity.send(stanza);
  }

  async request(
    iq: XmlElement,
    options: { timeoutMs?: number } = {},
  ): Promise<XmlElement> {
    if (iq.attrs.id === undefined) iq.attrs.id = freshId();
    const id = iq.attrs.id;
    const reply = this.waitFor(
      (el) =>
        el.name === "iq" && el.attrs.id === id &&
        (el.attrs.type === "result" || el.attrs.type === "error"),
      { timeoutMs: options.timeoutMs, what: `reply to iq id="${id}"` },
    );
    try {
      await this.send(iq);
    } catch (err) {
      reply.catch(() => {});
      throw err;
    }
    return await reply;
  }

  waitFor(
    pred: (el: XmlElement) => boolean,
    options: { timeoutMs?: number; includePast?: boolean; what?: string } = {},
  ): Promise<XmlElement> {
    if (options.includePast) {
      const past = this.received.find(pred);
      if (past) return Promise.resolve(past);
    }
    if (this.#stopping) {
      return Promise.reject(new Error(`${this.#label}: client is stopped`));
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const what = options.what ?? "matching stanza";
    const since = this.received.length;
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        pred,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          const recent = this.received.slice(since).slice(-5).map(describe);
          reject(
            new Error(
              `${this.jid || this.#label}: no ${what} within ${timeoutMs} ms; ` +
                `${this.received.length - since} stanza(s) received meanwhile` +
                (recent.length ? `, the last ones:\n  ${recent.join("\n  ")}` : "") +
                (this.errors.length
                  ? `\nclient errors: ${this.errors.map((e) => e.message).join("; ")}`
                  : ""),
            ),
          );
        }, timeoutMs),
      };
      this.#waiters.add(waiter);
    });
  }

  onRequest(handler: RequestHandler | undefined): void {
    this.#handler = handler;
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    for (const waiter of this.#waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error(`${this.#label}: client stopped while waiting`));
    }
    this.#waiters.clear();
    const entity = this.#entity;
    if (entity.status === "offline") return;
    // xmpp.js bounds each step (close stream, close socket) by 2 s; the
    // outer bound is for anything else going wrong.
    // When the peer does not answer, xmpp.js gives up after its timeouts
    // and detaches from the socket without destroying it: a later RST
    // would then be an uncaught "read ECONNRESET". So keep hold of it.
    const socket = entity.socket;
    const stopping = entity.stop();
    stopping.catch(() => {}); // still settles after a timeout
    try {
      await withTimeout(stopping, STOP_TIMEOUT_MS, () => "stop timed out");
    } catch (err) {
      this.errors.push(asError(err));
    } finally {
      if (socket) {
        socket.on("error", () => {});
        socket.destroy();
      }
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

export async function connectClient(
  options: ClientOptions,
): Promise<TestClient> {
  const client = new XmppTestClient(options);
  await client.connect();
  return client;
}

/**
 * After a server restart: registers `answerer` (an account made after it),
 * logs both in, and resolves with the reply `asker` gets to a get sent to
 * `answerer`, who echoes it. Both accounts working shows the data survived.
 */
export async function iqAfterRestart(
  server: { c2sUrl: string; domain: string; register(user: PlainAccount): Promise<void> },
  accounts: { asker: PlainAccount; answerer: PlainAccount },
): Promise<XmlElement> {
  await server.register(accounts.answerer);
  const common = { service: server.c2sUrl, domain: server.domain };
  await using asker = await connectClient({ ...common, ...accounts.asker });
  await using answerer = await connectClient({ ...common, ...accounts.answerer });
  answerer.onRequest(echoHandler());
  return await asker.request(
    xml("iq", { type: "get", to: answerer.jid }, xml("q", { xmlns: "urn:x" })),
  );
}

/** An account: its username and password. */
interface PlainAccount {
  username: string;
  password: string;
}

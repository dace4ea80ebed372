/**
 * The load generator's connections: a c2s login of its own on Deno's TCP
 * (stream, SASL PLAIN, stream restart, resource binding, a session if the
 * server needs one), then the raw stream: the bench writes raw strings
 * and reads raw text, looking only at the start tags of top-level
 * stanzas. No XML parser, no middleware, no per-stanza events once online.
 */
import { parseXml, serialize, xml, type XmlElement } from "../src/core/xml.ts";
import { within } from "../tests/support/bounded.ts";
import type { PlainLogin } from "../tests/support/xmpp_login.ts";
import { writeAll } from "../tests/support/tcp_peer.ts";

const LOGIN_TIMEOUT_MS = 15_000;
const CLOSE_TIMEOUT_MS = 1_000;
const READ_SIZE = 64 * 1024;
const NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl";
const NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind";
const NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session";
const encoder = new TextEncoder();

/** A logged-in c2s stream, spoken to in raw text. */
export interface RawConn {
  /** The bound full JID. */
  readonly jid: string;
  /** Writes text to the socket as is. */
  write(text: string): void;
  /** Receives each start tag of a stanza: its name and its attribute text. */
  onTag: (name: string, attrs: string) => void;
  /** Closes the stream; bounded in time. */
  close(): Promise<void>;
}

/** Logs in and hands back the raw stream. */
export async function login(options: PlainLogin): Promise<RawConn> {
  const { service, domain, username, resource } = options;
  const url = new URL(service);
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port || 5222) });
  // The load is written in batches already; Nagle would only add delay.
  conn.setNoDelay(true);
  const reader = new LoginReader(conn);
  try {
    const jid = await within(negotiate(conn, reader, options), LOGIN_TIMEOUT_MS, "the login");
    return new Conn(jid, conn, reader.decoder, reader.rest);
  } catch (error) {
    closeQuietly(conn);
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`login ${username}@${domain}/${resource}: ${reason}`);
  }
}

/** The c2s login (RFC 6120 §§4-7): the bound JID. */
async function negotiate(
  conn: Deno.Conn,
  reader: LoginReader,
  options: PlainLogin,
): Promise<string> {
  const { domain, username, password, resource } = options;
  const header = `<?xml version='1.0'?><stream:stream to='${domain}' version='1.0' ` +
    `xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`;
  await writeAll(conn, header);
  const mechanisms = (await reader.features()).getChild("mechanisms", NS_SASL)
    ?.getChildren("mechanism").map((el) => el.getText()) ?? [];
  if (!mechanisms.includes("PLAIN")) throw new Error(`no SASL PLAIN offered: ${mechanisms}`);
  // RFC 4616: authorization identity (empty), authentication identity, password.
  const plain = base64(`\0${username}\0${password}`);
  await writeAll(conn, serialize(xml("auth", { xmlns: NS_SASL, mechanism: "PLAIN" }, plain)));
  const outcome = await reader.element("success", "failure");
  if (outcome.name !== "success") throw new Error(`SASL PLAIN refused: ${serialize(outcome)}`);
  // RFC 6120 §6.4.6: after success, a new stream on the same connection.
  await writeAll(conn, header);
  const features = await reader.features();
  const bind = xml(
    "bind",
    { xmlns: NS_BIND },
    ...(resource ? [xml("resource", {}, resource)] : []),
  );
  await writeAll(conn, serialize(xml("iq", { type: "set", id: "bind" }, bind)));
  const bound = await reader.element("iq");
  const jid = bound.getChild("bind", NS_BIND)?.getChildText("jid");
  if (bound.attrs.type !== "result" || !jid) throw new Error(`bind failed: ${serialize(bound)}`);
  // RFC 3921 §3's session, where a server still asks for it (not marked
  // <optional/>, draft-cridland-xmpp-session).
  const session = features.getChild("session", NS_SESSION);
  if (session && !session.getChild("optional")) {
    const iq = xml("iq", { type: "set", id: "session" }, xml("session", { xmlns: NS_SESSION }));
    await writeAll(conn, serialize(iq));
    const reply = await reader.element("iq");
    if (reply.attrs.type !== "result") throw new Error(`session failed: ${serialize(reply)}`);
  }
  return jid;
}

/**
 * What the server says during the login, read one complete element at a
 * time from the text decoded so far (the stream header before it is
 * skipped). The decoder and what is left over go on to the raw stream.
 */
class LoginReader {
  readonly decoder = new TextDecoder();
  /** Text read and not yet taken. */
  rest = "";
  readonly #conn: Deno.Conn;
  readonly #buffer = new Uint8Array(READ_SIZE);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** The next `<stream:features>`. */
  features(): Promise<XmlElement> {
    return this.element("stream:features");
  }

  /** The next element named one of `names`, once it is complete; a stream error is thrown. */
  async element(...names: string[]): Promise<XmlElement> {
    const start = new RegExp(`<(?:${names.join("|")})[\\s/>]`);
    while (true) {
      const error = /<stream:error\b[\s\S]*?<\/stream:error>/.exec(this.rest);
      if (error) throw new Error(`stream error: ${error[0]}`);
      const found = start.exec(this.rest);
      const end = found ? elementEnd(this.rest, found.index, names) : -1;
      if (found && end >= 0) {
        const text = this.rest.slice(found.index, end);
        this.rest = this.rest.slice(end);
        return parseXml(text);
      }
      const n = await this.#conn.read(this.#buffer);
      if (n === null) throw new Error(`the server closed the stream: ${this.rest.slice(-500)}`);
      this.rest += this.decoder.decode(this.#buffer.subarray(0, n), { stream: true });
    }
  }
}

/** Where the element starting at `from` in `text` ends (after it), or -1 if not yet read. */
function elementEnd(text: string, from: number, names: readonly string[]): number {
  const open = text.indexOf(">", from);
  if (open < 0) return -1;
  if (text[open - 1] === "/") return open + 1;
  for (const name of names) {
    if (!text.startsWith(`<${name}`, from)) continue;
    const close = text.indexOf(`</${name}>`, open);
    return close < 0 ? -1 : close + name.length + 3;
  }
  return -1;
}

function base64(text: string): string {
  return btoa(String.fromCharCode(...encoder.encode(text)));
}

/** The raw stream after the login. */
class Conn implements RawConn {
  onTag: (name: string, attrs: string) => void = () => {};
  readonly #conn: Deno.Conn;
  readonly #decoder: TextDecoder;
  /** Text after the last complete tag, scanned with the next read. */
  #rest: string;
  /** Writes waiting for the one under way. */
  #queue: string[] = [];
  #pumping = false;
  /** The last pump (settled when idle). */
  #writing: Promise<void> = Promise.resolve();
  readonly #closed: Promise<void>;
  #isClosed = false;

  /** `decoder` and `rest`: the login's, so that nothing read is lost or cut. */
  constructor(readonly jid: string, conn: Deno.Conn, decoder: TextDecoder, rest: string) {
    this.#conn = conn;
    this.#decoder = decoder;
    this.#rest = rest;
    this.#closed = this.#read();
  }

  /** Queued; what is queued while a write is under way goes out as one. */
  write(text: string): void {
    if (this.#isClosed) return;
    this.#queue.push(text);
    if (!this.#pumping) this.#writing = this.#pump();
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (this.#queue.length > 0) {
        const text = this.#queue.length === 1 ? this.#queue[0] : this.#queue.join("");
        this.#queue = [];
        await writeAll(this.#conn, encoder.encode(text));
      }
    } catch {
      // Closed or reset: the read loop ends too.
      this.#queue = [];
    } finally {
      // Cleared as the loop ends, not a turn later: a write meanwhile would wait for nothing.
      this.#pumping = false;
    }
  }

  async #read(): Promise<void> {
    const buffer = new Uint8Array(READ_SIZE);
    try {
      while (true) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        const text = this.#decoder.decode(buffer.subarray(0, n), { stream: true });
        if (text !== "") this.#scan(text);
      }
    } catch { /* closed or reset */ }
    this.#isClosed = true;
    closeQuietly(this.#conn);
  }

  /**
   * Finds the start tags of `<iq` and `<presence` (the bench's payloads
   * never nest those names) and passes their attribute text on. Text
   * after the last complete tag waits for the next chunk.
   */
  #scan(chunk: string): void {
    const text = this.#rest === "" ? chunk : this.#rest + chunk;
    let pos = 0;
    while (true) {
      const lt = text.indexOf("<", pos);
      if (lt < 0) {
        pos = text.length;
        break;
      }
      const gt = text.indexOf(">", lt);
      if (gt < 0) {
        pos = lt;
        break;
      }
      const c = text.charCodeAt(lt + 1);
      if (c === 105 /* i */ && text.startsWith("iq ", lt + 1)) {
        this.onTag("iq", text.slice(lt + 4, gt));
      } else if (c === 112 /* p */ && text.startsWith("presence", lt + 1)) {
        this.onTag("presence", text.slice(lt + 9, gt));
      }
      pos = gt + 1;
    }
    this.#rest = pos >= text.length ? "" : text.slice(pos);
  }

  async close(): Promise<void> {
    if (this.#isClosed) return;
    this.write("</stream:stream>");
    // Our end, then the server's end and close; if they do not come in time, we close.
    const ended = (async () => {
      await this.#writing;
      await this.#conn.closeWrite().catch(() => {});
      await this.#closed;
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      ended,
      new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    closeQuietly(this.#conn);
    await this.#closed;
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* closed already */ }
}

/**
 * The raw value of attribute `name` in a start tag's attribute text
 * (escaped as on the wire: copy it into an attribute with the same quote).
 */
export function attr(attrs: string, name: string): string | undefined {
  const key = name + "=";
  let at = attrs.indexOf(key);
  while (at >= 0) {
    if (at === 0 || attrs.charCodeAt(at - 1) <= 32) {
      const start = at + key.length + 1;
      const end = attrs.indexOf(attrs[start - 1], start);
      return end < 0 ? undefined : attrs.slice(start, end);
    }
    at = attrs.indexOf(key, at + 1);
  }
  return undefined;
}

/**
 * The load itself: requesters that keep a window of pings in flight and
 * time each round trip, and the implementing client's resources that
 * answer them. All of them live in the bench's one process and speak raw
 * text (bench/wire.ts): no per-stanza parsing beyond a start tag.
 */
import { attr, type RawConn } from "./wire.ts";

const PING = "<ping xmlns='urn:xmpp:ping'/></iq>";

/** What a responder does with a get/set. */
export type Answering = "answer" | "hold" | "ignore";

/** One resource of the implementing account. */
export class Responder {
  answering: Answering = "answer";
  /** Replies held back while `answering` is "hold". */
  held: string[] = [];
  requests = 0;

  constructor(readonly conn: RawConn) {
    conn.onTag = (name, attrs) => this.#onTag(name, attrs);
  }

  /**
   * The roster, then initial presence, and directed presence to components
   * that do not subscribe. A resource that asked for its roster is one the
   * server hands subscription requests to (ejabberd holds them back from
   * the others).
   */
  announce(directedTo: readonly string[]): void {
    let out = "<iq type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq><presence/>";
    for (const domain of directedTo) out += `<presence to='${domain}'/>`;
    this.conn.write(out);
  }

  #onTag(name: string, attrs: string): void {
    const type = attr(attrs, "type");
    if (name === "iq") {
      if (type !== "get" && type !== "set") return;
      this.requests++;
      if (this.answering === "ignore") return;
      const reply = `<iq type='result' id='${attr(attrs, "id")}' to='${attr(attrs, "from")}'/>`;
      if (this.answering === "hold") this.held.push(reply);
      else this.conn.write(reply);
    } else if (type === "subscribe") {
      this.conn.write(`<presence type='subscribed' to='${attr(attrs, "from")}'/>`);
    }
  }

  /** Sends every held reply, in batches so that the server keeps up. */
  async release(batch = 500): Promise<number> {
    const held = this.held;
    this.held = [];
    for (let i = 0; i < held.length; i += batch) {
      this.conn.write(held.slice(i, i + batch).join(""));
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    return held.length;
  }
}

/** Counters and latencies of one measured window. */
export interface WindowStats {
  replies: number;
  errors: number;
  /** Round-trip times in ms of the replies counted. */
  latencies: number[];
  /** Error stanzas' start tags, the first few, for diagnosis. */
  errorSamples: string[];
}

function emptyStats(): WindowStats {
  return { replies: 0, errors: 0, latencies: [], errorSamples: [] };
}

/** One requester: keeps `window` requests in flight while `sending`. */
export class Requester {
  /** Requests sent and not answered. */
  inFlight = 0;
  sent = 0;
  /** Replies whose id was not one we wait for. */
  strays = 0;
  sending = false;
  measuring = false;
  stats: WindowStats = emptyStats();
  /** Stop after this many requests in total (memory runs). */
  limit = Infinity;
  window = 1;
  #targets: readonly string[] = [];
  #turn = 0;
  #seq = 0;
  #ringMask = 0;
  #ringSeq = new Int32Array(0);
  #ringAt = new Float64Array(0);
  #onIdle: (() => void) | undefined;

  constructor(readonly conn: RawConn) {
    conn.onTag = (name, attrs) => {
      if (name === "iq") this.#onReply(attrs);
    };
  }

  /** Sets the addresses requests go to (round-robin) and the window. */
  configure(targets: readonly string[], window: number): void {
    this.#targets = targets;
    this.window = window;
    // Room for a reply that comes back seconds after the ones sent after it
    // (a TLS link on ejabberd has 200 ms outliers): it still finds its slot.
    let size = 1;
    while (size < window * 256) size *= 2;
    if (size > this.#ringSeq.length) {
      this.#ringSeq = new Int32Array(size).fill(-1);
      this.#ringAt = new Float64Array(size);
      this.#ringMask = size - 1;
    }
  }

  /** Starts sending: fills the window. */
  start(): void {
    this.sending = true;
    this.#fill();
  }

  /** Resets the counters of the measured window. */
  resetStats(): void {
    this.stats = emptyStats();
  }

  /** Resolves once nothing is in flight, or after `ms`. */
  idle(ms: number): Promise<boolean> {
    if (this.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#onIdle = undefined;
        resolve(false);
      }, ms);
      this.#onIdle = () => {
        clearTimeout(timer);
        this.#onIdle = undefined;
        resolve(true);
      };
    });
  }

  #fill(): void {
    let out = "";
    while (this.sending && this.inFlight < this.window && this.sent < this.limit) {
      const seq = this.#seq++;
      const slot = seq & this.#ringMask;
      this.#ringSeq[slot] = seq;
      this.#ringAt[slot] = performance.now();
      const to = this.#targets[this.#turn++ % this.#targets.length];
      out += `<iq type='get' id='${seq.toString(36)}' to='${to}'>${PING}`;
      this.inFlight++;
      this.sent++;
      // Big windows go out in slices, so the server sees a stream, not a flood.
      if (out.length > 64_000) {
        this.conn.write(out);
        out = "";
      }
    }
    if (out !== "") this.conn.write(out);
  }

  #onReply(attrs: string): void {
    const type = attr(attrs, "type");
    if (type !== "result" && type !== "error") return;
    const seq = parseInt(attr(attrs, "id") ?? "", 36);
    const slot = seq & this.#ringMask;
    if (!(seq >= 0) || this.#ringSeq[slot] !== seq) {
      this.strays++;
      return;
    }
    this.#ringSeq[slot] = -1;
    this.inFlight--;
    if (this.measuring) {
      const stats = this.stats;
      stats.replies++;
      stats.latencies.push(performance.now() - this.#ringAt[slot]);
      if (type === "error") {
        stats.errors++;
        if (stats.errorSamples.length < 5) stats.errorSamples.push(attrs);
      }
    }
    if (this.sending) this.#fill();
    if (this.inFlight === 0) this.#onIdle?.();
  }
}

/** The latency percentiles (ms) of a sample. */
export function percentiles(values: number[]): { p50: number; p95: number; p99: number } {
  if (values.length === 0) return { p50: NaN, p95: NaN, p99: NaN };
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

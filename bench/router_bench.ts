/**
 * --router: the proxy's own work per round trip, in process, no network,
 * one core. A round trip is: parse the request's text with the stream's
 * parser (src/link/stream_parser.ts, fed as the stream feeds it), `Router.receive`,
 * serialising the forwarded stanza as the stream does (src/core/xml.ts
 * `serialize`, which replaced ltx's `toString()`); then the same for the reply. The
 * texts are byte for byte what Prosody 0.12 sends a component.
 *
 * Besides the whole, each step is timed alone, the shell (src/app/proxy.ts,
 * with a fake stream) is timed around the router, and the same work done
 * the minimal component's way (rewrite attributes in place) gives the floor.
 * Last, Jicofo-shaped conference requests about 1,000 rooms go through the
 * pipeline with `affinity` off and on: the difference is the cost of an
 * affinity lookup (the key read from the payload, its pin found and used).
 */
import { Session } from "node:inspector";
import { parseConfig } from "../src/config/parse.ts";
import type { ProxyConfig } from "../src/config/types.ts";
import type { Link, LinkOptions } from "../src/link/connection.ts";
import { Metrics } from "../src/ops/metrics.ts";
import { Proxy } from "../src/app/proxy.ts";
import { Router } from "../src/core/router.ts";
import { StreamParser } from "../src/link/stream_parser.ts";
import { readdress, serialize, xml, type XmlElement } from "../src/core/xml.ts";
import { fmt, median, progress, table } from "./compare.ts";
import { cpuSeconds } from "./procstat.ts";

const DOMAIN = "proxy.localhost";
const TARGET = "service@localhost";
const RESOURCES = ["r0", "r1"];
/** Requests in flight per batch, as one requester's window. */
const WINDOW = 32;
const REQUESTER = "req0@localhost/bench";
const MEASURE_MS = 1_500;
const WARMUP_MS = 500;
const PASSES = 3;

const STREAM_HEADER = `<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' ` +
  `xml:lang='en' xmlns:stream='http://etherx.jabber.org/streams' id='bench' from='${DOMAIN}'>`;

function requestText(id: string): string {
  return `<iq xml:lang='en' id='${id}' to='${DOMAIN}' type='get' from='${REQUESTER}'>` +
    `<ping xmlns='urn:xmpp:ping'/></iq>`;
}

/** A conference request about one of {@link ROOMS} rooms, as Jicofo gets it. */
function conferenceText(id: string, room: number): string {
  return `<iq xml:lang='en' id='${id}' to='${DOMAIN}' type='set' from='${REQUESTER}'>` +
    `<conference xmlns='http://jitsi.org/protocol/focus' machine-uid='c0ffee' ` +
    `room='room${room}@conference.localhost'><property name='startAudioMuted' value='9'/>` +
    `</conference></iq>`;
}

/** Rooms the conference requests are about: each pinned after its first request. */
const ROOMS = 1_000;

function replyText(id: string, resourceJid: string): string {
  return `<iq xml:lang='en' id='${id}' to='${DOMAIN}/${REQUESTER}' type='result' ` +
    `from='${resourceJid}'/>`;
}

function presenceText(resource: string): string {
  return `<presence xml:lang='en' to='${DOMAIN}' from='${TARGET}/${resource}'/>`;
}

/**
 * A parser fed like the stream's: one header, then stanza after stanza. The
 * proxy's own (src/link/stream_parser.ts) unless `xmpp.js` asks for @xmpp/xml's,
 * which the minimal component uses.
 */
function streamParser(which: "proxy" | "xmpp.js" = "proxy"): (text: string) => XmlElement {
  const parser = which === "proxy" ? new StreamParser() : new xml.Parser();
  let last: XmlElement | undefined;
  parser.on("element", (el) => (last = el));
  parser.on("error", (error) => {
    throw error;
  });
  parser.write(STREAM_HEADER);
  return (text) => {
    last = undefined;
    parser.write(text);
    if (!last) throw new Error(`no element from ${text}`);
    return last;
  };
}

/** The proxy's settings with every default, as the config parser gives them. */
function benchConfig(extra: Record<string, unknown> = {}): ProxyConfig {
  const text = JSON.stringify({
    server: "xmpp://127.0.0.1:5347",
    proxies: [{ domain: DOMAIN, secret: "bench", target_address: TARGET, ...extra }],
  });
  const parsed = parseConfig(text, { file: "bench.json" });
  if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
  return parsed.config.proxies[0];
}

const SETTINGS = benchConfig();
const AFFINITY_SETTINGS = benchConfig({
  affinity: ["{http://jitsi.org/protocol/focus}conference@room"],
});

function readyRouter(parse: (text: string) => XmlElement, settings = SETTINGS): Router {
  const router = new Router(settings, {
    random: Math.random,
    randomBits: () => crypto.getRandomValues(new Uint32Array(1))[0],
  });
  router.online(0);
  for (const resource of RESOURCES) router.receive(parse(presenceText(resource)), 0);
  return router;
}

/**
 * Runs `batch` (one batch = WINDOW round trips) for MEASURE_MS after a
 * warm-up. Round trips per second of this process's CPU time (utime +
 * stime, GC threads included): other processes on the machine slow the
 * wall clock, not this.
 */
function measure(batch: (round: number) => void): number {
  let round = 0;
  const warmEnd = performance.now() + WARMUP_MS;
  while (performance.now() < warmEnd) batch(round++);
  let trips = 0;
  const cpu0 = cpuSeconds(Deno.pid);
  const t0 = performance.now();
  while (performance.now() - t0 < MEASURE_MS) {
    batch(round++);
    trips += WINDOW;
  }
  return trips / (cpuSeconds(Deno.pid) - cpu0);
}

const ids = Array.from({ length: WINDOW }, (_, i) => `b${i}`);
const sink: string[] = new Array(WINDOW * 2);

/** parse → Router.receive → serialize, both ways. */
function fullPipeline(): number {
  const parse = streamParser();
  const router = readyRouter(parse);
  const jids: string[] = new Array(WINDOW);
  return measure((round) => {
    const now = round;
    for (let i = 0; i < WINDOW; i++) {
      const out = router.receive(parse(requestText(ids[i])), now).send[0];
      jids[i] = out.attrs.to!;
      sink[i] = serialize(out);
    }
    for (let i = 0; i < WINDOW; i++) {
      const out = router.receive(parse(replyText(ids[i], jids[i])), now).send[0];
      sink[WINDOW + i] = serialize(out);
    }
  });
}

/**
 * A batch of parse → Router.receive → serialize, both ways, for conference
 * requests about {@link ROOMS} rooms in turn; with `affinity` on, each goes
 * where its room is pinned.
 */
function conferenceBatch(affinity: boolean): (round: number) => void {
  const parse = streamParser();
  const router = readyRouter(parse, affinity ? AFFINITY_SETTINGS : SETTINGS);
  const jids: string[] = new Array(WINDOW);
  return (round) => {
    const now = round;
    for (let i = 0; i < WINDOW; i++) {
      const room = (round * WINDOW + i) % ROOMS;
      const out = router.receive(parse(conferenceText(ids[i], room)), now).send[0];
      jids[i] = out.attrs.to!;
      sink[i] = serialize(out);
    }
    for (let i = 0; i < WINDOW; i++) {
      const out = router.receive(parse(replyText(ids[i], jids[i])), now).send[0];
      sink[WINDOW + i] = serialize(out);
    }
  };
}

/**
 * The conference pipeline without and with affinity, measured in turns of
 * about 300 ms each (round trips per CPU second of each): what the machine
 * does meanwhile weighs on both alike, and each turn is long enough that
 * its start (the other's data in the caches) weighs little.
 */
function conferencePair(): [off: number, on: number] {
  const batches = [conferenceBatch(false), conferenceBatch(true)];
  const trips = [0, 0];
  const cpu = [0, 0];
  const rounds = [0, 0];
  for (const [k, batch] of batches.entries()) {
    const warmEnd = performance.now() + WARMUP_MS;
    while (performance.now() < warmEnd) batch(rounds[k]++);
  }
  const end = performance.now() + 2 * MEASURE_MS;
  while (performance.now() < end) {
    for (const [k, batch] of batches.entries()) {
      const cpu0 = cpuSeconds(Deno.pid);
      const turnEnd = performance.now() + 300;
      while (performance.now() < turnEnd) {
        batch(rounds[k]++);
        trips[k] += WINDOW;
      }
      cpu[k] += cpuSeconds(Deno.pid) - cpu0;
    }
  }
  return [trips[0] / cpu[0], trips[1] / cpu[1]];
}

/** Only the parser, on the same texts. */
function parseOnly(which: "proxy" | "xmpp.js"): number {
  const parse = streamParser(which);
  const reply = replyText("x", `${TARGET}/r0`);
  return measure(() => {
    for (let i = 0; i < WINDOW; i++) parse(requestText(ids[i]));
    for (let i = 0; i < WINDOW; i++) parse(reply);
  });
}

/** Only the texts the harness builds (its own overhead). */
function harnessOnly(): number {
  const jid = `${TARGET}/r0`;
  return measure(() => {
    for (let i = 0; i < WINDOW; i++) sink[i] = requestText(ids[i]);
    for (let i = 0; i < WINDOW; i++) sink[WINDOW + i] = replyText(ids[i], jid);
  });
}

/** Only Router.receive, on elements parsed once (ids recur once answered). */
function routeOnly(): number {
  const parse = streamParser();
  const router = readyRouter(parse);
  const requests = ids.map((id) => parse(requestText(id)));
  const replies = new Map<string, XmlElement>();
  for (const id of ids) {
    for (const r of RESOURCES) {
      replies.set(`${id}/${TARGET}/${r}`, parse(replyText(id, `${TARGET}/${r}`)));
    }
  }
  const jids: string[] = new Array(WINDOW);
  return measure((now) => {
    for (let i = 0; i < WINDOW; i++) jids[i] = router.receive(requests[i], now).send[0].attrs.to!;
    for (let i = 0; i < WINDOW; i++) router.receive(replies.get(`${ids[i]}/${jids[i]}`)!, now);
  });
}

/** Only the serialising of the stanzas the router sends: `serialize` (the stream's) or ltx's toString(). */
function serialiseOnly(how: (el: XmlElement) => string, which: "proxy" | "xmpp.js"): number {
  const parse = streamParser(which);
  const router = readyRouter(parse);
  const out: XmlElement[] = [];
  for (const id of ids) {
    const forwarded = router.receive(parse(requestText(id)), 0).send[0];
    out.push(forwarded);
    out.push(router.receive(parse(replyText(id, forwarded.attrs.to!)), 0).send[0]);
  }
  return measure(() => {
    for (let i = 0; i < out.length; i++) sink[i] = how(out[i]);
  });
}

function addresses(el: XmlElement): { to: string; from: string } {
  return { to: el.attrs.to!, from: el.attrs.from! };
}

/** The minimal component's way: parse, rewrite attributes in place, toString. */
function minimalBatch(): (round: number) => void {
  const parse = streamParser("xmpp.js");
  let turn = 0;
  return () => {
    for (let i = 0; i < WINDOW; i++) {
      const el = parse(requestText(ids[i]));
      const from = el.attrs.from!;
      el.attrs.to = `${TARGET}/${RESOURCES[turn++ % RESOURCES.length]}`;
      el.attrs.from = `${DOMAIN}/${from}`;
      sink[i] = el.toString();
    }
    for (let i = 0; i < WINDOW; i++) {
      const el = parse(replyText(ids[i], `${TARGET}/r0`));
      const to = el.attrs.to!;
      el.attrs.to = to.slice(to.indexOf("/") + 1);
      el.attrs.from = DOMAIN;
      sink[WINDOW + i] = el.toString();
    }
  };
}

function minimalWay(): number {
  return measure(minimalBatch());
}

/**
 * The whole shell: src/app/proxy.ts's Proxy, with metrics, and a fake stream
 * that serialises what it is given. Returns a batch (WINDOW round trips)
 * and the proxy's shutdown.
 */
function shell(): { batch: (round: number) => void; stop: () => void } {
  const parse = streamParser();
  let handlers: LinkOptions["handlers"] | undefined;
  let lastTo = "";
  // Cast: the Link interface grows as src/link/connection.ts does; the shell
  // only sends through it here.
  const link = {
    online: true,
    state: "online",
    send(stanza: XmlElement) {
      lastTo = stanza.attrs.to!;
      sink[0] = serialize(stanza);
    },
    stop: () => Promise.resolve(),
  } as unknown as Link;
  let clock = 0;
  // With metrics, as src/app/runtime.ts runs every proxy.
  const proxy = new Proxy(SETTINGS, {
    metrics: new Metrics(),
    now: () => clock,
    openLink: (options) => {
      handlers = options.handlers;
      return link;
    },
  });
  const on = handlers!;
  on.onOnline();
  for (const resource of RESOURCES) on.onStanza(parse(presenceText(resource)));
  const jids: string[] = new Array(WINDOW);
  const batch = (round: number) => {
    clock = round;
    for (let i = 0; i < WINDOW; i++) {
      on.onStanza(parse(requestText(ids[i])));
      jids[i] = lastTo;
    }
    for (let i = 0; i < WINDOW; i++) on.onStanza(parse(replyText(ids[i], jids[i])));
  };
  return { batch, stop: () => void proxy.shutdown(0).catch(() => {}) };
}

function withShell(): number {
  const { batch, stop } = shell();
  const rate = measure(batch);
  stop();
  return rate;
}

interface SamplingHeapNode {
  selfSize: number;
  children: SamplingHeapNode[];
}

/**
 * Bytes allocated per round trip by `batch`, garbage included: V8's
 * sampling heap profiler (through node:inspector) keeping the samples of
 * objects already collected. An estimate (one sample per 256 bytes), for
 * comparing ways of doing the same work.
 */
async function allocatedPerTrip(batch: (round: number) => void): Promise<number> {
  const session = new Session();
  session.connect();
  const post = (method: string, params: object = {}) =>
    new Promise<Record<string, unknown>>((resolve, reject) =>
      session.post(
        method,
        params,
        (
          error,
          result,
        ) => (error ? reject(error) : resolve((result ?? {}) as Record<string, unknown>)),
      )
    );
  const WARM = 500;
  const ROUNDS = 2_000;
  for (let round = 0; round < WARM; round++) batch(round);
  await post("HeapProfiler.startSampling", {
    samplingInterval: 256,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  for (let round = WARM; round < WARM + ROUNDS; round++) batch(round);
  const { profile } = await post("HeapProfiler.stopSampling") as {
    profile: { head: SamplingHeapNode };
  };
  session.disconnect();
  let bytes = 0;
  const walk = (node: SamplingHeapNode) => {
    bytes += node.selfSize;
    node.children.forEach(walk);
  };
  walk(profile.head);
  return bytes / (ROUNDS * WINDOW);
}

const CONFERENCE_OFF = "pipeline, conference requests, affinity off";
const CONFERENCE_ON = "pipeline, conference requests, affinity on (1,000 rooms pinned)";

export async function runRouterBench(): Promise<Record<string, unknown>> {
  const rates: Record<string, number> = {};
  const steps: Array<[string, () => number]> = [
    ["pipeline: parse + Router.receive + serialize", fullPipeline],
    ["pipeline in the shell (src/app/proxy.ts + metrics, fake stream)", withShell],
    ["minimal component's way (rewrite in place)", minimalWay],
    ["parse only (request + reply)", () => parseOnly("proxy")],
    ["parse only, @xmpp/xml's parser (request + reply)", () => parseOnly("xmpp.js")],
    ["Router.receive only (request + reply)", routeOnly],
    // A stanza caches its text once serialised: each pass re-addresses a
    // fresh copy, as the router does per stanza.
    [
      "readdress + serialize only (request + reply)",
      () => serialiseOnly((el) => serialize(readdress(el, addresses(el))), "proxy"),
    ],
    [
      "ltx toString() only, of trees (request + reply)",
      () => serialiseOnly((el) => el.toString(), "xmpp.js"),
    ],
    ["bench harness only (building texts)", harnessOnly],
  ];
  // Three interleaved passes, the median kept: the first pass of a step
  // pays for JIT warm-up that the later ones do not.
  const passes: Record<string, number[]> = {};
  const shares: number[] = [];
  for (let pass = 1; pass <= PASSES; pass++) {
    for (const [name, run] of steps) {
      progress(`router bench: pass ${pass}/${PASSES}: ${name} …`);
      (passes[name] ??= []).push(run());
    }
    progress(`router bench: pass ${pass}/${PASSES}: conference requests, affinity off and on …`);
    const [off, on] = conferencePair();
    (passes[CONFERENCE_OFF] ??= []).push(off);
    (passes[CONFERENCE_ON] ??= []).push(on);
    shares.push((off / on - 1) * 100);
  }
  for (const [name, values] of Object.entries(passes)) rates[name] = median(values);
  const rows = Object.entries(rates).map(([name, rate]) => [
    name,
    fmt(rate, 0),
    fmt(1e6 / rate, 2),
  ]);
  console.log("\n--router: round trips (request + reply) per CPU second, one thread\n");
  console.log(table(["what", "rt/s", "µs/rt"], rows));
  const lookupUs = 1e6 / rates[CONFERENCE_ON] - 1e6 / rates[CONFERENCE_OFF];
  const share = median(shares);
  console.log(
    `\naffinity lookup per request: ${fmt(lookupUs, 2)} µs, ` +
      `${fmt(share, 1)} % of the conference pipeline without affinity ` +
      `(passes: ${shares.map((v) => fmt(v, 1)).join(", ")} %; target: within 10 %)`,
  );
  progress("router bench: allocation …");
  const proxyShell = shell();
  const allocated = {
    "pipeline in the shell": await allocatedPerTrip(proxyShell.batch),
    "minimal component's way": await allocatedPerTrip(minimalBatch()),
  };
  proxyShell.stop();
  progress("router bench: done", true);
  console.log("\nallocated per round trip, garbage included (V8's sampling heap profiler)\n");
  console.log(table(
    ["what", "KB/rt"],
    Object.entries(allocated).map(([name, bytes]) => [name, fmt(bytes / 1024, 2)]),
  ));
  console.log("");
  return {
    window: WINDOW,
    passes,
    rates,
    affinityLookupUs: lookupUs,
    affinityShare: share,
    allocatedBytesPerTrip: allocated,
  };
}

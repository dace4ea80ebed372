/**
 * --router: the proxy's own work per round trip, in process, no network,
 * one core. A round trip is: parse the request's text with the stream's
 * parser, `Router.receive`, serialising the forwarded stanza as the stream
 * does (src/core/xml.ts `serialize`); then the same for the reply. What it
 * runs on (texts, parser, router, shell) is in router_fixture.ts.
 *
 * Besides the whole, each step is timed alone, the shell (src/app/proxy.ts,
 * with a fake stream) is timed around the router, and the same work done
 * the minimal component's way (rewrite attributes in place) gives the floor.
 * Last, Jicofo-shaped conference requests about 1,000 rooms go through the
 * pipeline with `affinity` off and on: the difference is the cost of an
 * affinity lookup (the key read from the payload, its pin found and used).
 */
import { Session } from "node:inspector";
import process from "node:process";
import { readdress, serialize, type XmlElement } from "../src/core/xml.ts";
import { fmt, median, progress, table } from "./compare.ts";
import { cpuSeconds } from "./procstat.ts";
import {
  AFFINITY_SETTINGS,
  conferenceText,
  DOMAIN,
  ids,
  readyRouter,
  replyText,
  requestText,
  RESOURCES,
  ROOMS,
  SETTINGS,
  shell,
  sink,
  streamParser,
  TARGET,
  WINDOW,
} from "./router_fixture.ts";

const MEASURE_MS = 1_500;
const WARMUP_MS = 500;
const PASSES = 3;

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
 * 150 ms each, alternating which goes first: what the machine does
 * meanwhile weighs on both alike. Each pair's ratio (with / without) is
 * kept: their median is the lookup's share, steadier than a ratio of sums.
 * CPU time from getrusage (microseconds), not /proc's 10 ms ticks.
 */
function conferencePair(): { off: number; on: number; ratios: number[] } {
  const batches = [conferenceBatch(false), conferenceBatch(true)];
  const trips = [0, 0];
  const cpu = [0, 0];
  const rounds = [0, 0];
  const ratios: number[] = [];
  for (const [k, batch] of batches.entries()) {
    const warmEnd = performance.now() + WARMUP_MS;
    while (performance.now() < warmEnd) batch(rounds[k]++);
  }
  const end = performance.now() + 2 * MEASURE_MS;
  while (performance.now() < end) {
    const perTrip = [0, 0];
    for (const k of ratios.length % 2 === 0 ? [0, 1] : [1, 0]) {
      const batch = batches[k];
      const cpu0 = process.cpuUsage();
      let turnTrips = 0;
      const turnEnd = performance.now() + 150;
      while (performance.now() < turnEnd) {
        batch(rounds[k]++);
        turnTrips += WINDOW;
      }
      const used = process.cpuUsage(cpu0);
      const seconds = (used.user + used.system) / 1e6;
      cpu[k] += seconds;
      trips[k] += turnTrips;
      perTrip[k] = seconds / turnTrips;
    }
    ratios.push(perTrip[1] / perTrip[0]);
  }
  return { off: trips[0] / cpu[0], on: trips[1] / cpu[1], ratios };
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
  const parse = streamParser();
  const router = readyRouter(parse);
  // xmpp.js: ltx's trees, their addresses rewritten in place as the minimal component does.
  const parseTree = streamParser("xmpp.js");
  const out: XmlElement[] = [];
  for (const id of ids) {
    const forwarded = router.receive(parse(requestText(id)), 0).send[0];
    const reply = router.receive(parse(replyText(id, forwarded.attrs.to!)), 0).send[0];
    if (which === "proxy") out.push(forwarded, reply);
    else {
      for (
        const [text, sent] of [[requestText(id), forwarded], [
          replyText(id, forwarded.attrs.to!),
          reply,
        ]] as const
      ) {
        const tree = parseTree(text);
        tree.attrs.to = sent.attrs.to;
        tree.attrs.from = sent.attrs.from;
        out.push(tree);
      }
    }
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
  const ratios: number[] = [];
  for (let pass = 1; pass <= PASSES; pass++) {
    for (const [name, run] of steps) {
      progress(`router bench: pass ${pass}/${PASSES}: ${name} …`);
      (passes[name] ??= []).push(run());
    }
    progress(`router bench: pass ${pass}/${PASSES}: conference requests, affinity off and on …`);
    const pair = conferencePair();
    (passes[CONFERENCE_OFF] ??= []).push(pair.off);
    (passes[CONFERENCE_ON] ??= []).push(pair.on);
    ratios.push(...pair.ratios);
  }
  for (const [name, values] of Object.entries(passes)) rates[name] = median(values);
  const rows = Object.entries(rates).map(([name, rate]) => [
    name,
    fmt(rate, 0),
    fmt(1e6 / rate, 2),
  ]);
  console.log("\n--router: round trips (request + reply) per CPU second, one thread\n");
  console.log(table(["what", "rt/s", "µs/rt"], rows));
  const sorted = [...ratios].sort((x, y) => x - y);
  const quartile = (q: number) => (sorted[Math.floor(q * (sorted.length - 1))] - 1) * 100;
  const share = (median(ratios) - 1) * 100;
  const lookupUs = share / 100 * 1e6 / rates[CONFERENCE_OFF];
  console.log(
    `\naffinity lookup per request: ${fmt(lookupUs, 2)} µs, ` +
      `${fmt(share, 1)} % of the conference pipeline without affinity ` +
      `(median of ${ratios.length} alternating pairs, middle half ${fmt(quartile(0.25), 1)} to ` +
      `${fmt(quartile(0.75), 1)} %; target: within 10 %)`,
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

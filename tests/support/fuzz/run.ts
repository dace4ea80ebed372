/**
 * The router fuzzer's runner: drives one Router through a scenario and has
 * the model check every step. The generators are in arbitraries.ts, the
 * model (an observer, not a second router) in model/, the known bugs it
 * may let pass in tolerances.ts.
 */
import { type Effects, Router, type RouterSettings } from "../../../src/core/router.ts";
import { parseXml, xml, type XmlElement } from "../../../src/core/xml.ts";
import { domainOf, mulberry32, mulberry32Bits, show } from "./helpers.ts";
import { checkSent, type Op, post } from "./model/checks.ts";
import * as lifecycle from "./model/lifecycle.ts";
import { receive } from "./model/receive.ts";
import { checkServicePresence, isServicePresence } from "./model/service_presence.ts";
import { handOver, takeOver } from "./model/standby.ts";
import { redrain } from "./model/target_presence.ts";
import { Model, Violation } from "./model/state.ts";
import type { Dt, HeldAction, Scenario } from "./scenario.ts";
import { Standby } from "./standby.ts";
import { actionStanzas } from "./stanzas.ts";
import type { RunStats } from "./stats.ts";
import { KNOWN_BUGS, type Tolerances } from "./tolerances.ts";
import { roundTrip, Wire } from "./wire.ts";

/** Stanzas the router sends to its own domain come back; more than this per action is a loop. */
const MAX_LOOPBACK = 50;

/** How to run scenarios. */
export interface RunOptions {
  /** Which known bugs to let pass (default {@link KNOWN_BUGS}). */
  readonly tolerate?: Tolerances;
  /** Makes the router under test (default: `new Router`); tests pass broken ones. */
  readonly makeRouter?: (
    settings: RouterSettings,
    options: {
      random: () => number;
      randomBits: () => number;
      storedSubscribers: () => Iterable<string> | undefined;
      storedPins: () => Iterable<readonly [string, string]>;
    },
  ) => Router;
}

interface Trace {
  readonly step: number;
  readonly now: number;
  readonly op: Op;
  readonly incoming?: XmlElement;
  readonly out: readonly XmlElement[];
}

/** Runs one scenario, checking every step; throws a {@link Violation} with the last steps. */
export function runScenario(scenario: Scenario, options: RunOptions = {}): RunStats {
  const { settings, world } = scenario;
  const { domain } = settings;
  const random = mulberry32(scenario.randomSeed);
  // The tokens' source is the shell's secure one: here a stream of its own.
  const randomBits = mulberry32Bits(~scenario.randomSeed);
  // The shell's store of affinity pins (state_dir), kept from the events.
  const pins = new Map<string, string>();
  const storedPins = () => [...pins];
  // And of the subscribers (presence: true), kept the same way.
  const subscribers = new Set(world.subscribers);
  // The link, through hand-overs to another instance and looks from standby.
  const standby = new Standby(scenario, { pins, subscribers });
  const storedSubscribers = () => standby.readable ? [...subscribers] : undefined;
  const stored = () => ({ pins: [...pins], subscribers: [...subscribers] });
  const routerOptions = { random, randomBits, storedSubscribers, storedPins };
  const make = (current: RouterSettings, opts: typeof routerOptions) =>
    options.makeRouter?.(current, opts) ?? new Router(current, opts);
  let router = make(settings, routerOptions);
  let model: Model = new Model(settings, options.tolerate ?? KNOWN_BUGS, world.subscribers);
  const trace: Trace[] = [];
  const loopback: XmlElement[] = [];
  const wire = new Wire(domain);

  const step = (op: Op, run: () => Effects | void, incoming?: XmlElement) => {
    const n = model.stats.steps++;
    let out: XmlElement[] = [];
    try {
      let fx: Effects | void;
      try {
        fx = run();
      } catch (error) {
        throw new Violation(`(1) the router threw: ${(error as Error)?.stack ?? error}`);
      }
      out = fx ? fx.send : [];
      for (const event of fx ? fx.events : []) {
        if (event.type === "pinned") {
          pins.delete(event.key);
          pins.set(event.key, event.resource);
        } else if (event.type === "unpinned") { for (const key of event.keys) pins.delete(key); }
        else if (event.type === "subscriber") {
          if (event.change === "add") subscribers.add(event.jid);
          else subscribers.delete(event.jid);
        }
      }
      trace.push({ step: n, now: model.now, op, incoming, out });
      if (trace.length > 12) trace.shift();
      for (const s of out) {
        checkSent(model, s, incoming);
        if (scenario.roundTrip) roundTrip(model, s);
      }
      // The service's presence to users is checked on its own, after the step.
      const service = out.filter((s) => isServicePresence(model, s));
      const rest = service.length === 0 ? out : out.filter((s) => !isServicePresence(model, s));
      switch (op) {
        case "receive":
          receive(model, incoming!, rest);
          break;
        case "tick":
          lifecycle.tick(model, rest);
          break;
        case "online":
          lifecycle.online(model, rest, standby.readable);
          break;
        case "look":
          lifecycle.online(model, rest, standby.readable, true);
          break;
        case "hand-over":
          handOver(model, rest, stored());
          break;
        case "take-over":
          takeOver(model, rest, stored(), standby.readable);
          break;
        case "settle":
          lifecycle.settle(model, rest);
          break;
        case "reload":
          redrain(model, rest);
          break;
        default:
          model.check(rest.length === 0, `${op} sent stanzas`);
      }
      checkServicePresence(model, service);
      post(model, router, op);
    } catch (error) {
      if (!(error instanceof Violation)) throw error;
      throw new Violation(
        `step ${n} (${op} at ${model.now}): ${error.message}\n${formatTrace(trace, scenario)}`,
      );
    }
    if (scenario.loopback) {
      for (const s of out) {
        if (s.attrs.to !== undefined && domainOf(s.attrs.to) === domain) {
          loopback.push(parseXml(s.toString()));
        }
      }
    }
  };

  const tick = () => step("tick", () => router.tick(model.now));

  const advance = (dt: Dt) => {
    const t = model.settings.requestTimeoutMs;
    const by = dt === "t-1" ? Math.max(0, t - 1) : dt === "t" ? t : dt === "t+1" ? t + 1 : dt;
    const to = model.now + by;
    if (scenario.timers) {
      // The shell's timer: a tick at each wake-up that passes.
      for (
        let wake = router.nextWake();
        wake !== undefined && wake <= to;
        wake = router.nextWake()
      ) {
        model.now = Math.max(model.now, wake);
        tick();
        if (router.nextWake() === wake) break; // checked by post(); do not spin
      }
    }
    model.now = to;
  };

  /** `late`: carried over from a closed stream, it arrived that many ms ago. */
  const deliver = (built: XmlElement, late = 0) => {
    const el = scenario.roundTrip ? wire.read(built) : built;
    if (!standby.intercept(el, model)) serve(el, late);
  };

  const serve = (el: XmlElement, late = 0) => {
    model.arrivedAt = late > 0 ? model.now - late : undefined;
    try {
      step("receive", () => router.receive(el, model.now, model.arrivedAt), el);
    } finally {
      model.arrivedAt = undefined;
    }
    let budget = MAX_LOOPBACK;
    while (loopback.length > 0) {
      model.check(budget-- > 0, "stanzas keep bouncing between the router and its own domain");
      const back = loopback.shift()!;
      step("receive", () => router.receive(back, model.now), back);
    }
  };

  let { stanzaOf, presenceOf, replyOf, targetStanzaOf, targetJid } = actionStanzas(
    scenario,
    model,
  );

  const arrive = (action: HeldAction) => {
    advance(action.dt);
    switch (action.kind) {
      case "stanza":
        for (let i = 0; i < action.copies; i++) deliver(stanzaOf(action), action.late);
        break;
      case "presence":
        return deliver(presenceOf(action));
      case "reply":
        return deliver(replyOf(action));
      case "target-stanza":
        return deliver(targetStanzaOf(action), action.late);
    }
  };
  const runner = {
    step,
    advance,
    arrive,
    deliver: serve,
    router: () => router,
    model: () => model,
  };

  if (scenario.online) step("online", () => router.online(model.now));
  for (let i = 0; i < scenario.initialResources; i++) {
    deliver(xml("presence", { from: targetJid(i), to: domain }));
  }
  for (const action of scenario.actions) {
    switch (action.kind) {
      case "stanza":
      case "presence":
      case "reply":
      case "target-stanza":
        arrive(action);
        break;
      case "tick":
        advance(action.dt);
        tick();
        break;
      case "online":
        advance(action.dt);
        // A standby's next stream is a look: see "hand-over".
        if (standby.state !== "serving") break;
        step("online", () => router.online(model.now));
        for (let i = 0; i < action.back; i++) {
          deliver(xml("presence", { from: targetJid(i), to: domain }));
        }
        break;
      case "restart": {
        advance(action.dt);
        // What the process loses goes; what the store keeps stays.
        // Each process its own randomness, as a real restart has: distinct for every restart.
        const seed = (scenario.randomSeed ^ Math.imul(model.stats.restarts + 1, 0x9e3779b9)) >>> 0;
        router = make(router.settings, {
          random: mulberry32(seed),
          randomBits: mulberry32Bits(~seed),
          storedSubscribers,
          storedPins,
        });
        model = model.restarted();
        standby.restarted();
        ({ stanzaOf, presenceOf, replyOf, targetStanzaOf, targetJid } = actionStanzas(
          scenario,
          model,
        ));
        model.stats.restarts++;
        step("online", () => router.online(model.now));
        for (let i = 0; i < action.back; i++) {
          deliver(xml("presence", { from: targetJid(i), to: domain }));
        }
        break;
      }
      case "reload": {
        const { resources } = scenario.world;
        const drain = action.drain?.map((i) => resources[i % resources.length]);
        const next = { ...router.settings, ...action.settings, ...(drain ? { drain } : {}) };
        step("reload", () => {
          const fx = router.reconfigure(next, model.now);
          lifecycle.reload(model, next);
          model.maxPendingEver = Math.max(model.maxPendingEver, next.maxPending);
          model.maxTimeoutEver = Math.max(model.maxTimeoutEver, next.requestTimeoutMs);
          return fx;
        });
        break;
      }
      case "drain":
        step("drain", () => {
          router.drain();
          model.accepting = false;
        });
        break;
      case "hand-over":
        standby.play(action, runner);
        break;
      case "storm":
        for (const item of action.items) {
          advance(item.dt);
          deliver(item.kind === "presence" ? presenceOf(item) : stanzaOf(item));
        }
        break;
    }
  }
  switch (scenario.ending) {
    case "settle": {
      // A standby's stream is closed: what its shutdown would say goes nowhere.
      if (standby.state !== "serving") break;
      step("drain", () => {
        router.drain();
        model.accepting = false;
      });
      step("settle", () => router.settleAll(model.now));
      // Late replies to what was settled are dropped.
      for (const req of [...model.recent].slice(-3)) {
        deliver(xml("iq", {
          type: "result",
          id: req.id,
          from: req.resourceJid,
          to: `${domain}/${req.via}`,
        }));
      }
      break;
    }
    case "expire":
      model.now += model.maxTimeoutEver + 1;
      tick();
      model.check(model.live.size === 0, "requests pending after every deadline passed");
      break;
  }
  return model.stats;
}

function formatTrace(trace: readonly Trace[], scenario: Scenario): string {
  const lines = [
    `settings: ${JSON.stringify(scenario.settings)}; timers=${scenario.timers} ` +
    `loopback=${scenario.loopback}`,
    "last steps:",
  ];
  for (const t of trace) {
    lines.push(`  #${t.step} ${t.op} at ${t.now}${t.incoming ? `: ${show(t.incoming)}` : ""}`);
    for (const s of t.out) lines.push(`      -> ${show(s)}`);
  }
  return lines.join("\n");
}

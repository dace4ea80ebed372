/**
 * The sibling decision (src/link/sibling.ts), transition by transition:
 * events in, decisions out, time given by the test. Stanzas are strings
 * here; the link applies the decisions (tests/link/connection_test.ts).
 */
import assert from "node:assert/strict";
import { type Instance, pingPrefix, type SelfPing } from "../../src/link/self_ping.ts";
import type { Verdict } from "../../src/link/proof.ts";
import {
  LOOK_MS,
  PROBE_GAP_MS,
  RELAY_DRAIN_MS,
  SIBLING_MEMORY_MS,
  type SiblingDecision,
  SiblingWatch,
} from "../../src/link/sibling.ts";

const T0 = 1_700_000_000_000;
/** The instance that serves (online first). */
const ACTIVE: Instance = { id: "0123abcd", since: T0 };
/** An instance that came later. */
const LATER: Instance = { id: "9876fedc", since: T0 + 60_000 };

/** A self-ping of `from` (its n-th), its proof holding. */
function ping(from: Instance, n = 0): SelfPing {
  return { type: "get", id: pingPrefix(from) + n, by: undefined, asks: true, verdict: "valid" };
}

/** The answer `by` an instance to the ping `id`, its proof holding. */
function answer(id: string, by: Instance): SelfPing {
  return { type: "result", id, by: pingPrefix(by), asks: false, verdict: "valid" };
}

/** What ejabberd hands back when a ping (or its answer) found no connection. */
function bounce(of: SelfPing): SelfPing {
  return { ...of, type: "error", asks: false, verdict: "missing" };
}

/** `genuine` with a proof that does not hold. */
function forged(genuine: SelfPing, verdict: Exclude<Verdict, "valid">): SelfPing {
  return { ...genuine, verdict };
}

const FAILURES = ["missing", "bad", "stale", "replayed"] as const;

/** The decisions, by kind only. */
function kinds(decisions: readonly SiblingDecision<string>[]): string[] {
  return decisions.map((decision) => decision.kind);
}

/** The link's stream opened as `self` and online. */
function online(self: Instance, look: boolean): { watch: SiblingWatch<string>; stream: number } {
  const watch = new SiblingWatch<string>();
  const stream = watch.open(self, look);
  const decisions = watch.online();
  assert.deepEqual(decisions, look ? [{ kind: "look", stream, inMs: LOOK_MS }] : []);
  return { watch, stream };
}

Deno.test("sibling: a serving stream serves what arrives; its end is no standby", () => {
  const { watch } = online(ACTIVE, false);
  assert.equal(watch.route("a"), "serve");
  assert.equal(watch.route("b"), "serve");
  assert.equal(watch.ended(), false);
});

Deno.test("sibling: a look holds what arrives and, its time up, takes over with it in order", () => {
  const watch = new SiblingWatch<string>();
  const stream = watch.open(LATER, true);
  // Held from the start, before the stream is even online.
  assert.equal(watch.route("early"), "hold");
  assert.deepEqual(watch.online(), [{ kind: "look", stream, inMs: LOOK_MS }]);
  assert.equal(watch.route("a"), "hold");
  assert.deepEqual(watch.lookOver(stream), [{ kind: "take-over", held: ["early", "a"] }]);
  assert.equal(watch.route("b"), "serve");
  // Taken over once: a second end of the look is nothing.
  assert.deepEqual(watch.lookOver(stream), []);
  assert.equal(watch.ended(), false);
});

Deno.test("sibling: a look steps back on an older sibling's ping from the server, relaying what it held", () => {
  const { watch, stream } = online(LATER, true);
  assert.equal(watch.route("a"), "hold");
  assert.equal(watch.route("b"), "hold");
  const seen = ping(ACTIVE, 3);
  assert.deepEqual(watch.selfPing(seen, false, "ping", T0 + 70_000), [
    { kind: "seen", sibling: ACTIVE, ping: seen },
    {
      kind: "step-back",
      sibling: ACTIVE.id,
      report: true,
      relay: ["a", "b"],
      closeInMs: RELAY_DRAIN_MS,
    },
  ]);
  // Until the stream closes, everything goes on to the sibling.
  assert.equal(watch.route("c"), "relay");
  // The look's time up: nothing to take over.
  assert.deepEqual(watch.lookOver(stream), []);
  assert.equal(watch.ended(), true, "stands by");
});

Deno.test("sibling: a serving stream steps back too when an older sibling shows itself", () => {
  const { watch } = online(LATER, false);
  assert.equal(watch.route("a"), "serve");
  const decisions = watch.selfPing(ping(ACTIVE), false, "ping", T0 + 70_000);
  assert.deepEqual(kinds(decisions), ["seen", "step-back"]);
  assert.deepEqual(decisions[1], {
    kind: "step-back",
    sibling: ACTIVE.id,
    report: true,
    relay: [],
    closeInMs: RELAY_DRAIN_MS,
  });
  assert.equal(watch.route("b"), "relay");
  assert.equal(watch.ended(), true);
});

Deno.test("sibling: the older sibling's answer to our ping shows it (by its signature)", () => {
  const { watch } = online(LATER, true);
  const ours = pingPrefix(LATER) + "0";
  const decisions = watch.selfPing(answer(ours, ACTIVE), false, "answer", T0 + 70_000);
  assert.deepEqual(kinds(decisions), ["seen", "step-back"]);
  assert.equal(decisions[0].kind === "seen" && decisions[0].sibling.id, ACTIVE.id);
});

Deno.test("sibling: the answer to a sibling's own ping reaching a look shows it, and goes on to it", () => {
  const { watch } = online(LATER, true);
  const theirs = answer(pingPrefix(ACTIVE) + "5", ACTIVE);
  const decisions = watch.selfPing(theirs, false, "their answer", T0 + 70_000);
  // Both marks name the sibling: seen twice, one step back; then the answer
  // is relayed, or the sibling's keepalive would think its link dead.
  assert.deepEqual(kinds(decisions), ["seen", "step-back", "seen", "relay"]);
  assert.deepEqual(decisions[3], { kind: "relay", stanza: "their answer" });
});

Deno.test("sibling: a newer sibling's answer reaching a look: it serves on, the answer held with the rest", () => {
  // The newer one steps back itself; the answer stays with what the look
  // holds, and goes wherever that goes.
  const { watch, stream } = online(ACTIVE, true);
  const theirs = answer(pingPrefix(LATER) + "1", LATER);
  assert.deepEqual(kinds(watch.selfPing(theirs, false, "their answer", T0 + 70_000)), [
    "seen",
    "serve-on",
    "seen",
    "serve-on",
  ]);
  assert.deepEqual(watch.lookOver(stream), [{ kind: "take-over", held: ["their answer"] }]);
});

Deno.test("sibling: a newer sibling: we serve on, say so once, and probe at most once a second", () => {
  const { watch } = online(ACTIVE, false);
  const at = T0 + 70_000;
  const first = watch.selfPing(ping(LATER, 0), false, "ping", at);
  assert.deepEqual(first, [
    { kind: "seen", sibling: LATER, ping: ping(LATER, 0) },
    { kind: "serve-on", sibling: LATER.id, report: true, probe: true },
  ]);
  assert.deepEqual(watch.selfPing(ping(LATER, 1), false, "ping", at + PROBE_GAP_MS)[1], {
    kind: "serve-on",
    sibling: LATER.id,
    report: false,
    probe: false,
  });
  assert.deepEqual(watch.selfPing(ping(LATER, 2), false, "ping", at + PROBE_GAP_MS + 1)[1], {
    kind: "serve-on",
    sibling: LATER.id,
    report: false,
    probe: true,
  });
  // An answer to its ping, while we serve: no more than evidence.
  const theirs = answer(pingPrefix(LATER) + "3", LATER);
  assert.deepEqual(kinds(watch.selfPing(theirs, false, "answer", at + 5_000)), [
    "seen",
    "serve-on",
    "seen",
    "serve-on",
  ]);
  assert.equal(watch.route("a"), "serve");
  assert.equal(watch.ended(), false);
});

Deno.test("sibling: online since the same moment, the lower id serves", () => {
  const low: Instance = { id: "00000001", since: T0 };
  const high: Instance = { id: "00000002", since: T0 };
  const lowWatch = online(low, false).watch;
  assert.deepEqual(kinds(lowWatch.selfPing(ping(high), false, "p", T0)), ["seen", "serve-on"]);
  const highWatch = online(high, false).watch;
  assert.deepEqual(kinds(highWatch.selfPing(ping(low), false, "p", T0)), ["seen", "step-back"]);
});

Deno.test("sibling: our own ping from an earlier stream of this process is no sibling", () => {
  const earlier: Instance = { id: LATER.id, since: LATER.since - 5_000 };
  const { watch, stream } = online(LATER, true);
  assert.deepEqual(watch.selfPing(ping(earlier), false, "ping", T0 + 70_000), []);
  assert.deepEqual(watch.selfPing(answer(pingPrefix(earlier) + "2", earlier), false, "a", T0), []);
  assert.deepEqual(watch.lookOver(stream), [{ kind: "take-over", held: [] }]);
});

Deno.test("sibling: stepping back happens once; a sibling is said once per process", () => {
  const watch = new SiblingWatch<string>();
  // First stream: older than LATER, which is reported as serving beside us.
  watch.open(ACTIVE, false);
  const serving = watch.selfPing(ping(LATER), false, "p", T0 + 70_000);
  assert.deepEqual(serving[1], { kind: "serve-on", sibling: LATER.id, report: true, probe: true });
  assert.equal(watch.ended(), false);
  // A later stream of ours is newer than LATER: we step back, without saying it again.
  const again: Instance = { id: ACTIVE.id, since: LATER.since + 1 };
  watch.open(again, false);
  const back = watch.selfPing(ping(LATER), false, "p", T0 + 80_000);
  assert.deepEqual(back[1], {
    kind: "step-back",
    sibling: LATER.id,
    report: false,
    relay: [],
    closeInMs: RELAY_DRAIN_MS,
  });
  // More evidence while stepping back: seen, nothing more.
  assert.deepEqual(kinds(watch.selfPing(ping(LATER, 1), false, "p", T0 + 80_010)), ["seen"]);
  const other: Instance = { id: "5555aaaa", since: T0 - 1 };
  assert.deepEqual(kinds(watch.selfPing(ping(other), false, "p", T0 + 80_020)), ["seen"]);
  assert.equal(watch.ended(), true);
});

Deno.test("sibling: a look's end from an earlier stream, or after its stream ended, is nothing", () => {
  const watch = new SiblingWatch<string>();
  const first = watch.open(LATER, true);
  watch.online();
  assert.equal(watch.route("a"), "hold");
  assert.equal(watch.ended(), false);
  // What arrives once the stream is over goes nowhere, and its look never takes over.
  assert.equal(watch.route("late"), "drop");
  assert.deepEqual(watch.lookOver(first), []);
  const second = watch.open({ ...LATER, since: LATER.since + 3_000 }, true);
  watch.online();
  assert.equal(watch.route("b"), "hold");
  assert.deepEqual(watch.lookOver(first), []);
  assert.deepEqual(watch.lookOver(second), [{ kind: "take-over", held: ["b"] }]);
});

Deno.test("sibling: bounces of a killed sibling's pings and answers are no sign of it: the look takes over", () => {
  // The ejabberd takeover test failed this way (5e1cdb7): the active
  // instance killed, ejabberd bounced what it had sent, seconds later, and
  // each look stepped back for an instance that was gone.
  const { watch, stream } = online(LATER, true);
  assert.deepEqual(watch.selfPing(bounce(ping(ACTIVE, 7)), false, "bounce", T0 + 70_000), []);
  const theirAnswer = answer(pingPrefix(LATER) + "1", ACTIVE);
  assert.deepEqual(watch.selfPing(bounce(theirAnswer), false, "bounce", T0 + 70_010), []);
  assert.equal(watch.route("request"), "hold");
  // Bounces are not held for the owner either.
  assert.deepEqual(watch.lookOver(stream), [{ kind: "take-over", held: ["request"] }]);
  assert.equal(watch.ended(), false);
});

Deno.test("sibling: a look's own relays coming back are no sign of the gone sibling: the look takes over", () => {
  // The takeover test failed this way too (3acf184): what a standby relayed
  // to its sibling came back to it once the sibling was gone, and the pings
  // inside kept it from taking over, look after look.
  const { watch, stream } = online(LATER, true);
  assert.deepEqual(watch.selfPing(ping(ACTIVE, 2), true, "relayed ping", T0 + 70_000), []);
  const theirAnswer = answer(pingPrefix(ACTIVE) + "4", ACTIVE);
  // An answer to the sibling's ping is still passed on: held, like the rest.
  assert.deepEqual(watch.selfPing(theirAnswer, true, "relayed answer", T0 + 70_010), []);
  assert.deepEqual(watch.lookOver(stream), [{ kind: "take-over", held: ["relayed answer"] }]);
  assert.equal(watch.route("request"), "serve");
});

Deno.test("sibling: after taking over, the killed instance's bounces and relays do not make it step back", () => {
  const { watch, stream } = online(LATER, true);
  assert.deepEqual(kinds(watch.lookOver(stream)), ["take-over"]);
  const theirs = answer(pingPrefix(ACTIVE) + "9", ACTIVE);
  assert.deepEqual(watch.selfPing(bounce(ping(ACTIVE, 8)), false, "bounce", T0 + 71_000), []);
  assert.deepEqual(watch.selfPing(bounce(theirs), false, "bounce", T0 + 71_000), []);
  assert.deepEqual(watch.selfPing(ping(ACTIVE, 8), true, "relayed", T0 + 71_000), []);
  assert.deepEqual(watch.selfPing(theirs, true, "relayed", T0 + 71_000), []);
  assert.equal(watch.route("request"), "serve");
  assert.equal(watch.ended(), false);
});

Deno.test("sibling: a standby's whole story: step back, look while the sibling lives, take over once it is killed", () => {
  const watch = new SiblingWatch<string>();
  let now = T0 + 60_000;
  const self = (): Instance => ({ id: LATER.id, since: now });
  // Started beside the active instance: serves, finds it, steps back.
  watch.open(self(), false);
  watch.online();
  assert.deepEqual(kinds(watch.selfPing(ping(ACTIVE), false, "p", now + 10)), [
    "seen",
    "step-back",
  ]);
  assert.equal(watch.ended(), true);
  // A look while the active instance lives: it answers our probe; back again, quietly.
  now += 6_000;
  const look = watch.open(self(), true);
  assert.deepEqual(watch.online(), [{ kind: "look", stream: look, inMs: LOOK_MS }]);
  assert.equal(watch.route("r1"), "hold");
  const answered = watch.selfPing(answer(pingPrefix(self()) + "0", ACTIVE), false, "a", now + 20);
  assert.deepEqual(answered[1], {
    kind: "step-back",
    sibling: ACTIVE.id,
    report: false,
    relay: ["r1"],
    closeInMs: RELAY_DRAIN_MS,
  });
  assert.equal(watch.ended(), true);
  // The active instance killed: bounces and our relays come back; the look takes over.
  now += 6_000;
  const last = watch.open(self(), true);
  watch.online();
  assert.deepEqual(watch.selfPing(bounce(ping(ACTIVE, 40)), false, "b", now + 5), []);
  assert.deepEqual(watch.selfPing(ping(ACTIVE, 39), true, "relayed", now + 6), []);
  assert.equal(watch.route("r2"), "hold");
  assert.deepEqual(watch.lookOver(last), [{ kind: "take-over", held: ["r2"] }]);
  assert.equal(watch.route("r3"), "serve");
  assert.equal(watch.ended(), false, "no standby after taking over");
});

// --- forged and replayed evidence ------------------------------------------------

Deno.test("sibling: a forged ping of an 'older instance' never makes a serving stream stand down", () => {
  const { watch } = online(ACTIVE, false);
  // Claims to be online since before us: genuine, it would make us step back.
  const ancient: Instance = { id: "00000000", since: T0 - 60_000 };
  for (const verdict of FAILURES) {
    const fake = forged(ping(ancient, 1), verdict);
    assert.deepEqual(watch.selfPing(fake, false, "ping", T0 + 70_000), [
      { kind: "forged", ping: fake, verdict },
    ]);
    const fakeAnswer = forged(answer(pingPrefix(ACTIVE) + "1", ancient), verdict);
    assert.deepEqual(kinds(watch.selfPing(fakeAnswer, false, "answer", T0 + 70_000)), ["forged"]);
  }
  assert.equal(watch.route("request"), "serve", "still serving");
  // The genuine one still works.
  assert.deepEqual(kinds(watch.selfPing(ping(ancient, 2), false, "p", T0 + 70_001)), [
    "seen",
    "step-back",
  ]);
});

Deno.test("sibling: a forged answer reaching a look is neither evidence nor held: the look takes over", () => {
  const { watch, stream } = online(LATER, true);
  for (const verdict of FAILURES) {
    const theirs = forged(answer(pingPrefix(ACTIVE) + "5", ACTIVE), verdict);
    assert.deepEqual(kinds(watch.selfPing(theirs, false, "their answer", T0 + 70_000)), [
      "forged",
    ]);
  }
  assert.equal(watch.route("request"), "hold");
  assert.deepEqual(watch.lookOver(stream), [{ kind: "take-over", held: ["request"] }]);
});

Deno.test("sibling: a forged answer to a sibling's ping is not passed on while stepping back", () => {
  const { watch } = online(LATER, false);
  assert.deepEqual(kinds(watch.selfPing(ping(ACTIVE), false, "p", T0 + 70_000)), [
    "seen",
    "step-back",
  ]);
  const theirs = forged(answer(pingPrefix(ACTIVE) + "5", LATER), "replayed");
  assert.deepEqual(kinds(watch.selfPing(theirs, false, "answer", T0 + 70_010)), ["forged"]);
  // A genuine one is.
  const genuine = answer(pingPrefix(ACTIVE) + "6", LATER);
  assert.deepEqual(kinds(watch.selfPing(genuine, false, "answer", T0 + 70_020)), [
    "seen",
    "relay",
  ]);
});

Deno.test("sibling: with no sibling ever seen (one connection per domain), our own relays are not taken", () => {
  const { watch } = online(ACTIVE, false);
  const ours = pingPrefix(ACTIVE);
  assert.equal(watch.relayFrom(ours, T0 + 1), false);
  assert.equal(watch.relayFrom(pingPrefix({ ...ACTIVE, since: T0 - 5_000 }), T0 + 1), false);
  // Forged evidence is none either.
  watch.selfPing(forged(ping(LATER), "bad"), false, "p", T0 + 2);
  assert.equal(watch.relayFrom(ours, T0 + 3), false);
  // Nor is a name that is no stream's.
  assert.equal(watch.relayFrom("mallory", T0 + 4), false);
});

Deno.test("sibling: another instance's relay shows it connected, and is taken", () => {
  const { watch } = online(ACTIVE, false);
  assert.equal(watch.relayFrom(pingPrefix(LATER), T0 + 70_000), true);
  // Then our own come back too, for a while.
  assert.equal(watch.relayFrom(pingPrefix(ACTIVE), T0 + 70_000 + SIBLING_MEMORY_MS), true);
  assert.equal(watch.relayFrom(pingPrefix(ACTIVE), T0 + 70_001 + SIBLING_MEMORY_MS), false);
});

Deno.test("sibling: a standby's own relays, come back after the sibling died, are taken by its look", () => {
  const watch = new SiblingWatch<string>();
  let now = T0 + 60_000;
  const self = (): Instance => ({ id: LATER.id, since: now });
  watch.open(self(), false);
  watch.online();
  assert.deepEqual(kinds(watch.selfPing(ping(ACTIVE), false, "p", now + 10)), [
    "seen",
    "step-back",
  ]);
  const steppedBackAs = pingPrefix(self());
  assert.equal(watch.ended(), true);
  now += 6_000;
  const look = watch.open(self(), true);
  watch.online();
  // What it relayed then comes back now: the sibling it was for is gone.
  assert.equal(watch.relayFrom(steppedBackAs, now + 5), true);
  assert.deepEqual(watch.lookOver(look), [{ kind: "take-over", held: [] }]);
});

Deno.test("sibling: each new stream of a newer sibling (a look) is probed for at once, however soon", () => {
  const { watch } = online(ACTIVE, false);
  const at = T0 + 70_000;
  assert.equal(watch.selfPing(ping(LATER, 0), false, "p", at)[1].kind, "serve-on");
  // Its next look, 300 ms later: a new stream, probed for again at once.
  const look: Instance = { ...LATER, since: LATER.since + 300 };
  assert.deepEqual(watch.selfPing(ping(look, 0), false, "p", at + 300)[1], {
    kind: "serve-on",
    sibling: LATER.id,
    report: false,
    probe: true,
  });
  // Its other pings within the second: no more probes.
  assert.deepEqual(watch.selfPing(ping(look, 1), false, "p", at + 320)[1], {
    kind: "serve-on",
    sibling: LATER.id,
    report: false,
    probe: false,
  });
});

/** The service's own presence, through the router (presence: true). */
import assert from "node:assert/strict";
import type { Effects, Router, RouterSettings } from "../../src/core/router.ts";
import { parseXml } from "../../src/core/xml.ts";
import { DOMAIN, TARGET, testRouter } from "../support/router.ts";

function router(settings: Partial<RouterSettings> = {}, subscribers: string[] = []): Router {
  return testRouter({
    requestTimeoutMs: 1000,
    maxPendingPerResource: 10,
    maxPending: 10,
    presence: true,
    ...settings,
  }, { subscribers });
}

const from = (jid: string, type?: string) =>
  parseXml(`<presence${type ? ` type="${type}"` : ""} from="${jid}" to="${DOMAIN}"/>`);
const resourceUp = (name: string) => from(`${TARGET}/${name}`);
const resourceDown = (name: string) => from(`${TARGET}/${name}`, "unavailable");

function lines(fx: Effects): string[] {
  return fx.send.map(String);
}

function presenceTo(to: string, type?: string): string {
  return `<presence${type ? ` type="${type}"` : ""} to="${to}" from="${DOMAIN}"/>`;
}

Deno.test("default off: a user's subscribe gets bad-request, as mod_client_proxy answers", () => {
  const fx = router({ presence: undefined }).receive(from("alice@example.org/r", "subscribe"), 0);
  assert.equal(fx.send.length, 1);
  assert.equal(fx.send[0].attrs.type, "error");
  assert.ok(fx.send[0].getChild("error")?.getChild("bad-request"));
});

Deno.test("subscribe: remembered (an event to persist), subscribed, then the current availability", () => {
  const r = router();
  const fx = r.receive(from("Alice@Example.org/r", "subscribe"), 0);
  assert.deepEqual(fx.events.filter((e) => e.type === "subscriber"), [
    { type: "subscriber", change: "add", jid: "alice@example.org" },
  ]);
  assert.deepEqual(lines(fx), [
    presenceTo("alice@example.org", "subscribed"),
    presenceTo("alice@example.org", "unavailable"),
  ]);
  // A second subscribe is answered again but is not a change to persist.
  const again = r.receive(from("alice@example.org/other", "subscribe"), 0);
  assert.deepEqual(again.events.filter((e) => e.type === "subscriber"), []);
  assert.equal(again.send.length, 2);
});

Deno.test("probe: answered with availability: available while a target resource is online", () => {
  const r = router();
  assert.deepEqual(lines(r.receive(from("bob@example.org/x", "probe"), 0)), [
    presenceTo("bob@example.org/x", "unavailable"),
  ]);
  r.receive(resourceUp("a"), 0);
  assert.deepEqual(lines(r.receive(from("bob@example.org/x", "probe"), 0)), [
    presenceTo("bob@example.org/x"),
  ]);
});

Deno.test("every subscriber is told when availability changes, and only then", () => {
  const r = router({}, ["alice@example.org", "bob@example.org"]);
  const up = r.receive(resourceUp("a"), 10);
  assert.deepEqual(lines(up).filter((l) => l.startsWith("<presence")), [
    presenceTo("alice@example.org"),
    presenceTo("bob@example.org"),
  ]);
  assert.deepEqual(lines(r.receive(resourceUp("b"), 11)), [], "still available: nothing to say");
  assert.deepEqual(lines(r.receive(resourceDown("a"), 12)), []);
  assert.deepEqual(lines(r.receive(resourceDown("b"), 13)), [
    presenceTo("alice@example.org", "unavailable"),
    presenceTo("bob@example.org", "unavailable"),
  ]);
});

Deno.test("unsubscribe and unsubscribed forget the subscriber", () => {
  const r = router({}, ["alice@example.org", "bob@example.org"]);
  const fx = r.receive(from("alice@example.org/r", "unsubscribe"), 0);
  assert.deepEqual(fx.events.filter((e) => e.type === "subscriber"), [
    { type: "subscriber", change: "remove", jid: "alice@example.org" },
  ]);
  // RFC 6121 §3.3.3: who stops following the service sees it go.
  assert.deepEqual(lines(fx), [presenceTo("alice@example.org", "unavailable")]);
  assert.deepEqual(lines(r.receive(from("alice@example.org/r", "unsubscribe"), 0)), []);
  r.receive(from("bob@example.org", "unsubscribed"), 0);
  assert.deepEqual(lines(r.receive(resourceUp("a"), 1)), []);
});

Deno.test("started on stored subscribers: announces as soon as resources are known, or after a wait", () => {
  const r = router({}, ["alice@example.org"]);
  assert.equal(r.nextWake(), 2000);
  assert.deepEqual(lines(r.tick(1999)), []);
  assert.deepEqual(lines(r.tick(2000)), [presenceTo("alice@example.org", "unavailable")]);
  assert.equal(r.nextWake(), undefined);
  // A reconnect starts over: the first resource is announced at once.
  r.online(5000);
  const up = r.receive(resourceUp("a"), 5001);
  assert.ok(lines(up).includes(presenceTo("alice@example.org")));
  assert.deepEqual(lines(r.tick(7000)), [], "nothing more once announced");
});

Deno.test("a reload turning presence off leaves no announcement due", () => {
  const r = router({}, ["alice@example.org"]);
  assert.equal(r.nextWake(), 2000);
  r.reconfigure({ ...r.settings, presence: false }, 5);
  assert.equal(r.nextWake(), undefined, "the shell's timer would spin on it");
  assert.deepEqual(lines(r.tick(2000)), []);
});

Deno.test("a reload turning presence off tells subscribers the service is gone; on again, that it is back", () => {
  const r = router({}, ["alice@example.org"]);
  assert.deepEqual(lines(r.receive(resourceUp("a"), 10)), [presenceTo("alice@example.org")]);
  const off = r.reconfigure({ ...r.settings, presence: false }, 15);
  assert.deepEqual(lines(off), [presenceTo("alice@example.org", "unavailable")]);
  // Off: availability changes are nobody's business, a shutdown tells nothing more.
  assert.deepEqual(lines(r.receive(resourceDown("a"), 20)), []);
  assert.deepEqual(lines(r.receive(resourceUp("b"), 30)), []);
  const on = r.reconfigure({ ...r.settings, presence: true }, 40);
  assert.deepEqual(lines(on), [presenceTo("alice@example.org")]);
  assert.deepEqual(lines(r.reconfigure({ ...r.settings }, 50)), [], "no change, nothing said");
});

Deno.test("presence turned on while no resource is online: said after the wait a reconnect has", () => {
  const r = router({}, ["alice@example.org"]);
  r.receive(resourceUp("a"), 10);
  r.reconfigure({ ...r.settings, presence: false }, 15);
  r.receive(resourceDown("a"), 20);
  assert.deepEqual(lines(r.reconfigure({ ...r.settings, presence: true }, 30)), []);
  assert.deepEqual(
    lines(r.receive(resourceUp("a"), 40)),
    [presenceTo("alice@example.org")],
    "a resource within the wait is told at once",
  );
  assert.deepEqual(lines(r.tick(30 + 2000)), [], "nothing more once announced");
});

Deno.test("presence turned on or off on a standby (after a hand-over): subscribers hear nothing from it", () => {
  const r = router({ presence: false }, ["alice@example.org"]);
  r.receive(resourceUp("a"), 10);
  r.handOver(20);
  assert.deepEqual(lines(r.reconfigure({ ...r.settings, presence: true }, 30)), []);
  assert.equal(r.nextWake(), undefined, "and nothing due later");
  assert.deepEqual(lines(r.reconfigure({ ...r.settings, presence: false }, 40)), []);
  // Serving again: the next online() announces as usual.
  r.reconfigure({ ...r.settings, presence: true }, 50);
  r.online(60);
  assert.deepEqual(lines(r.receive(resourceUp("a"), 70)), [presenceTo("alice@example.org")]);
});

Deno.test("presence turned on in the first second after connecting: no premature unavailable", () => {
  // Online at 0, the server has not yet said which resources are online.
  const r = router({ presence: false }, ["alice@example.org"]);
  assert.deepEqual(lines(r.reconfigure({ ...r.settings, presence: true }, 10)), []);
  assert.deepEqual(lines(r.receive(resourceUp("a"), 500)), [presenceTo("alice@example.org")]);
});

Deno.test("a hand-over to a sibling leaves nothing to announce: the sibling tells subscribers", () => {
  const r = router({}, ["alice@example.org"]);
  assert.equal(r.nextWake(), 2000);
  assert.deepEqual(lines(r.handOver(5)), []);
  assert.equal(r.nextWake(), undefined);
  assert.deepEqual(lines(r.tick(2000)), []);
  // Serving again later: the next online() announces as usual.
  r.online(10_000);
  assert.deepEqual(lines(r.tick(12_000)), [presenceTo("alice@example.org", "unavailable")]);
});

// --- a standby sharing state_dir: the stored subscribers read as it comes to serve ---

/** A router on a store another instance writes too: `stored` is that store. */
function sharing(stored: Set<string>): Router {
  return testRouter({
    requestTimeoutMs: 1000,
    maxPendingPerResource: 10,
    maxPending: 10,
    presence: true,
  }, { storedSubscribers: () => [...stored] });
}

Deno.test("online after a hand-over: the subscribers stored meanwhile are read, those removed forgotten", () => {
  const stored = new Set(["alice@example.org", "bob@example.org"]);
  const r = sharing(stored);
  r.receive(resourceUp("a"), 10);
  r.handOver(20);
  // The other instance serves: carol subscribes there, bob leaves.
  stored.add("carol@example.org");
  stored.delete("bob@example.org");
  r.online(1_000);
  assert.equal(r.nextWake(), 3_000, "an announcement is due as after any (re)connect");
  assert.deepEqual(
    lines(r.receive(resourceUp("a"), 1_500)).filter((l) => l.startsWith("<presence")),
    [
      presenceTo("alice@example.org"),
      presenceTo("carol@example.org"),
    ],
  );
  // Carol counts as a subscriber now: her unsubscribe is a change to persist.
  const fx = r.receive(from("carol@example.org/r", "unsubscribe"), 1_600);
  assert.deepEqual(fx.events.filter((e) => e.type === "subscriber"), [
    { type: "subscriber", change: "remove", jid: "carol@example.org" },
  ]);
});

Deno.test("a take-over after a look: the subscribers stored while the look was held are read", () => {
  const stored = new Set<string>();
  const r = sharing(stored);
  r.handOver(5); // a standby from the start (ejabberd): it looks now and then
  r.online(1_000); // a look: the store is read as it comes online
  stored.add("dave@example.org"); // the active instance, still serving, takes one more
  r.takeOver(1_400);
  assert.equal(r.nextWake(), 3_400, "told once the resources are known, or after the wait");
  assert.deepEqual(lines(r.tick(3_400)), [presenceTo("dave@example.org", "unavailable")]);
});

Deno.test("a reconnect of the instance serving reads nothing: it keeps every subscriber it holds", () => {
  const stored = new Set(["alice@example.org"]);
  const r = sharing(stored);
  r.receive(from("bob@example.org/r", "subscribe"), 10);
  // Bob's write failed (the shell logged it): the store never had him.
  stored.clear();
  r.online(1_000);
  assert.deepEqual(lines(r.tick(3_000)), [
    presenceTo("alice@example.org", "unavailable"),
    presenceTo("bob@example.org", "unavailable"),
  ]);
});

Deno.test("shutdown tells subscribers the service is unavailable", () => {
  const r = router({}, ["alice@example.org"]);
  r.receive(resourceUp("a"), 0);
  assert.ok(lines(r.settleAll(1)).includes(presenceTo("alice@example.org", "unavailable")));
});

Deno.test("directed available/unavailable presence from users is ignored, not refused", () => {
  const r = router();
  for (const type of [undefined, "unavailable", "subscribed"]) {
    const fx = r.receive(from("alice@example.org/r", type), 0);
    assert.deepEqual(lines(fx), []);
  }
});

Deno.test("a denied user cannot subscribe or probe: unsubscribed, nothing stored, reported as refused", () => {
  const r = router({ deny: ["mallory@example.org"] });
  r.receive(resourceUp("a"), 0);
  for (const type of ["subscribe", "probe"]) {
    const fx = r.receive(from("Mallory@example.org/r", type), 1);
    assert.deepEqual(lines(fx), [presenceTo("mallory@example.org", "unsubscribed")], type);
    // Counted and said as a denied request is: the condition it would have got.
    assert.deepEqual(fx.events, [{
      type: "refused",
      reason: "forbidden",
      condition: "forbidden",
      stanza: "presence",
      from: "Mallory@example.org/r",
    }], type);
  }
  // With hide_from_denied, as for a request: the condition that looks like no service.
  const hidden = router({ deny: ["mallory@example.org"], hideFromDenied: true });
  const fx = hidden.receive(from("mallory@example.org/r", "subscribe"), 1);
  assert.deepEqual(lines(fx), [presenceTo("mallory@example.org", "unsubscribed")]);
  assert.deepEqual(fx.events.map((e) => e.type === "refused" && [e.reason, e.condition]), [
    ["forbidden", "service-unavailable"],
  ]);
  // Leaving is never refused: an unsubscribe from a denied user is no rule broken.
  const leaving = r.receive(from("mallory@example.org/r", "unsubscribe"), 2);
  assert.deepEqual(leaving.events.filter((e) => e.type === "refused"), []);
});

Deno.test("a subscriber denied by a reload is no longer told, and forgotten when it asks", () => {
  const r = router({}, ["alice@example.org", "mallory@example.org"]);
  r.settings = { ...r.settings, deny: ["mallory@example.org"] };
  assert.deepEqual(lines(r.receive(resourceUp("a"), 10)).filter((l) => l.startsWith("<presence")), [
    presenceTo("alice@example.org"),
  ]);
  const fx = r.receive(from("mallory@example.org/r", "probe"), 11);
  assert.deepEqual(lines(fx), [presenceTo("mallory@example.org", "unsubscribed")]);
  // Forgotten (stored first), and refused as any denied user's probe is.
  assert.deepEqual(fx.events.map((e) => e.type), ["subscriber", "refused"]);
  assert.deepEqual(fx.events[0], {
    type: "subscriber",
    change: "remove",
    jid: "mallory@example.org",
  });
  assert.ok(!lines(r.settleAll(12)).includes(presenceTo("mallory@example.org", "unavailable")));
});

Deno.test("max_subscribers: a new subscriber beyond it gets unsubscribed; those in keep theirs", () => {
  const r = router({ maxSubscribers: 2 }, ["alice@example.org"]);
  const bob = r.receive(from("bob@example.org/r", "subscribe"), 0);
  assert.deepEqual(bob.events.filter((e) => e.type === "subscriber"), [
    { type: "subscriber", change: "add", jid: "bob@example.org" },
  ]);
  const carol = r.receive(from("carol@example.org/r", "subscribe"), 1);
  assert.deepEqual(lines(carol), [presenceTo("carol@example.org", "unsubscribed")]);
  assert.deepEqual(carol.events, [{
    type: "refused",
    reason: "too_many_subscribers",
    condition: "resource-constraint",
    stanza: "presence",
    from: "carol@example.org/r",
  }]);
  // Alice, already in, subscribes again: answered as ever.
  assert.deepEqual(lines(r.receive(from("alice@example.org/x", "subscribe"), 2)), [
    presenceTo("alice@example.org", "subscribed"),
    presenceTo("alice@example.org", "unavailable"),
  ]);
  // Room again once one leaves.
  r.receive(from("bob@example.org/r", "unsubscribe"), 3);
  assert.equal(
    lines(r.receive(from("carol@example.org/r", "subscribe"), 4))[0],
    presenceTo("carol@example.org", "subscribed"),
  );
});

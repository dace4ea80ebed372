/**
 * The live check of one proxy (src/app/live_probe.ts) against a scripted
 * server: the facts it finds, the order of what it sends (never a probe
 * before the approval), its bounds, and what it does beside a serving
 * instance and for requests that reach it when none serves.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/parse.ts";
import type { ProxyConfig } from "../../src/config/types.ts";
import { probeProxy } from "../../src/app/live_probe.ts";
import { GuestError } from "../../src/link/guest.ts";
import type { Fact } from "../../src/app/live_facts.ts";
import { within } from "../support/bounded.ts";
import {
  type Account,
  accountScript,
  DOMAIN,
  FakeGuest,
  NS_DISCO_INFO,
  TARGET,
} from "../support/fake_guest.ts";

function config(extra = ""): ProxyConfig {
  const result = parseConfig(
    `server: xmpp://127.0.0.1:5347
proxies:
  - domain: ${DOMAIN}
    secret: s3cret
    target_address: ${TARGET}
${extra}`,
    { file: "test.yaml" },
  );
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config.proxies[0];
}

/** Runs the check against `account` (beside a serving instance or not). */
async function check(
  account: Account,
  options: { beside?: boolean; timeoutMs?: number; extra?: string } = {},
): Promise<{ facts: Fact[]; guest: FakeGuest; connected: string; lines: string[] }> {
  const guest = new FakeGuest(accountScript(account), { beside: options.beside });
  const lines: string[] = [];
  const { facts, connected } = await within(
    probeProxy(config(options.extra), {
      timeoutMs: options.timeoutMs ?? 2_000,
      open: guest.open,
      onFact: (fact) => lines.push(fact.text),
    }),
    10_000,
    "the check",
  );
  return { facts, guest, connected, lines };
}

const steps = (facts: readonly Fact[]) => facts.map((f) => `${f.step}:${f.ok ? "ok" : "failed"}`);
const sentKinds = (guest: FakeGuest) =>
  guest.sent.map((el) => `${el.name}:${el.attrs.type ?? "available"}`);

Deno.test("live probe: all good, step by step, and each fact as it is found", async () => {
  const { facts, guest, connected, lines } = await check({ resources: ["a", "b"] });
  assert.equal(connected, "checked");
  assert.deepEqual(steps(facts), [
    "handshake:ok",
    "subscription:ok",
    "resources:ok",
    "disco:ok",
    "close:ok",
  ]);
  assert.deepEqual(lines, facts.map((f) => f.text));
  assert.equal(lines[2], "resources online: a, b");
  assert.equal(lines[3], 'disco#info from a: identity (client/bot "Echo"), 2 features');
  assert.deepEqual(facts[3].details, {
    resource: `${TARGET}/a`,
    identities: [{ category: "client", type: "bot", name: "Echo" }],
    features: [NS_DISCO_INFO, "urn:xmpp:ping"],
  });
  // Subscribe first, a probe only once approved, one disco#info, then goodbye.
  assert.deepEqual(sentKinds(guest), [
    "presence:subscribe",
    "presence:probe",
    "iq:get",
    "presence:unavailable",
  ]);
  const disco = guest.sent[2];
  assert.equal(disco.attrs.to, `${TARGET}/a`);
  // As the proxy forwards: from <domain>/<a JAT address>, here the long-address form.
  assert.match(
    disco.attrs.from ?? "",
    new RegExp(`^${DOMAIN.replaceAll(".", "\\.")}//live-check-`),
  );
  assert.equal(guest.sent[0].attrs.to, TARGET);
  assert.equal(guest.sent[0].attrs.from, DOMAIN);
  assert.ok(guest.closed);
});

Deno.test("live probe: a target that never approves: no probe, failed within the bound", async () => {
  const started = performance.now();
  const { facts, guest } = await check({ approves: false }, { timeoutMs: 300 });
  const took = performance.now() - started;
  assert.deepEqual(steps(facts), ["handshake:ok", "subscription:failed", "close:ok"]);
  assert.match(facts[1].text, /^subscription not approved within 300ms: service@example\.org must/);
  assert.ok(took >= 300 && took < 2_000, `took ${took} ms`);
  // A probe before the approval would cancel the request (Prosody).
  assert.deepEqual(sentKinds(guest), ["presence:subscribe", "presence:unavailable"]);
});

Deno.test("live probe: a refusal, no resource, a disco#info error or silence: each fails its step", async () => {
  const refused = await check({ refuses: true });
  assert.deepEqual(steps(refused.facts).slice(1, 2), ["subscription:failed"]);
  assert.match(refused.facts[1].text, /answered unsubscribed/);

  const none = await check({ resources: [] }, { timeoutMs: 300 });
  assert.deepEqual(steps(none.facts).slice(1), ["subscription:ok", "resources:failed", "close:ok"]);
  assert.match(none.facts[2].text, /^no resource online: none announced within \d+ms/);

  const error = await check({ disco: "error" });
  assert.deepEqual(steps(error.facts).slice(3, 4), ["disco:failed"]);
  assert.equal(error.facts[3].text, "disco#info to a answered with an error: service-unavailable");

  const silent = await check({ disco: "silent" }, { timeoutMs: 300 });
  assert.deepEqual(steps(silent.facts).slice(3, 4), ["disco:failed"]);
  assert.equal(silent.facts[3].text, "disco#info to a not answered: no answer within 300ms");
});

Deno.test("live probe: a refused handshake, a refused connection, and an instance serving", async () => {
  const run = (error: Error) =>
    probeProxy(config(), { timeoutMs: 300, open: () => Promise.reject(error) });

  const secret = await run(new GuestError("not-authorized", "not-authorized"));
  assert.equal(secret.connected, "failed");
  assert.deepEqual(steps(secret.facts), ["handshake:failed"]);
  assert.match(
    secret.facts[0].text,
    /^handshake refused: not-authorized \(the server refused the secret or the domain/,
  );

  const port = await run(new GuestError("ECONNREFUSED"));
  assert.deepEqual(steps(port.facts), ["connect:failed"]);
  assert.equal(port.facts[0].text, "cannot connect to xmpp://127.0.0.1:5347: ECONNREFUSED");

  const serving = await run(new GuestError("conflict", "conflict"));
  assert.equal(serving.connected, "serving");
  assert.deepEqual(steps(serving.facts), ["handshake:ok", "serving:ok"]);
  assert.match(serving.facts[1].text, /^an instance is serving \(conflict\)/);
});

Deno.test("live probe: beside a serving instance, answers that went to it are asked for again", async () => {
  // The instance got the first `subscribed`, the first presences and the
  // first disco#info answer (and dropped that one).
  const { facts, guest } = await check(
    { drop: { subscribed: 1, presence: 2, disco: 1 } },
    { beside: true, timeoutMs: 3_000 },
  );
  assert.deepEqual(steps(facts), [
    "handshake:ok",
    "serving:ok",
    "subscription:ok",
    "resources:ok",
    "disco:ok",
    "close:ok",
  ]);
  assert.match(facts[1].text, /^another instance serves this domain beside the check/);
  const kinds = sentKinds(guest);
  assert.equal(kinds.filter((k) => k === "iq:get").length, 2, kinds.join(" "));
  assert.ok(kinds.filter((k) => k === "presence:subscribe").length >= 2, kinds.join(" "));
  assert.ok(kinds.indexOf("presence:probe") > kinds.lastIndexOf("presence:subscribe"));
});

Deno.test("live probe: an instance that shows itself after the look is still asked around", async () => {
  const guest = new FakeGuest(accountScript({ drop: { subscribed: 1 } }));
  setTimeout(() => guest.showSibling(), 100);
  const { facts } = await within(
    probeProxy(config(), { timeoutMs: 3_000, open: guest.open }),
    10_000,
    "the check",
  );
  assert.deepEqual(steps(facts), [
    "handshake:ok",
    "subscription:ok",
    "resources:ok",
    "disco:ok",
    "serving:ok",
    "close:ok",
  ]);
  assert.equal(sentKinds(guest).filter((k) => k === "presence:subscribe").length, 2);
});

Deno.test("live probe: with nobody serving, a request that reaches the check gets an error", async () => {
  const guest = new FakeGuest(accountScript());
  const checking = probeProxy(config(), { timeoutMs: 1_000, open: guest.open });
  // Once connected: a requester's request, and a stray message (dropped).
  await new Promise((resolve) => setTimeout(resolve, 0));
  guest.deliver(`<iq type='get' id='r1' from='alice@example.org/x' to='${DOMAIN}'><q/></iq>`);
  guest.deliver(`<message from='alice@example.org/x' to='${DOMAIN}'><body>hi</body></message>`);
  const { facts } = await within(checking, 10_000, "the check");
  const answer = guest.sent.find((el) => el.attrs.id === "r1");
  assert.equal(answer?.attrs.type, "error");
  assert.equal(answer?.attrs.to, "alice@example.org/x");
  assert.equal(answer?.attrs.from, DOMAIN);
  assert.ok(answer?.getChild("error")?.getChild("service-unavailable"), String(answer));
  assert.equal(answer?.getChild("error")?.attrs.type, "wait");
  const orphans = facts.find((f) => f.step === "orphans");
  assert.match(orphans?.text ?? "", /^answered 1 request\(s\) with service-unavailable/);
  assert.ok(facts.every((f) => f.ok), steps(facts).join(" "));
});

Deno.test("live probe: a stream that ends while waiting ends the wait", async () => {
  const guest = new FakeGuest(accountScript({ approves: false }));
  const started = performance.now();
  const checking = probeProxy(config(), { timeoutMs: 5_000, open: guest.open });
  setTimeout(() => guest.end("system-shutdown"), 50);
  const { facts } = await within(checking, 10_000, "the check");
  assert.ok(performance.now() - started < 2_000);
  assert.equal(
    facts.find((f) => f.step === "subscription")?.text,
    "subscription not approved: the stream ended (system-shutdown)",
  );
});

Deno.test("live probe: the resources that drain are named, by dnd or by the config's drain", async () => {
  const { facts, lines } = await check(
    { resources: ["a", "b", "c"], dnd: ["b"] },
    { extra: '    drain: ["c", "gone"]\n' },
  );
  assert.equal(lines[2], "resources online: a, b, c (draining: b, c)");
  assert.deepEqual(facts[2].details, { resources: ["a", "b", "c"], draining: ["b", "c"] });
  // None draining: the line as before, and an empty list.
  const plain = await check({ resources: ["a"] });
  assert.equal(plain.lines[2], "resources online: a");
  assert.deepEqual(plain.facts[2].details, { resources: ["a"], draining: [] });
});

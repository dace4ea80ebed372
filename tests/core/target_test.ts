// The implementing account's subscription and resources, as the router learns them (src/core/target.ts).
import assert from "node:assert/strict";
import { Router } from "../../src/core/router.ts";
import { parseXml } from "../../src/core/xml.ts";
import {
  BASE_SETTINGS,
  DOMAIN,
  get,
  only,
  resourcePresence,
  routerWith,
  TARGET,
  unavailable,
} from "../support/router.ts";

Deno.test("online: subscribes to the target from the domain, and nothing else", () => {
  const router = new Router(BASE_SETTINGS, { random: Math.random, randomBits: () => 0 });
  const el = only(router.online(0));
  assert.equal(
    el.toString(),
    `<presence type="subscribe" to="${TARGET}" from="${DOMAIN}"/>`,
  );
});

Deno.test("a subscribe from the target is answered subscribed", () => {
  const router = routerWith([]);
  const fx = router.receive(
    parseXml(`<presence type="subscribe" from="${TARGET}" to="${DOMAIN}"/>`),
    0,
  );
  assert.equal(
    only(fx).toString(),
    `<presence type="subscribed" to="${TARGET}" from="${DOMAIN}"/>`,
  );
});

Deno.test("resources: available adds, unavailable removes, error empties and resubscribes with backoff", () => {
  const router = routerWith(["a", "b"]);
  assert.deepEqual(router.resources, ["a", "b"]);
  router.receive(unavailable("a"), 0);
  assert.deepEqual(router.resources, ["b"]);
  router.receive(resourcePresence("a"), 0);
  assert.deepEqual(router.resources, ["b", "a"]);

  const error = parseXml(
    `<presence type="error" from="${TARGET}" to="${DOMAIN}"><error type="cancel"/></presence>`,
  );
  assert.equal(router.receive(error, 1000).send.length, 0);
  assert.deepEqual(router.resources, []);
  assert.equal(router.nextWake(), 2000);
  assert.equal(router.tick(1999).send.length, 0);
  assert.equal(only(router.tick(2000)).attrs.type, "subscribe");
  assert.equal(router.nextWake(), undefined);
  router.receive(error, 3000); // second failure in a row: twice the wait
  assert.equal(router.nextWake(), 5000);
  router.receive(
    parseXml(`<presence type="subscribed" from="${TARGET}" to="${DOMAIN}"/>`),
    5000,
  );
  router.tick(5000);
  router.receive(error, 6000); // approval reset the backoff
  assert.equal(router.nextWake(), 7000);
});

Deno.test("resources: presence from the target's bare JID or of an odd type adds nothing", () => {
  const router = routerWith([]);
  router.receive(parseXml(`<presence from="${TARGET}" to="${DOMAIN}"/>`), 0);
  router.receive(
    parseXml(`<presence type="probe" from="${TARGET}/x" to="${DOMAIN}"/>`),
    0,
  );
  assert.deepEqual(router.resources, []);
});

Deno.test("a resource's directed presence to <domain>/<JID> changes neither its availability nor its subscription", () => {
  const router = routerWith(["a"]);
  only(router.receive(get("held"), 0));
  for (const type of [undefined, "unavailable", "error", "unsubscribed"]) {
    const directed = parseXml(
      `<presence${
        type ? ` type="${type}"` : ""
      } from="${TARGET}/a" to="${DOMAIN}/bob@example.org"/>`,
    );
    const fx = router.receive(directed, 1);
    assert.deepEqual(fx.send, [], "no failover, no answer");
    assert.deepEqual(fx.events.map((e) => e.type === "dropped" ? e.reason : e.type), [
      "ignored_presence",
    ]);
  }
  assert.deepEqual(router.resources, ["a"]);
  assert.equal(router.pendingCount, 1, "its request still waits for its answer");
});

Deno.test("subscribed from the target: a probe follows (ejabberd sends presence only when asked)", () => {
  const router = routerWith([]);
  const fx = router.receive(
    parseXml(`<presence type="subscribed" from="${TARGET}" to="${DOMAIN}"/>`),
    0,
  );
  assert.equal(only(fx).toString(), `<presence type="probe" to="${TARGET}" from="${DOMAIN}"/>`);
});

/**
 * The fuzz model's checks of a hot standby have teeth: a router that takes
 * over without the pins the other instance wrote during the look moves a
 * room that is pinned (tests/support/fuzz/model/standby.ts). The rest of
 * the model's proof is in ./router_fuzz_test.ts.
 */
import assert from "node:assert/strict";
import { Router } from "../src/core/router.ts";
import { type RunOptions, runScenario } from "./support/fuzz/run.ts";
import type { PresenceAction, Scenario, StanzaAction } from "./support/fuzz/scenario.ts";
import { ROOM_PAYLOADS, ROOM_SHAPE } from "./support/fuzz/stanzas.ts";
import { BASE_SETTINGS } from "./support/router.ts";

type Mutant = NonNullable<RunOptions["makeRouter"]>;

Deno.test("fuzz model: catches a router that takes over without the pins written during the look", () => {
  // The sibling pins a room during the look; after the take-over its next request must go there.
  const presence = (resource: number): PresenceAction => ({
    kind: "presence",
    dt: 0,
    resource,
    type: undefined,
    priority: undefined,
    show: undefined,
    upper: false,
    to: "bare",
  });
  const about: StanzaAction = {
    kind: "stanza",
    dt: 1,
    from: 0,
    to: { k: "bare" },
    name: "iq",
    type: "get",
    id: 0,
    payload: ROOM_PAYLOADS,
    copies: 1,
  };
  const scenario = (resource: number): Scenario => ({
    settings: { ...BASE_SETTINGS, affinity: [ROOM_SHAPE] },
    randomSeed: 1,
    world: {
      requesters: ["alice@example.org/phone"],
      ids: ["1"],
      resources: ["a", "b"],
      subscribers: [],
    },
    online: true,
    initialResources: 2,
    timers: false,
    loopback: false,
    roundTrip: false,
    actions: [
      {
        kind: "hand-over",
        dt: 1,
        looks: [{
          wait: 10,
          // Another room pinned before the look: both reads have a pin to sweep.
          before: [{ kind: "pin", room: 2, resource: 0 }],
          held: [presence(0), presence(1)],
          during: [{ kind: "pin", room: 0, resource }],
          ms: 400,
          unreadable: false,
        }],
        takeOver: true,
      },
      about,
    ],
    ending: "none",
  });
  for (const resource of [0, 1]) {
    const stats = runScenario(scenario(resource));
    assert.equal(stats.standby.takeOvers, 1);
    assert.equal(stats.affinity.held, 1, "the room's request went to the sibling's pin");
  }
  // Reading the pins only as the look comes online, a router places the room afresh: one of
  // the two pins is not where its rendezvous choice is.
  const stale: Mutant = (settings, options) => {
    let read: Array<readonly [string, string]> = [];
    const router = new Router(settings, { ...options, storedPins: () => read });
    const { online } = router;
    router.online = (now) => {
      read = [...options.storedPins()];
      return online.call(router, now);
    };
    return router;
  };
  assert.throws(
    () => [0, 1].forEach((resource) => runScenario(scenario(resource), { makeRouter: stale })),
    /key room1@rooms\.example is pinned to [ab] \(online\), but went to [ab]/,
  );
});

/**
 * fast-check generators of whole scenarios: settings (the opt-in
 * behaviours each on in some), a world, actions and an ending.
 */
import fc from "fast-check";
import type { RouterSettings } from "../../../src/core/router.ts";
import { actionArb, oversizedArb, oversizedReplyArb, restartArb, tunablesArb } from "./actions.ts";
import {
  DOMAINS,
  idArb,
  resourceNameArb,
  specialRequesters,
  stampedJid,
  TARGETS,
} from "./addresses.ts";
import { short } from "./helpers.ts";
import { ROOM_SHAPE } from "./stanzas.ts";
import {
  type ArbitraryOptions,
  type Ending,
  type Features,
  HOSTILE_REQUESTERS,
  type Scenario,
  selfSpellings,
  subscriberPool,
} from "./scenario.ts";

/** Access patterns that match (or just miss) the requesters the generators make. */
const PATTERNS = [
  "alice@example.org",
  "bob@example.net",
  "@example.org",
  "@example.com",
  "@example.net",
  "@bücher.example",
  "*.example",
  "*.c.d.example",
  "*.example.org",
  "@localhost",
  "@proxy.example.org",
  "ALICE@EXAMPLE.ORG",
];

/** Rarely on, each of the opt-in behaviours; all off is the default config. */
const sometimes = <T>(arb: fc.Arbitrary<T>, never = 2) =>
  fc.oneof({ weight: never, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });

const featuresArb: fc.Arbitrary<Features> = fc.record({
  allowTargetRequests: sometimes(fc.boolean()),
  messages: sometimes(fc.constantFrom("reject" as const, "forward" as const)),
  presence: sometimes(fc.boolean()),
  allow: sometimes(
    fc.uniqueArray(fc.constantFrom(...PATTERNS), { minLength: 1, maxLength: 4 }),
    5,
  ),
  deny: sometimes(fc.uniqueArray(fc.constantFrom(...PATTERNS), { maxLength: 3 }), 4),
  hideFromDenied: sometimes(fc.boolean()),
  rateLimit: sometimes(fc.record({
    perSecond: fc.constantFrom(0.5, 1, 3, 1000),
    burst: fc.integer({ min: 1, max: 4 }),
  })),
  maxPendingPerRequester: sometimes(fc.integer({ min: 1, max: 3 })),
  maxSubscribers: sometimes(fc.integer({ min: 1, max: 3 })),
  maxPendingPerDomain: sometimes(fc.integer({ min: 1, max: 4 })),
  rateLimitPerDomain: sometimes(fc.record({
    perSecond: fc.constantFrom(0.5, 1, 3, 1000),
    burst: fc.integer({ min: 1, max: 6 }),
  })),
  maxSubscribersPerDomain: sometimes(fc.integer({ min: 1, max: 2 })),
  affinity: sometimes(fc.constant([ROOM_SHAPE]), 1),
  affinityIdleMs: sometimes(fc.constantFrom(20, 500, 5_000)),
  maxAffinityKeys: sometimes(fc.integer({ min: 1, max: 3 })),
}).map((features) =>
  // One bucket per sender at most, so that a refusal says which was empty.
  features.rateLimit ? { ...features, rateLimitPerDomain: undefined } : features
);

/** Whole scenarios: settings, a world, actions, an ending. */
export function scenarioArb(options: ArbitraryOptions = {}): fc.Arbitrary<Scenario> {
  const maxActions = options.maxActions ?? 120;
  return fc.record({
    domain: fc.constantFrom(...DOMAINS),
    target: fc.constantFrom(...TARGETS),
    tunables: tunablesArb,
    features: featuresArb,
  }).chain(({ domain, target, tunables, features }) => {
    const requester = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...specialRequesters(domain, target)) },
      { weight: 2, arbitrary: stampedJid },
      ...(options.hostile
        ? [
          { weight: 2, arbitrary: fc.constantFrom(...HOSTILE_REQUESTERS) },
          { weight: 1, arbitrary: fc.constantFrom(...selfSpellings(domain)) },
        ]
        : []),
    );
    return fc.record({
      settings: fc.constant<RouterSettings>({
        domain,
        targetAddress: target,
        ...tunables,
        ...features,
      }),
      randomSeed: fc.nat(),
      world: fc.record({
        requesters: fc.array(requester, { minLength: 1, maxLength: 6 }),
        ids: fc.array(idArb, { minLength: 1, maxLength: 5 }),
        resources: fc.array(resourceNameArb, { minLength: 1, maxLength: 4 }),
        subscribers: fc.uniqueArray(
          fc.constantFrom(...subscriberPool(domain)),
          { maxLength: 2 },
        ),
      }),
      online: fc.oneof({ weight: 12, arbitrary: fc.constant(true) }, {
        weight: 1,
        arbitrary: fc.constant(false),
      }),
      initialResources: fc.oneof(
        { weight: 1, arbitrary: fc.constant(0) },
        { weight: 4, arbitrary: fc.integer({ min: 1, max: 3 }) },
      ),
      timers: fc.boolean(),
      loopback: fc.boolean(),
      roundTrip: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, {
        weight: 1,
        arbitrary: fc.constant(true),
      }),
      actions: fc.array(
        options.hostile
          ? fc.oneof(
            { weight: 100, arbitrary: actionArb },
            { weight: 1, arbitrary: restartArb },
            { weight: 3, arbitrary: oversizedArb },
            { weight: 3, arbitrary: oversizedReplyArb },
          )
          : actionArb,
        { minLength: 1, maxLength: maxActions, size: "max" },
      ),
      ending: fc.constantFrom<Ending>("none", "settle", "settle", "expire"),
    });
  }).map((scenario) =>
    Object.defineProperty(scenario, fc.toStringMethod, {
      value: () => describeScenario(scenario),
      enumerable: false,
    })
  );
}

/** A scenario as JSON with long strings cut, for fast-check's reports. */
export function describeScenario(scenario: Scenario): string {
  return JSON.stringify(
    scenario,
    (_key, value) => typeof value === "string" ? short(value) : value,
  );
}

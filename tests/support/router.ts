/** A router for unit tests: the usual addresses, a fixed `random`, resources online. */
import assert from "node:assert/strict";
import { type Effects, Router, type RouterSettings } from "../../src/core/router.ts";
import { parseXml, type XmlElement } from "../../src/core/xml.ts";

export const DOMAIN = "proxy.example.org";
export const TARGET = "service@example.org";

/** Settings with the config's defaults (request_timeout 30 s, random balancing, the caps). */
export const BASE_SETTINGS: RouterSettings = Object.freeze({
  domain: DOMAIN,
  targetAddress: TARGET,
  requestTimeoutMs: 30_000,
  balance: "random",
  maxPendingPerResource: 1000,
  maxPending: 100_000,
});

/** Options of {@link testRouter}. */
export interface TestRouterOptions {
  /** Resources made available at time 0, with an optional priority. Default: none. */
  readonly resources?: ReadonlyArray<string | readonly [string, number]>;
  /** Default: always 0, so "random" picks the first eligible resource. */
  readonly random?: () => number;
  /** The secure source (tokens, the target's request ids). Default: always 0. */
  readonly randomBits?: () => number;
  /** Stored presence subscribers. Default: none. */
  readonly subscribers?: string[];
  /** The store of subscribers, read as the router comes to serve. Default: `subscribers`. */
  readonly storedSubscribers?: () => Iterable<string>;
}

/** `settings` over {@link BASE_SETTINGS}, online at time 0, `resources` available. */
export function testRouter(
  settings: Partial<RouterSettings> = {},
  options: TestRouterOptions = {},
): Router {
  const router = new Router({ ...BASE_SETTINGS, ...settings }, {
    random: options.random ?? (() => 0),
    randomBits: options.randomBits ?? (() => 0),
    storedSubscribers: options.storedSubscribers ??
      (options.subscribers ? () => options.subscribers! : undefined),
  });
  router.online(0);
  for (const r of options.resources ?? []) {
    const [name, priority] = typeof r === "string" ? [r, undefined] : r;
    router.receive(resourcePresence(name, priority), 0);
  }
  return router;
}

/** Available presence of the target's resource `name`. */
export function resourcePresence(name: string, priority?: number): XmlElement {
  const prio = priority === undefined ? "" : `<priority>${priority}</priority>`;
  return parseXml(`<presence from="${TARGET}/${name}" to="${DOMAIN}">${prio}</presence>`);
}

// Stanzas and checks of the router's tests.

export const ALICE = "alice@example.org/phone";
export const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

/** A router with `resources` online; `random` always picks the first. */
export function routerWith(
  resources: Array<string | [string, number]> = ["a"],
  settings: Partial<RouterSettings> = {},
  random = () => 0,
): Router {
  return testRouter(settings, { resources, random });
}

export function unavailable(name: string): XmlElement {
  return parseXml(
    `<presence type="unavailable" from="${TARGET}/${name}" to="${DOMAIN}"/>`,
  );
}

export function get(id: string, from = ALICE, to = DOMAIN, type = "get"): XmlElement {
  return parseXml(
    `<iq type="${type}" id="${id}" from="${from}" to="${to}"><query xmlns="urn:example:q">hi</query></iq>`,
  );
}

export function result(id: string, resource = "a", requester = ALICE): XmlElement {
  return parseXml(
    `<iq type="result" id="${id}" from="${TARGET}/${resource}" to="${DOMAIN}/${requester}"><answer xmlns="urn:example:q">42</answer></iq>`,
  );
}

export function attrs(el: XmlElement): Record<string, string | undefined> {
  return Object.fromEntries(
    Object.entries(el.attrs).filter(([, v]) => v !== undefined),
  );
}

/** The single stanza sent, checked to be the only one. */
export function only(fx: Effects): XmlElement {
  assert.equal(
    fx.send.length,
    1,
    `expected one stanza, got ${fx.send.map(String).join(" | ")}`,
  );
  return fx.send[0];
}

/** Asserts an error stanza: its addressing and <error type><condition/></error>. */
export function assertError(
  el: XmlElement,
  expected: {
    name?: string;
    to: string;
    from: string;
    id?: string;
    type: string;
    condition: string;
  },
): void {
  assert.equal(el.name, expected.name ?? "iq");
  assert.deepEqual(attrs(el), {
    type: "error",
    to: expected.to,
    from: expected.from,
    ...(expected.id === undefined ? {} : { id: expected.id }),
  });
  const error = el.getChild("error");
  assert.ok(error, `no <error/> in ${el}`);
  assert.equal(error.attrs.type, expected.type);
  assert.ok(
    error.getChild(expected.condition, STANZAS),
    `expected ${expected.condition} in ${el}`,
  );
}

export function forwardedTo(fx: Effects): string[] {
  return fx.send.map((el) => el.attrs.to as string);
}

/** The error our domain sends Alice for her request `id`. */
export function toAlice(id: string, type: string, condition: string) {
  return { to: ALICE, from: DOMAIN, id, type, condition };
}

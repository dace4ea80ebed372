/** A router for unit tests: the usual addresses, a fixed `random`, resources online. */
import { Router, type RouterSettings } from "../../src/core/router.ts";
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

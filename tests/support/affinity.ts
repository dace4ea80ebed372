/** Affinity's test helpers: Jicofo-shaped requests, a router with affinity on, where rooms go. */
import assert from "node:assert/strict";
import type { AffinityShape } from "../../src/core/affinity_key.ts";
import type { Effects, Router, RouterEvent, RouterSettings } from "../../src/core/router.ts";
import { parseXml, type XmlElement } from "../../src/core/xml.ts";
import { DOMAIN, TARGET, testRouter } from "./router.ts";

export const FOCUS = "http://jitsi.org/protocol/focus";
export const CONFERENCE: AffinityShape = {
  namespace: FOCUS,
  element: "conference",
  attribute: "room",
};
export const AFFINITY: Partial<RouterSettings> = { affinity: [CONFERENCE] };
const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
export const ROOMS = Array.from({ length: 300 }, (_, i) => `room${i}@conference.example.org`);

let serial = 0;

/** A Jicofo-shaped request for `room`. */
export function conference(room: string, from = "alice@example.org/web", type = "set"): XmlElement {
  return parseXml(
    `<iq type="${type}" id="c${serial++}" from="${from}" to="${DOMAIN}">` +
      `<conference xmlns="${FOCUS}" room="${room}" machine-uid="m"/></iq>`,
  );
}

/** A request without a key. */
export function plain(from = "alice@example.org/web"): XmlElement {
  return parseXml(
    `<iq type="get" id="p${serial++}" from="${from}" to="${DOMAIN}"><ping xmlns="urn:xmpp:ping"/></iq>`,
  );
}

export function presence(name: string, inner = "", type?: string): XmlElement {
  const t = type === undefined ? "" : ` type="${type}"`;
  return parseXml(`<presence${t} from="${TARGET}/${name}" to="${DOMAIN}">${inner}</presence>`);
}

/** The resource a step forwarded its (only) request to. */
export function placed(fx: Effects): string {
  const forwards = fx.send.filter((s) => s.attrs.type === "get" || s.attrs.type === "set");
  assert.equal(forwards.length, 1, `expected one forward: ${fx.send.map(String).join(" | ")}`);
  const to = forwards[0].attrs.to!;
  return to.slice(to.indexOf("/") + 1);
}

/** A router with affinity on and `resources` online; every request is placed at `now`. */
export function affinityRouter(
  resources: string[],
  settings: Partial<RouterSettings> = {},
  random = () => 0,
): Router {
  return testRouter({ ...AFFINITY, balance: "round-robin", ...settings }, { resources, random });
}

/** Where each room goes on `router` at time `now` (each answered at once, so none piles up). */
export function placeAll(
  router: Router,
  rooms: readonly string[],
  now = 5_000,
): Map<string, string> {
  const out = new Map<string, string>();
  for (const room of rooms) {
    const fx = router.receive(conference(room), now);
    const name = placed(fx);
    out.set(room, name);
    const forward = fx.send.find((s) => s.attrs.type === "set")!;
    router.receive(
      parseXml(
        `<iq type="result" id="${forward.attrs.id}" from="${forward.attrs.to}" to="${forward.attrs.from}"/>`,
      ),
      now,
    );
  }
  return out;
}

/** How many of the router's resources are draining. */
export function draining(router: Router): number {
  return router.resourceStates.filter((r) => r.draining).length;
}

export function events<T extends RouterEvent["type"]>(
  fx: Effects,
  type: T,
): Extract<RouterEvent, { type: T }>[] {
  return fx.events.filter((e): e is Extract<RouterEvent, { type: T }> => e.type === type);
}

export function errorOf(el: XmlElement): [string | undefined, string | undefined] {
  const error = el.getChild("error");
  const condition = error?.children.find((c): c is XmlElement =>
    typeof c !== "string" && c.attrs.xmlns === STANZAS
  );
  return [error?.attrs.type, condition?.name];
}

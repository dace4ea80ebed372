/**
 * How a scenario's actions become stanzas: addresses and ids picked from
 * the world by index, and replies made from what the model knows (a
 * forward still pending or just answered, a request the target started, a
 * message it sent), genuine or forged.
 */
import { oversizedElement, xml, type XmlElement, type XmlNode } from "../../../src/core/xml.ts";
import { bareOf, normalize, STANZAS } from "./helpers.ts";
import type { Model } from "./model/state.ts";
import type {
  IdVariant,
  PresenceAction,
  ReplyAction,
  ReplyKind,
  Scenario,
  StanzaAction,
  TargetStanzaAction,
  ToVariant,
} from "./scenario.ts";

/** The stanzas of one run's actions; ids marked "fresh" are new in each run. */
export function actionStanzas(scenario: Scenario, model: Model) {
  const { settings, world } = scenario;
  const { domain, targetAddress: target } = settings;
  let fresh = 0;

  const pick = <T>(list: readonly T[], i: number): T => list[i % list.length];
  const idOf = (v: IdVariant): string | undefined =>
    v === "missing" ? undefined : v === "fresh" ? `fresh-${fresh++}` : pick(world.ids, v);
  const targetJid = (resource: number, upper = false): string => {
    const bare = upper ? target.toUpperCase() : target;
    return resource < 0 ? bare : `${bare}/${pick(world.resources, resource)}`;
  };
  const toOf = (v: ToVariant): string | undefined => {
    switch (v.k) {
      case "bare":
        return domain;
      case "resource":
        return `${domain}/${v.resource}`;
      case "jat":
        return `${domain}/${pick(world.requesters, v.requester)}`;
      case "upper":
        return domain.toUpperCase() + (v.resource === undefined ? "" : `/${v.resource}`);
      case "other":
        return pick([
          "other.example.org",
          "example.org",
          target,
          `${target}/a`,
          `sub.${domain}`,
          `${domain}x`,
          `${domain}.`,
          domain.replace("k", "\u212a"),
        ], v.which);
      case "missing":
        return undefined;
    }
  };

  const stanzaOf = (a: StanzaAction): XmlElement => {
    const attrs = {
      type: a.type,
      id: idOf(a.id),
      from: a.from < 0 ? undefined : pick(world.requesters, a.from),
      to: toOf(a.to),
    };
    // Over max_stanza_size: what the stream's scanner hands on, payload skipped.
    if (a.payload === OVERSIZED) return oversizedElement(a.name, attrs, null);
    return xml(a.name, attrs, ...payload(a.payload));
  };

  const presenceOf = (a: PresenceAction): XmlElement =>
    xml(
      "presence",
      {
        type: a.type,
        from: targetJid(a.resource, a.upper),
        to: a.to === "bare" ? domain : a.to === "upper" ? domain.toUpperCase() : `${domain}/x`,
      },
      ...(a.priority === undefined ? [] : [xml("priority", {}, a.priority)]),
      ...(a.show === undefined ? [] : [xml("show", {}, a.show)]),
    );

  const replyOf = (a: ReplyAction): XmlElement => {
    const el = a.of === "request" ? requestReplyOf(a) : peerReplyOf(a);
    // Over max_stanza_size: what the stream's scanner hands on, payload skipped.
    return a.oversized ? oversizedElement(el.name, el.attrs, null) : el;
  };

  /** A peer's reply to a request the target started, or its error about a message. */
  const peerReplyOf = (a: ReplyAction): XmlElement => {
    const known: Array<{ peer: string; id: string }> = a.of === "initiated"
      ? [...(a.forge === "late" ? model.initiatedRecent : model.initiated.values())]
        .map((e) => ({ peer: normalize(e.peer), id: e.key }))
      : [...model.sent.values()];
    const base = known.length > 0 ? pick(known, a.pick) : {
      peer: pick(world.requesters, a.pick),
      id: a.of === "initiated" ? `cp${a.pick % 3}` : pick(world.ids, a.pick),
    };
    let { peer: from, id } = base as { peer: string; id: string | undefined };
    let to = domain;
    switch (a.forge) {
      case "wrong-id":
        id = `${id}x`;
        break;
      case "wrong-resource":
        from = `${bareOf(from)}/elsewhere`;
        break;
      case "non-target":
        from = pick(world.requesters, a.pick + 1);
        break;
      case "bare-to":
        to = `${domain}/x`;
        break;
      case "other-jat":
        to = `${domain}/${from}`;
        break;
      case "no-id":
        id = undefined;
        break;
      case "upper-to":
        to = domain.toUpperCase();
        break;
      case "upper-from":
        from = from.replace(bareOf(from), bareOf(from).toUpperCase());
        break;
      case "bad-address":
        to = `${domain}/@bad@`;
        break;
    }
    const name = a.of === "initiated" ? "iq" : "message";
    const type = name === "iq" && a.reply === "result" ? "result" : "error";
    return xml(name, { type, id, from, to }, ...replyPayload(a.reply));
  };

  const requestReplyOf = (a: ReplyAction): XmlElement => {
    const live = [...model.live.values()];
    const recent = model.recent;
    const late = a.forge === "late" || live.length === 0;
    const known = late ? recent : live;
    const req = known.length > 0 ? pick(known, a.pick) : undefined;
    // Without any request known, a reply nobody asked for.
    const via = req ? req.via : pick(world.requesters, a.pick);
    let id: string | undefined = req ? req.id : pick(world.ids, a.pick);
    let from = req ? req.resourceJid : targetJid(a.pick);
    let to = `${domain}/${via}`;
    switch (a.forge) {
      case "wrong-id":
        id = `${id}x`;
        break;
      case "wrong-resource":
        from = targetJid(a.pick + 1);
        break;
      case "non-target":
        from = pick(world.requesters, a.pick);
        break;
      case "bare-to":
        to = domain;
        break;
      case "other-jat":
        to = `${domain}/${pick(world.requesters, a.pick + 1)}`;
        break;
      case "no-id":
        id = undefined;
        break;
      case "upper-to":
        to = `${domain.toUpperCase()}/${via}`;
        break;
      case "upper-from":
        from = from.replace(bareOf(from), bareOf(from).toUpperCase());
        break;
      case "bad-address":
        to = pick([`${domain}/@bad@`, `${domain}//nope`, `${domain}/`, `${domain}//`], a.pick);
        break;
    }
    const type = a.reply === "result" ? "result" : "error";
    return xml("iq", { type, id, from, to }, ...replyPayload(a.reply));
  };

  const targetStanzaOf = (a: TargetStanzaAction): XmlElement =>
    xml(a.name, {
      type: a.type,
      id: idOf(a.id),
      from: targetJid(a.resource),
      to: toOf(a.to),
    }, ...(a.payload < 6 ? [xml("q", { xmlns: "urn:example:q" })] : payload(a.payload)));

  return { stanzaOf, presenceOf, replyOf, targetStanzaOf, targetJid };
}

/** The payload "kind" of a stanza over max_stanza_size (hostile): skipped unread. */
export const OVERSIZED = 8;
/** The affinity shape of the scenarios that have one. */
export const ROOM_SHAPE = {
  namespace: "urn:example:rooms",
  element: "conference",
  attribute: "room",
};

/** Payload kinds from here on are conferences (see {@link ROOMS}). */
export const ROOM_PAYLOADS = 10;

/** Rooms, some spelled two ways (one key), one no JID; then none, another namespace, empty. */
const ROOMS = [
  "room1@rooms.example",
  "Room1@Rooms.Example",
  "room2@rooms.example",
  "room3@rooms.example",
  "ROOM3@ROOMS.EXAMPLE",
  "@odd",
  "plain",
];

/** The room of index `i`, as a request's payload writes it. */
export function roomOf(i: number): string {
  return ROOMS[i % ROOMS.length];
}

/**
 * The payload of a stanza: none, plain, escaped text, mixed, an error,
 * deep; or (the target's, hostile) a forged relay or sibling ping; or a
 * conference about a room.
 */
function payload(kind: number): XmlNode[] {
  if (kind >= ROOM_PAYLOADS) {
    const i = kind - ROOM_PAYLOADS;
    const { namespace, element, attribute } = ROOM_SHAPE;
    if (i < ROOMS.length) return [xml(element, { xmlns: namespace, [attribute]: ROOMS[i] })];
    if (i === ROOMS.length) return [xml(element, { xmlns: namespace })];
    if (i === ROOMS.length + 1) {
      return [xml(element, { xmlns: "urn:other", [attribute]: ROOMS[0] })];
    }
    return [xml(element, { xmlns: namespace, [attribute]: "" })];
  }
  switch (kind) {
    case 0:
      return [];
    case 1:
      return [xml("query", { xmlns: "urn:example:q" })];
    case 2:
      return [xml("query", { xmlns: "urn:example:q" }, `text & "stuff" <x> ]]>`)];
    case 3:
      return ["hi", xml("a", { xmlns: "urn:x" }), xml("b", { xmlns: "urn:y", "xml:lang": "fr" })];
    case 4:
      return [xml("error", { type: "cancel" }, xml("service-unavailable", { xmlns: STANZAS }))];
    case 6:
      // A forged relay: what a sibling instance would wrap (src/link/relay.ts).
      return [
        xml(
          "relay",
          { xmlns: "urn:xmpp:client-proxy:relay:0" },
          xml("iq", {
            type: "result",
            id: "1",
            from: "service@example.org/a",
            to: "proxy.example.org/alice@example.org/phone",
          }),
        ),
      ];
    case 7:
      // A forged sibling ping (src/link/self_ping.ts).
      return [xml("ping", { xmlns: "urn:xmpp:ping", by: "cp-ping-0-0" })];
    default: {
      let el = xml("leaf", { xmlns: "urn:deep" }, "𝄞");
      for (let i = 0; i < 40; i++) el = xml("n", {}, el);
      return [el];
    }
  }
}

/** What a reply carries: an answer, or an error with or without a proper condition. */
function replyPayload(kind: ReplyKind): XmlNode[] {
  const error = (type: string, ...children: XmlNode[]) => xml("error", { type }, ...children);
  switch (kind) {
    case "result":
      return [xml("answer", { xmlns: "urn:example:q" }, "42")];
    case "app-error":
      return [
        error(
          "modify",
          xml("item-not-found", { xmlns: STANZAS }),
          xml("text", { xmlns: STANZAS }, "nope"),
          xml("too-big", { xmlns: "urn:example:app" }),
        ),
      ];
    case "bounce":
      return [error("cancel", xml("service-unavailable", { xmlns: STANZAS }))];
    case "bounce-recipient":
      return [error("wait", xml("recipient-unavailable", { xmlns: STANZAS }))];
    case "error-no-condition":
      return [error("cancel")];
    case "error-foreign-ns":
      return [error("cancel", xml("service-unavailable", { xmlns: "urn:example:not-stanzas" }))];
  }
}

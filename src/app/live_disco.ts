/**
 * A disco#info answer (XEP-0030 §3.1) as the live check shows it: the
 * identities and features an implementing client says it has, or why
 * there is none.
 */
import { errorCondition } from "../core/stanza.ts";
import { isOversized, type XmlElement } from "../core/xml.ts";
import type { Fact } from "./live_facts.ts";

const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";

/** One `<identity/>`. */
export interface DiscoIdentity {
  readonly category: string;
  readonly type: string;
  readonly name?: string;
}

/** What a disco#info result says. */
export interface DiscoInfo {
  readonly identities: readonly DiscoIdentity[];
  /** Each `<feature var=…/>`, in order. */
  readonly features: readonly string[];
}

/** The identities and features of a disco#info result (none if it has no query). */
export function readDisco(result: XmlElement): DiscoInfo {
  const query = result.getChild("query", NS_DISCO_INFO);
  const identities = (query?.getChildren("identity") ?? []).map((el) => {
    const { category = "", type = "", name } = el.attrs;
    return name === undefined ? { category, type } : { category, type, name };
  });
  const features = (query?.getChildren("feature") ?? [])
    .map((el) => el.attrs.var)
    .filter((feature): feature is string => feature !== undefined);
  return { identities, features };
}

/** `identity (client/bot "Echo"), 12 features`. */
export function describeDisco(info: DiscoInfo): string {
  const { identities, features } = info;
  const each = identities.map(({ category, type, name }) =>
    `${category}/${type}${name === undefined ? "" : ` ${JSON.stringify(name)}`}`
  );
  const who = each.length === 0
    ? "no identity"
    : `${each.length === 1 ? "identity" : "identities"} (${each.join(", ")})`;
  return `${who}, ${features.length} ${features.length === 1 ? "feature" : "features"}`;
}

/**
 * The fact of the disco#info sent to `resource` (a full JID): its
 * `answer`, or `why` there was none.
 */
export function discoFact(resource: string, answer: XmlElement | undefined, why: string): Fact {
  const name = resource.slice(resource.indexOf("/") + 1);
  if (answer === undefined) {
    return {
      step: "disco",
      ok: false,
      text: `disco#info to ${name} not answered: ${why}`,
      details: { resource },
    };
  }
  if (answer.attrs.type === "error") {
    const condition = errorCondition(answer) ?? "undefined-condition";
    return {
      step: "disco",
      ok: false,
      text: `disco#info to ${name} answered with an error: ${condition}`,
      details: { resource, condition },
    };
  }
  // Its content was skipped unread: answers this large would reach no requester.
  if (isOversized(answer)) {
    return {
      step: "disco",
      ok: false,
      text: `disco#info to ${name} answered over max_stanza_size: requests whose answers are ` +
        "this large get internal-server-error",
      details: { resource, condition: "over max_stanza_size" },
    };
  }
  const info = readDisco(answer);
  return {
    step: "disco",
    ok: true,
    text: `disco#info from ${name}: ${describeDisco(info)}`,
    details: { resource, ...info },
  };
}

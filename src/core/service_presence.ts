/**
 * The service's own presence (`presence: true`): users subscribe to the
 * domain and are told whether it is available, which it is while at least
 * one target resource is online. Pure: the router feeds it, the shell
 * persists the subscriber changes it reports.
 */
import { bareOf, domainKey } from "./jid.ts";
import { presence } from "./stanza.ts";
import { Tally } from "./tally.ts";
import { copyString, type XmlElement } from "./xml.ts";

/** How long after (re)connecting the first announcement may wait for resources. */
export const ANNOUNCE_AFTER_MS = 2_000;

/** A subscriber change the shell must persist before sending anything. */
export interface SubscriberChange {
  readonly change: "add" | "remove";
  readonly jid: string;
}

/** What a user's presence to the domain came to, besides the stanzas to send. */
export interface PresenceAnswer {
  /** The subscriber change to persist, if any. */
  readonly change?: SubscriberChange;
  /**
   * Why a `subscribe` or `probe` got `unsubscribed`, if it did: the user is
   * denied (`allow` / `deny`), or would be a subscriber over `max`.
   */
  readonly refused?: "forbidden" | "too_many_subscribers";
}

/** Nothing to persist, nothing refused. */
const NOTHING: PresenceAnswer = Object.freeze({});

/** Options of {@link ServicePresence}. */
export interface ServicePresenceOptions {
  /** Subscribers stored by an earlier run (bare JIDs). Default: none. */
  readonly subscribers?: Iterable<string>;
  /**
   * The proxy's access check (allow/deny) on a bare JID, asked at each use
   * so that a reload applies at once. Default: everyone is allowed.
   */
  readonly allowed?: (bare: string) => boolean;
  /** How many subscribers there may be, asked at each subscribe. Default: no cap. */
  readonly max?: () => number;
  /** How many subscribers one domain may have, asked at each subscribe. Default: no cap. */
  readonly maxPerDomain?: () => number;
}

/** The subscribers and what they were last told. */
export class ServicePresence {
  readonly #domain: string;
  readonly #subscribers = new Set<string>();
  readonly #allowed: (bare: string) => boolean;
  readonly #max: () => number;
  readonly #maxPerDomain: () => number;
  readonly #perDomain = new Tally();
  /** What subscribers were last told; undefined: nothing since (re)connecting. */
  #announced: boolean | undefined;
  #announceAt: number | undefined;

  constructor(domain: string, options: ServicePresenceOptions = {}) {
    this.#domain = domain;
    this.#allowed = options.allowed ?? (() => true);
    this.#max = options.max ?? (() => Infinity);
    this.#maxPerDomain = options.maxPerDomain ?? (() => Infinity);
    if (options.subscribers) this.restore(options.subscribers);
  }

  /**
   * Replaces the subscribers with those stored, as the router comes to
   * serve: another instance on the same store may have added or removed
   * some while this one did not serve.
   */
  restore(stored: Iterable<string>): void {
    this.#subscribers.clear();
    this.#perDomain.clear();
    for (const jid of stored) {
      if (this.#subscribers.has(jid)) continue;
      this.#subscribers.add(jid);
      this.#perDomain.add(domainKey(jid));
    }
  }

  /** How many users are subscribed. */
  get size(): number {
    return this.#subscribers.size;
  }

  /** When {@link due} must run next, if ever. */
  get wakeAt(): number | undefined {
    return this.#announceAt;
  }

  /**
   * The stream is (again) online: what subscribers were told is unknown to
   * the server now. Announce as soon as resources are known, or after a
   * short wait if none shows up.
   */
  online(now: number): void {
    this.#announced = undefined;
    this.#announceAt = this.#subscribers.size > 0 ? now + ANNOUNCE_AFTER_MS : undefined;
  }

  /** The first announcement after a (re)connect, when its wait is over. */
  due(now: number, available: boolean, send: XmlElement[]): void {
    if (this.#announceAt === undefined || this.#announceAt > now) return;
    this.#announceAt = undefined;
    this.update(available, send);
  }

  /** Availability may have changed: tell every subscriber if it did. */
  update(available: boolean, send: XmlElement[]): void {
    if (available === this.#announced) return;
    // While waiting for the first resources, an "unavailable" is premature.
    if (!available && this.#announced === undefined && this.#announceAt !== undefined) return;
    this.#announced = available;
    this.#announceAt = undefined;
    this.#tellAll(available, send);
  }

  /**
   * The service stops: every subscriber that may think it available is
   * told otherwise, and nothing more is due.
   */
  shutdown(send: XmlElement[]): void {
    this.#announceAt = undefined;
    if (this.#announced === false) return;
    this.#announced = false;
    this.#tellAll(false, send);
  }

  /**
   * Another instance serves the domain now (a hand-over): it tells the
   * subscribers, so nothing is due here until this one is online again.
   */
  standDown(): void {
    this.#announceAt = undefined;
    this.#announced = undefined;
  }

  /** Subscribers denied since they subscribed (a reload) are not told. */
  #tellAll(available: boolean, send: XmlElement[]): void {
    for (const jid of this.#subscribers) {
      if (this.#allowed(jid)) send.push(this.#presence(jid, available));
    }
  }

  /**
   * Handles a user's presence to the domain; returns the subscriber change
   * to persist and why it was refused, if either. Stanzas to send are
   * appended to `send`.
   */
  receive(stanza: XmlElement, available: boolean, send: XmlElement[]): PresenceAnswer {
    const from = stanza.attrs.from as string;
    const bare = bareOf(from);
    const type = stanza.attrs.type;
    if (!this.#allowed(bare) && (type === "subscribe" || type === "probe")) {
      // A denied user may not follow the service: `unsubscribed` is how RFC
      // 6121 refuses a subscription request, and answers a probe from a JID
      // without one. One who subscribed before a reload denied them is forgotten.
      send.push(presence("unsubscribed", { to: bare, from: this.#domain }));
      const change = this.#forget(bare);
      return change ? { change, refused: "forbidden" } : { refused: "forbidden" };
    }
    switch (type) {
      case "subscribe": {
        const added = !this.#subscribers.has(bare);
        const domain = domainKey(bare);
        if (
          added && (this.#subscribers.size >= this.#max() ||
            this.#perDomain.get(domain) >= this.#maxPerDomain())
        ) {
          // Refused like a denied user; those already subscribed keep theirs.
          send.push(presence("unsubscribed", { to: bare, from: this.#domain }));
          return { refused: "too_many_subscribers" };
        }
        if (added) {
          this.#subscribers.add(copyString(bare));
          this.#perDomain.add(domain);
        }
        send.push(presence("subscribed", { to: bare, from: this.#domain }));
        send.push(this.#presence(bare, available));
        return added ? { change: { change: "add", jid: bare } } : NOTHING;
      }
      case "unsubscribe": {
        const removed = this.#forget(bare);
        // The user stops following the service: as a contact's server
        // would (RFC 6121 §3.3.3), it is told the service is gone for it.
        if (removed) send.push(this.#presence(bare, false));
        return removed ? { change: removed } : NOTHING;
      }
      case "unsubscribed": {
        const removed = this.#forget(bare);
        return removed ? { change: removed } : NOTHING;
      }
      case "probe":
        send.push(this.#presence(from, available));
        return NOTHING;
      default:
        return NOTHING;
    }
  }

  /** Removes a subscriber; the change to persist, if it was one. */
  #forget(bare: string): SubscriberChange | undefined {
    if (!this.#subscribers.delete(bare)) return undefined;
    this.#perDomain.remove(domainKey(bare));
    return { change: "remove", jid: bare };
  }

  #presence(to: string, available: boolean): XmlElement {
    return presence(available ? undefined : "unavailable", { to, from: this.#domain });
  }
}

/**
 * The implementing account as the proxy sees it: its presence subscription
 * (asked on every connect, asked again with backoff when refused or lost)
 * and its resources, learnt from the presence it sends to the bare domain.
 */
import { drop } from "./effects.ts";
import { type Resource, ResourceSet } from "./resources.ts";
import type { Effects } from "./router_events.ts";
import type { RouterSettings } from "./settings.ts";
import { presence } from "./stanza.ts";
import { copyString, type XmlElement } from "./xml.ts";

const RESUBSCRIBE_MIN_MS = 1_000;
const RESUBSCRIBE_MAX_MS = 60_000;

/** What the rest of the router does when a resource comes or goes. */
export interface ResourceHooks {
  /** A resource not known before is online (its "up" event is reported already). */
  up(fx: Effects, resource: Resource, now: number): void;
  /** A resource went away (its "down" event is reported already). */
  down(fx: Effects, resource: Resource, now: number): void;
  /** Resources stopped draining: they take new work again (each step calls it once at most). */
  undrained(fx: Effects, now: number): void;
}

/** The target's subscription and resources. */
export class Target {
  readonly resources = new ResourceSet();
  readonly #settings: () => RouterSettings;
  readonly #hooks: ResourceHooks;
  #resubscribeAt: number | undefined;
  #backoffMs = RESUBSCRIBE_MIN_MS;
  #heard = false;

  constructor(settings: () => RouterSettings, hooks: ResourceHooks) {
    this.#settings = settings;
    this.#hooks = hooks;
  }

  /** Whether the server has confirmed the subscription or announced a resource since {@link online}. */
  get heard(): boolean {
    return this.#heard;
  }

  /** When a resubscription is due, if one is. */
  get wakeAt(): number | undefined {
    return this.#resubscribeAt;
  }

  /**
   * The stream is (again) online: resources of the earlier stream are
   * forgotten (returned: their requests wait unattached) and the subscription
   * asked for. No probe yet: before the approval, a probe would cancel the
   * subscription request.
   */
  online(fx: Effects): readonly Resource[] {
    const gone = this.resources.clear();
    this.#resubscribeAt = undefined;
    this.#heard = false;
    this.#subscribe(fx);
    return gone;
  }

  /** Presence from the target to the bare domain. */
  receive(fx: Effects, stanza: XmlElement, fromSlash: number, now: number): void {
    const from = stanza.attrs.from as string;
    const name = fromSlash < 0 ? undefined : from.slice(fromSlash + 1);
    const { domain, targetAddress } = this.#settings();
    switch (stanza.attrs.type) {
      case undefined: {
        if (name === undefined) return void drop(fx, "ignored_presence", stanza);
        const known = this.resources.get(name);
        const wasDraining = known?.draining ?? false;
        const dnd = stanza.getChildText("show")?.trim() === "dnd";
        const resource = this.resources.upsert(
          copyString(name),
          copyString(from),
          priorityOf(stanza),
          dnd,
          dnd || this.#drained(name),
        );
        this.#approved();
        if (!known) {
          fx.events.push({
            type: "resource",
            change: "up",
            resource: name,
            count: this.resources.size,
          });
        }
        const back = this.#drainingChanged(fx, resource, wasDraining);
        if (!known) return this.#hooks.up(fx, resource, now);
        if (back) this.#hooks.undrained(fx, now);
        return;
      }
      case "unavailable":
        if (name === undefined) return this.loseAll(fx, now);
        return this.#lose(fx, this.resources.remove(name), now);
      case "subscribe":
        fx.send.push(presence("subscribed", { to: targetAddress, from: domain }));
        return;
      case "subscribed":
        this.#approved();
        fx.events.push({ type: "subscription", state: "approved" });
        // Approved now, so a probe is safe (before approval it would cancel
        // the request): Prosody sends the resources' presence by itself,
        // ejabberd only when asked.
        fx.send.push(presence("probe", { to: targetAddress, from: domain }));
        return;
      case "error":
      case "unsubscribed": {
        // Without the subscription we learn nothing about resources: forget
        // them all and ask again, more slowly each time.
        this.loseAll(fx, now);
        const retryInMs = this.#backoffMs;
        this.#resubscribeAt = now + retryInMs;
        this.#backoffMs = Math.min(retryInMs * 2, RESUBSCRIBE_MAX_MS);
        const state = stanza.attrs.type === "error" ? "error" : "revoked";
        fx.events.push({ type: "subscription", state, retryInMs });
        return;
      }
      default:
        drop(fx, "ignored_presence", stanza);
    }
  }

  /** The config's `drain` changed: each resource drains as it and its presence now say. */
  redrain(fx: Effects, now: number): void {
    let back = false;
    for (const resource of this.resources.list()) {
      const was = resource.draining;
      resource.draining = resource.dnd || this.#drained(resource.name);
      back = this.#drainingChanged(fx, resource, was) || back;
    }
    // Once every resource has its new state: what waits then goes where it should.
    if (back) this.#hooks.undrained(fx, now);
  }

  /** Whether the config's `drain` names the resource. */
  #drained(name: string): boolean {
    return this.#settings().drain?.includes(name) ?? false;
  }

  /** Says a change of draining; true when the resource is back in service. */
  #drainingChanged(fx: Effects, resource: Resource, was: boolean): boolean {
    if (resource.draining === was) return false;
    const change = resource.draining ? "draining" : "undrained";
    fx.events.push({
      type: "resource",
      change,
      resource: resource.name,
      count: this.resources.size,
    });
    return !resource.draining;
  }

  /** Every resource is gone. */
  loseAll(fx: Effects, now: number): void {
    for (const resource of this.resources.clear()) this.#lose(fx, resource, now);
  }

  /** Asks for the subscription again if that is due. */
  tick(fx: Effects, now: number): void {
    if (this.#resubscribeAt === undefined || this.#resubscribeAt > now) return;
    this.#resubscribeAt = undefined;
    this.#subscribe(fx);
  }

  /** Asks for the subscription (and so the resources' presence) again, now. */
  resubscribe(fx: Effects): void {
    this.#resubscribeAt = undefined;
    this.#subscribe(fx);
  }

  /** Says goodbye to the target with unavailable presence; nothing is due after it. */
  goodbye(fx: Effects): void {
    const { domain, targetAddress } = this.#settings();
    fx.send.push(presence("unavailable", { to: targetAddress, from: domain }));
    this.quiet();
  }

  /** Nothing is due any more: no resubscription. */
  quiet(): void {
    this.#resubscribeAt = undefined;
  }

  #subscribe(fx: Effects): void {
    const { domain, targetAddress } = this.#settings();
    fx.send.push(presence("subscribe", { to: targetAddress, from: domain }));
    fx.events.push({ type: "subscription", state: "requested" });
  }

  /** The server spoke for the subscription: the next refusal starts the backoff afresh. */
  #approved(): void {
    this.#backoffMs = RESUBSCRIBE_MIN_MS;
    this.#heard = true;
  }

  #lose(fx: Effects, resource: Resource | undefined, now: number): void {
    if (!resource) return;
    const count = this.resources.size;
    fx.events.push({ type: "resource", change: "down", resource: resource.name, count });
    this.#hooks.down(fx, resource, now);
  }
}

/** RFC 6121 §4.7.2.3: an integer from -128 to 127, 0 when absent or bad. */
function priorityOf(stanza: XmlElement): number {
  const text = stanza.getChildText("priority");
  if (text === null) return 0;
  const value = Number.parseInt(text.trim(), 10);
  return Number.isNaN(value) ? 0 : Math.max(-128, Math.min(127, value));
}

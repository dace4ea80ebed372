/**
 * The live check of one proxy, end to end against its server: it connects
 * as the proxy does, on a guest stream (src/link/guest.ts) that never
 * takes the domain from an instance serving it, asks for the target's
 * presence subscription, learns which resources are online, sends one
 * disco#info to one of them through the proxy's addressing, and leaves.
 * Every wait is bounded; each finding is a fact (live_facts.ts).
 *
 * On a server that shares the domain between connections (ejabberd) beside
 * a serving instance, each answer reaches the check or the instance at
 * random, and the instance drops what it did not ask for: there the check
 * asks again until an answer reaches it (a subscribe every half second,
 * a probe every quarter, a disco#info every second), within its bounds.
 */
import { formatDuration } from "../config/duration.ts";
import type { ProxyConfig } from "../config/types.ts";
import { TOKEN_PREFIX } from "../core/jat.ts";
import { presence, requestError, type StanzaError } from "../core/stanza.ts";
import { xml, type XmlElement } from "../core/xml.ts";
import { HINTS } from "../link/ending.ts";
import { type Guest, GuestError, type GuestOptions, openGuest } from "../link/guest.ts";
import { discoFact } from "./live_disco.ts";
import type { Fact } from "./live_facts.ts";
import { TargetHeard } from "./live_target.ts";

const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
/** How long after the approval the server has to say which resources are online (the router's LEARN_MS). */
const SETTLE_MS = 1_000;
/** Beside a serving instance, half the answers go to it: a longer look, and asking again. */
const SETTLE_BESIDE_MS = 2_000;
const RESUBSCRIBE_MS = 500;
const REPROBE_MS = 250;
const REASK_MS = 1_000;
/** Closing the stream takes this long at most. */
const CLOSE_MS = 2_000;

/** What a request that reaches the check is answered with when no instance serves. */
const NOBODY_SERVES: StanzaError = {
  type: "wait",
  condition: "service-unavailable",
  text: "no instance of the proxy serves this domain now (a live check holds the connection)",
};

/** Options of {@link probeProxy}. */
export interface ProbeOptions {
  /** Each wait's bound. */
  readonly timeoutMs: number;
  /** Each fact as it is found (the text output prints it at once). */
  readonly onFact?: (fact: Fact) => void;
  /** Opens the guest stream. Default: {@link openGuest}. */
  readonly open?: (options: GuestOptions) => Promise<Guest>;
}

/** How the check ended its connection attempt. */
export type Connected =
  /** The check went through its steps. */
  | "checked"
  /** An instance holds the domain's only connection (Prosody's `conflict`). */
  | "serving"
  /** No connection. */
  | "failed";

/**
 * Runs the check of `proxy`; resolves with its facts (each also given to
 * `onFact`) and how the connection went. Never rejects.
 */
export async function probeProxy(
  proxy: ProxyConfig,
  options: ProbeOptions,
): Promise<{ facts: Fact[]; connected: Connected }> {
  const probe = new ProxyProbe(proxy, options);
  const connected = await probe.run();
  return { facts: probe.facts, connected };
}

class ProxyProbe {
  readonly facts: Fact[] = [];
  readonly #proxy: ProxyConfig;
  readonly #options: ProbeOptions;
  /** The check's JAT address (the long-address form, which no requester's JID can be). */
  readonly #token = `${TOKEN_PREFIX}live-check-${randomHex()}`;
  #guest: Guest | undefined;
  readonly #target: TargetHeard;
  /** The ids of the check's disco#info gets, and the first answer to any of them. */
  readonly #asked = new Set<string>();
  #answer: XmlElement | undefined;
  /** Why the stream ended before the check was done. */
  #ended: string | undefined;
  #orphans = 0;
  /** Whether the instance serving beside the check was reported. */
  #saidBeside = false;
  readonly #waiters = new Set<() => void>();

  constructor(proxy: ProxyConfig, options: ProbeOptions) {
    this.#proxy = proxy;
    this.#options = options;
    this.#target = new TargetHeard(proxy.targetAddress);
  }

  async run(): Promise<Connected> {
    const { domain, server, secret, maxStanzaSize, tls } = this.#proxy;
    const { timeoutMs } = this.#options;
    try {
      this.#guest = await (this.#options.open ?? openGuest)({
        url: server.url,
        domain,
        secret,
        timeoutMs,
        maxStanzaSize,
        ...(tls ? { tls } : {}),
        handlers: {
          onStanza: (stanza) => this.#receive(stanza),
          onOrphan: (stanza) => this.#orphan(stanza),
        },
      });
    } catch (error) {
      return this.#refused(error);
    }
    const guest = this.#guest;
    guest.ended.then((reason) => {
      this.#ended = reason ?? "the server closed the stream";
      this.#wake();
    });
    this.#fact("handshake", true, "handshake accepted");
    try {
      if (await guest.look) this.#besideFact();
      await this.#steps();
    } finally {
      await this.#leave(guest);
    }
    return "checked";
  }

  /** Subscription, resources, disco#info: each only if the one before held. */
  async #steps(): Promise<void> {
    if (!await this.#subscribe()) return;
    const resource = await this.#learnResources();
    if (resource === undefined) return;
    await this.#disco(resource);
  }

  /** Whether an instance is known to serve beside the check (it may show itself late). */
  #beside(): boolean {
    return this.#guest?.beside ?? false;
  }

  #besideFact(): void {
    this.#saidBeside = true;
    this.#fact(
      "serving",
      true,
      "another instance serves this domain beside the check (the server shares it between " +
        "connections): what reaches the check for it is passed on to it",
      { shared: true },
    );
  }

  /**
   * Asks (`ask`) and waits until `done()` holds or `deadline` passes;
   * beside a serving instance, which may have taken the answer, asks again
   * every `every` ms.
   */
  async #askUntil(
    ask: () => void,
    done: () => boolean,
    deadline: number,
    every: number,
  ): Promise<void> {
    ask();
    while (!done() && performance.now() < deadline) {
      await this.#until(done, Math.min(every, deadline - performance.now()));
      if (!done() && this.#beside() && performance.now() < deadline) ask();
    }
  }

  /** Why the connection failed, as a fact. */
  #refused(error: unknown): Connected {
    const { server } = this.#proxy;
    const condition = error instanceof GuestError ? error.condition : undefined;
    const reason = error instanceof Error ? error.message : String(error);
    if (condition === "conflict") {
      // Prosody checks the secret and the domain before it refuses a second connection.
      this.#fact(
        "handshake",
        true,
        "handshake accepted (the server checked the secret and the domain before it refused " +
          "a second connection)",
      );
      this.#fact(
        "serving",
        true,
        "an instance is serving (conflict): it holds the domain's only connection, so " +
          "subscription, resources and disco#info are its to prove",
        { condition },
      );
      return "serving";
    }
    if (condition !== undefined) {
      const hint = HINTS[condition];
      this.#fact("handshake", false, `handshake refused: ${condition}${hint ? ` (${hint})` : ""}`, {
        condition,
      });
    } else {
      this.#fact("connect", false, `cannot connect to ${server.url}: ${reason}`, { reason });
    }
    return "failed";
  }

  /** Asks for the subscription; whether it was approved. */
  async #subscribe(): Promise<boolean> {
    const { timeoutMs } = this.#options;
    const settled = () =>
      this.#target.subscription.state !== "pending" || this.#ended !== undefined;
    // Never a probe before the approval: it would cancel the request.
    await this.#askUntil(
      () => this.#send(presence("subscribe", this.#toTarget())),
      settled,
      performance.now() + timeoutMs,
      RESUBSCRIBE_MS,
    );
    const target = this.#proxy.targetAddress;
    const sub = this.#target.subscription;
    switch (sub.state) {
      case "approved":
        this.#fact("subscription", true, "subscription approved", { target });
        return true;
      case "refused":
        this.#fact("subscription", false, `subscription refused: ${target} answered unsubscribed`, {
          target,
        });
        return false;
      case "error":
        this.#fact("subscription", false, `subscription failed: ${sub.condition}`, {
          target,
          condition: sub.condition,
        });
        return false;
      case "pending":
        this.#fact(
          "subscription",
          false,
          this.#ended !== undefined
            ? `subscription not approved: the stream ended (${this.#ended})`
            : `subscription not approved within ${formatDuration(timeoutMs)}: ${target} must ` +
              `approve ${this.#proxy.domain}'s request once (its client online, with initial presence)`,
          { target },
        );
        return false;
    }
  }

  /**
   * Probes (safe once approved: ejabberd sends the resources' presence only
   * when probed) and listens a moment; the full JID of the first resource.
   */
  async #learnResources(): Promise<string | undefined> {
    const { timeoutMs } = this.#options;
    const start = performance.now();
    // A moment to hear them all; beside an instance, until one is heard too.
    const done = () => {
      const now = performance.now();
      const settle = this.#beside() ? SETTLE_BESIDE_MS : SETTLE_MS;
      return this.#ended !== undefined || now - start >= timeoutMs ||
        (now - start >= settle && (this.#target.resources.length > 0 || !this.#beside()));
    };
    await this.#askUntil(
      () => this.#send(presence("probe", this.#toTarget())),
      done,
      start + timeoutMs,
      REPROBE_MS,
    );
    const names = this.#target.resources;
    if (names.length === 0) {
      const why = this.#ended !== undefined
        ? `the stream ended (${this.#ended})`
        : `none announced within ${formatDuration(Math.round(performance.now() - start))} ` +
          "of the approval";
      this.#fact("resources", false, `no resource online: ${why}`, { resources: [] });
      return undefined;
    }
    // What the proxy would not give new work to: its own config's drain, or dnd.
    const draining = this.#target.draining(this.#proxy.drain);
    const said = draining.length === 0 ? "" : ` (draining: ${draining.join(", ")})`;
    this.#fact("resources", true, `resources online: ${names.join(", ")}${said}`, {
      resources: names,
      draining,
    });
    return this.#target.address(names[0]);
  }

  /** One disco#info get to `resource`, from `<domain>/<the check's JAT address>`. */
  async #disco(resource: string): Promise<void> {
    const { timeoutMs } = this.#options;
    const ask = () => {
      const id = `${this.#token.slice(1)}-${this.#asked.size}`;
      this.#asked.add(id);
      this.#send(xml(
        "iq",
        { type: "get", id, to: resource, from: `${this.#proxy.domain}/${this.#token}` },
        xml("query", { xmlns: NS_DISCO_INFO }),
      ));
    };
    const answered = () => this.#answer !== undefined || this.#ended !== undefined;
    await this.#askUntil(ask, answered, performance.now() + timeoutMs, REASK_MS);
    const why = this.#ended !== undefined
      ? `the stream ended (${this.#ended})`
      : `no answer within ${formatDuration(timeoutMs)}`;
    const { ok, text, details } = discoFact(resource, this.#answer, why);
    this.#fact("disco", ok, text, details);
  }

  /** Says goodbye to the target and closes the stream, whatever happened before. */
  async #leave(guest: Guest): Promise<void> {
    this.#send(presence("unavailable", this.#toTarget()));
    await guest.close(CLOSE_MS);
    if (guest.beside && !this.#saidBeside) this.#besideFact();
    if (this.#orphans > 0) {
      this.#fact(
        "orphans",
        true,
        `answered ${this.#orphans} request(s) with service-unavailable: no instance served ` +
          "this domain while the check held its connection",
        { answered: this.#orphans },
      );
    }
    const passedOn = guest.passedOn;
    const lost = guest.lostAtClose;
    const notes = [
      ...(passedOn > 0 ? [`${passedOn} stanza(s) for the serving instance passed on to it`] : []),
      ...(lost > 0 ? [`${lost} stanza(s) for it arrived as the check closed and were lost`] : []),
    ];
    this.#fact("close", true, `disconnected${notes.length ? ` (${notes.join("; ")})` : ""}`, {
      passed_on: passedOn,
      lost_at_close: lost,
    });
  }

  /** A stanza for the check: read (presence), claimed (its own answer), or not. */
  #receive(stanza: XmlElement): boolean {
    let mine = false;
    if (stanza.name === "presence") this.#target.read(stanza);
    else if (
      stanza.name === "iq" && this.#asked.has(stanza.attrs.id ?? "") &&
      (stanza.attrs.type === "result" || stanza.attrs.type === "error")
    ) {
      this.#answer ??= stanza;
      mine = true;
    }
    this.#wake();
    // Presence is only read: a serving instance beside the check needs it too.
    return mine;
  }

  /** Not the check's, and no instance serves: a request gets an error, nothing is left unanswered. */
  #orphan(stanza: XmlElement): void {
    const answer = requestError(stanza, this.#proxy.domain, NOBODY_SERVES);
    if (answer === undefined) return;
    this.#orphans++;
    this.#send(answer);
  }

  #toTarget(): { to: string; from: string } {
    return { to: this.#proxy.targetAddress, from: this.#proxy.domain };
  }

  #send(stanza: XmlElement): void {
    this.#guest?.send(stanza);
  }

  #fact(step: Fact["step"], ok: boolean, text: string, details?: Fact["details"]): void {
    const fact: Fact = details ? { step, ok, text, details } : { step, ok, text };
    this.facts.push(fact);
    this.#options.onFact?.(fact);
  }

  /** Resolves true once `done()` holds (checked at each stanza), or false after `ms`. */
  #until(done: () => boolean, ms: number): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (value: boolean) => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve(value);
      };
      const wake = () => {
        if (done()) finish(true);
      };
      const timer = setTimeout(() => finish(done()), Math.max(0, ms));
      this.#waiters.add(wake);
    });
  }

  #wake(): void {
    for (const wake of [...this.#waiters]) wake();
  }
}

function randomHex(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

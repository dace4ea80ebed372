/**
 * Proofs that a relay or a self-ping was made by an instance holding the
 * component's secret: an HMAC-SHA256 over what the stanza says, a fresh
 * nonce and a timestamp, keyed from the secret (HKDF, bound to the domain;
 * the secret itself is never used as a key). A proof counts once, and only
 * within {@link PROOF_WINDOW_MS} of the receiver's clock: the nonces seen
 * are remembered that long, so a captured proof cannot be played again.
 */
import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";

/** How far a proof's timestamp may be from the receiver's clock, either way. */
export const PROOF_WINDOW_MS = 30_000;
/** Nonces remembered at most; beyond, the oldest go (see {@link SeenNonces}). */
export const NONCES_KEPT = 50_000;

/** HKDF's `info`: a key for this use only. */
const KEY_INFO = "urn:xmpp:client-proxy:proof:0";
const NONCE_BYTES = 12;
const TIMESTAMP = /^\d{1,15}$/;

/** A proof as it travels: attributes `t` (ms since the epoch), `nonce` and `mac`. */
export interface Proof {
  readonly t: string;
  readonly nonce: string;
  readonly mac: string;
}

/** What a proof shows. */
export type Verdict =
  | "valid"
  /** None, or a part missing. */
  | "missing"
  /** Made without the secret, or for other content. */
  | "bad"
  /** Its timestamp is outside the window. */
  | "stale"
  /** Its nonce was seen before. */
  | "replayed";

/** The rule a stanza that fails its proof broke, for the log. */
export const BROKEN_RULE: Readonly<Record<Exclude<Verdict, "valid">, string>> = {
  missing: "no proof",
  bad: "proof does not match",
  stale: "proof outside the validity window",
  replayed: "proof used before",
};

/** Options of {@link Prover}; tests set them. */
export interface ProverOptions {
  /** A fresh nonce. Default: 96 random bits, in hex. */
  readonly nonce?: () => string;
  /** Nonces remembered at most. Default: {@link NONCES_KEPT}. */
  readonly kept?: number;
}

/** Makes and checks the proofs of one link (one domain, one secret). */
export class Prover {
  readonly #key: Uint8Array;
  readonly #nonce: () => string;
  readonly #seen: SeenNonces;

  constructor(domain: string, secret: string, options: ProverOptions = {}) {
    this.#key = new Uint8Array(hkdfSync("sha256", secret, domain, KEY_INFO, 32));
    this.#nonce = options.nonce ?? randomNonce;
    this.#seen = new SeenNonces(options.kept ?? NONCES_KEPT);
  }

  /** A proof of `fields`, made at `now` (ms since the epoch). */
  sign(fields: readonly string[], now: number): Proof {
    const t = String(Math.floor(now));
    const nonce = this.#nonce();
    return { t, nonce, mac: this.#mac(fields, t, nonce) };
  }

  /**
   * Whether `proof` proves `fields` at `now`. A valid one is used up: the
   * same proof shown again is "replayed".
   */
  check(fields: readonly string[], proof: Partial<Proof> | undefined, now: number): Verdict {
    const { t, nonce, mac } = proof ?? {};
    if (!t || !nonce || !mac) return "missing";
    if (!TIMESTAMP.test(t)) return "bad";
    const expected = new TextEncoder().encode(this.#mac(fields, t, nonce));
    const given = new TextEncoder().encode(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return "bad";
    const at = Number(t);
    if (Math.abs(now - at) > PROOF_WINDOW_MS) return "stale";
    return this.#seen.admit(nonce, at, now) ? "valid" : "replayed";
  }

  #mac(fields: readonly string[], t: string, nonce: string): string {
    const hmac = createHmac("sha256", this.#key);
    // Each part with its length first: no two lists of parts read the same.
    for (const part of [...fields, t, nonce]) hmac.update(`${part.length}:${part};`);
    return hmac.digest("base64url");
  }
}

/**
 * The nonces of valid proofs, each kept until its proof is out of the
 * window, at most `max` of them. When full, the oldest goes, and no proof
 * timed at or before it is taken any more: a replay of a forgotten nonce
 * is refused all the same.
 */
export class SeenNonces {
  readonly #max: number;
  /** Nonce → its proof's time, in the order seen. */
  readonly #at = new Map<string, number>();
  /** Proofs timed at or before this may have been forgotten. */
  #floor = -Infinity;

  constructor(max: number) {
    this.#max = max;
  }

  /** How many are kept. */
  get size(): number {
    return this.#at.size;
  }

  /** Records a nonce seen at `now` in a proof timed `at`; false if it cannot be told new. */
  admit(nonce: string, at: number, now: number): boolean {
    for (const [old, time] of this.#at) {
      if (time >= now - PROOF_WINDOW_MS) break;
      // Out of the window: a replay would be refused as stale anyway.
      this.#at.delete(old);
    }
    if (at <= this.#floor || this.#at.has(nonce)) return false;
    if (this.#at.size >= this.#max) {
      const [oldest, time] = this.#at.entries().next().value as [string, number];
      this.#at.delete(oldest);
      this.#floor = Math.max(this.#floor, time);
    }
    this.#at.set(nonce, at);
    return true;
  }
}

function randomNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

/**
 * Choosing the resource that gets a request: a small pure function per
 * policy, over the resources that are eligible.
 */
import type { Resource } from "./resources.ts";

/** The balancing policies a proxy can use. */
export const BALANCES = Object.freeze(
  ["random", "round-robin", "least-pending", "sticky"] as const,
);

/** One of {@link BALANCES}. */
export type Balance = typeof BALANCES[number];

/** What a choice depends on besides the resources. */
export interface ChoiceContext {
  /**
   * What rendezvous hashing places (sticky): the requester's bare JID, or a
   * request's affinity key (src/core/affinity.ts).
   */
  readonly rendezvousKey: string;
  /** A counter that grows by one per choice (round-robin). */
  readonly turn: number;
  /** Uniform in [0, 1) (random, least-pending's ties). */
  readonly random: () => number;
  /** A resource holding this many requests is skipped. */
  readonly maxPerResource: number;
  /** A resource that must not be chosen (the one a failover left). */
  readonly exclude?: Resource;
}

/** The chosen resource, or why there is none. */
export type Choice =
  | {
    readonly kind: "chosen";
    readonly resource: Resource;
    /** For a request with an affinity key: the key as pinned (a copy, to keep). */
    readonly key?: string;
  }
  | { readonly kind: "none" }
  | { readonly kind: "full" };

/**
 * Chooses a resource for a request. Resources with a negative priority are
 * used only when no non-negative one is eligible (RFC 6121 §4.7.2.3 says
 * they should not get messages meant for the bare JID); draining ones
 * (`<show>dnd</show>`) never.
 */
export function choose(
  policy: Balance,
  resources: readonly Resource[],
  context: ChoiceContext,
): Choice {
  let preferred: Resource[] | undefined;
  let fallback: Resource[] | undefined;
  let full = false;
  for (const resource of resources) {
    if (resource === context.exclude || resource.draining) continue;
    if (resource.pending.size >= context.maxPerResource) {
      full = true;
      continue;
    }
    if (resource.priority >= 0) (preferred ??= []).push(resource);
    else (fallback ??= []).push(resource);
  }
  const eligible = preferred ?? fallback;
  if (!eligible) return full ? FULL : NONE;
  return { kind: "chosen", resource: POLICIES[policy](eligible, context) };
}

const NONE: Choice = Object.freeze({ kind: "none" });
const FULL: Choice = Object.freeze({ kind: "full" });

type Policy = (eligible: Resource[], context: ChoiceContext) => Resource;

const POLICIES: Readonly<Record<Balance, Policy>> = {
  "random": (eligible, { random }) => eligible[Math.floor(random() * eligible.length)],
  "round-robin": (eligible, { turn }) => eligible[turn % eligible.length],
  "least-pending": leastPending,
  "sticky": sticky,
};

function leastPending(
  eligible: Resource[],
  { random }: ChoiceContext,
): Resource {
  let best = eligible[0];
  let ties = 1;
  for (let i = 1; i < eligible.length; i++) {
    const candidate = eligible[i];
    const diff = candidate.pending.size - best.pending.size;
    if (diff < 0) {
      best = candidate;
      ties = 1;
    } else if (diff === 0 && random() * ++ties < 1) {
      // Reservoir sampling: each of the tied resources wins with 1/ties.
      best = candidate;
    }
  }
  return best;
}

/**
 * Rendezvous (highest random weight) hashing: every key (a requester, or
 * an affinity key) ranks the resources by a hash of (key, resource name)
 * and takes the best, so a resource leaving moves only its own keys and
 * one joining takes only the keys that now rank it first. The hash
 * depends on nothing else: a new process gives the same answers.
 */
function sticky(
  eligible: Resource[],
  { rendezvousKey }: ChoiceContext,
): Resource {
  let best = eligible[0];
  let bestScore = -1;
  for (const candidate of eligible) {
    const score = fnv1a(rendezvousKey, candidate.name);
    if (score > bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return best;
}

/** 32-bit FNV-1a over two strings separated by a NUL, then mixed. */
function fnv1a(a: string, b: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < a.length; i++) {
    hash = Math.imul(hash ^ a.charCodeAt(i), 0x01000193);
  }
  hash = Math.imul(hash, 0x01000193);
  for (let i = 0; i < b.length; i++) {
    hash = Math.imul(hash ^ b.charCodeAt(i), 0x01000193);
  }
  // Final avalanche (from murmur3) so that similar names spread well.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  return hash >>> 0;
}

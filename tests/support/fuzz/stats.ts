/** The counters of a fuzzing run, or of many added up. */

/** Counters of one run, or of many. */
export interface RunStats {
  steps: number;
  requests: number;
  forwards: number;
  /** Forwards for requesters too long for the mod_client_proxy form (a token). */
  longForwards: number;
  refusedRequests: number;
  /** Requests answered at once, by condition. */
  refusedBy: Record<string, number>;
  relays: number;
  failovers: number;
  timeouts: number;
  shutdowns: number;
  drops: number;
  /** Requests the target started (allow_target_requests) sent on. */
  initiated: number;
  /** Messages forwarded either way (messages: forward). */
  messages: number;
  /** The service's own presence sent (presence: true). */
  presence: number;
  rateLimited: number;
  /** Requests that waited for the first resource after (re)connecting, and those then forwarded. */
  parked: number;
  unparked: number;
  /** Users' messages that waited for the first resource. */
  waitedMessages: number;
  /** Restarts of the proxy mid-run (hostile). */
  restarts: number;
  /** Stanzas over max_stanza_size the router received (hostile). */
  oversized: number;
  /** Of those, answers to a pending request, settled with an error at once. */
  oversizedAnswers: number;
  /**
   * Affinity: forwards to a key's pin (`held`), pins made, pins ended by
   * why, and requests that waited for their key's resource after a reconnect.
   */
  affinity: {
    held: number;
    pinned: number;
    resource_left: number;
    expired: number;
    evicted: number;
    waited: number;
  };
  /** Resources that began draining (`<show>dnd</show>`). */
  draining: number;
  /**
   * A hot standby: hand-overs to another instance (from serving, not a
   * look's) and the requests they answered, looks from standby, take-overs
   * and the stanzas a look held for them, stanzas that went to the sibling instead (while standing by,
   * or held by a look that found it), the sibling's writes to the shared
   * store, and late replies to handed-over requests (dropped).
   */
  standby: {
    handOvers: number;
    answered: number;
    looks: number;
    takeOvers: number;
    held: number;
    relayed: number;
    siblingWrites: number;
    lateReplies: number;
  };
  tolerated: Record<string, number>;
}

export function emptyStats(): RunStats {
  return {
    steps: 0,
    requests: 0,
    forwards: 0,
    longForwards: 0,
    refusedRequests: 0,
    refusedBy: {},
    relays: 0,
    failovers: 0,
    timeouts: 0,
    shutdowns: 0,
    drops: 0,
    initiated: 0,
    messages: 0,
    presence: 0,
    rateLimited: 0,
    parked: 0,
    unparked: 0,
    waitedMessages: 0,
    restarts: 0,
    oversized: 0,
    oversizedAnswers: 0,
    affinity: { held: 0, pinned: 0, resource_left: 0, expired: 0, evicted: 0, waited: 0 },
    draining: 0,
    standby: {
      handOvers: 0,
      answered: 0,
      looks: 0,
      takeOvers: 0,
      held: 0,
      relayed: 0,
      siblingWrites: 0,
      lateReplies: 0,
    },
    tolerated: {},
  };
}

export function addStats(into: RunStats, from: RunStats): void {
  into.steps += from.steps;
  into.requests += from.requests;
  into.forwards += from.forwards;
  into.longForwards += from.longForwards;
  into.refusedRequests += from.refusedRequests;
  into.relays += from.relays;
  into.failovers += from.failovers;
  into.timeouts += from.timeouts;
  into.shutdowns += from.shutdowns;
  into.drops += from.drops;
  into.initiated += from.initiated;
  into.messages += from.messages;
  into.presence += from.presence;
  into.rateLimited += from.rateLimited;
  into.parked += from.parked;
  into.unparked += from.unparked;
  into.waitedMessages += from.waitedMessages;
  into.restarts += from.restarts;
  into.oversized += from.oversized;
  into.oversizedAnswers += from.oversizedAnswers;
  into.draining += from.draining;
  for (const k of Object.keys(into.affinity) as (keyof RunStats["affinity"])[]) {
    into.affinity[k] += from.affinity[k];
  }
  for (const k of Object.keys(into.standby) as (keyof RunStats["standby"])[]) {
    into.standby[k] += from.standby[k];
  }
  for (const [k, v] of Object.entries(from.tolerated)) {
    into.tolerated[k] = (into.tolerated[k] ?? 0) + v;
  }
  for (const [k, v] of Object.entries(from.refusedBy)) {
    into.refusedBy[k] = (into.refusedBy[k] ?? 0) + v;
  }
}

/**
 * What a SIGINT or SIGTERM means, given the ones before it: the first stops
 * gracefully, a later one ends the grace at once, and one after that quits
 * without waiting for anything.
 */

/** What a stop signal asks for. */
export type StopRequest =
  /** Stop taking requests, give those in flight `shutdown_grace`, exit 0. */
  | "stop"
  /** End the grace now: what is still in flight is answered at once. */
  | "hurry"
  /** Exit now, whatever is still going on. */
  | "quit"
  /** The same keypress again: ignore. */
  | "repeat";

/**
 * Under `deno task`, one Ctrl-C reaches the proxy twice within a few
 * milliseconds (the terminal signals the whole process group, and the task
 * runner forwards it): signals this close to the one before count once.
 */
export const REPEAT_MS = 1_000;

/** Counts stop signals; `now` is in milliseconds, from any fixed origin. */
export class StopSignals {
  #last = -Infinity;
  #count = 0;

  /** What the signal received at `now` asks for. */
  receive(now: number): StopRequest {
    if (this.#count > 0 && now - this.#last < REPEAT_MS) return "repeat";
    this.#last = now;
    this.#count++;
    return this.#count === 1 ? "stop" : this.#count === 2 ? "hurry" : "quit";
  }
}

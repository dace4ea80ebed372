/** What the router's parts (requests, messages) read of the router they belong to. */
import type { Gate } from "./gate.ts";
import type { Placement } from "./placement.ts";
import type { RouterSettings } from "./settings.ts";

/** What the router's parts read of the router they belong to. */
export interface RouterContext {
  /** The settings in force (a reload replaces them). */
  readonly settings: RouterSettings;
  readonly placement: Placement;
  readonly gate: Gate;
  /** False once draining: new requests are refused. */
  readonly accepting: boolean;
  /** Until when, after (re)connecting, a stanza finding no resource waits. */
  readonly learnUntil: number | undefined;
  /** Everything held, both ways: what `max_pending` caps. */
  readonly inFlightCount: number;
}

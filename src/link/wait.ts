/** Waiting that can be cut short: the one timer pattern the shell needs. */

/** A wait in progress. */
export interface Wait {
  /** Resolves when the time is up or {@link cancel} was called. */
  readonly done: Promise<void>;
  /** Ends the wait now. */
  cancel(): void;
}

/**
 * Waits `ms` milliseconds, or less if cancelled.
 *
 * @param options.unref let the process exit while waiting. Default: false.
 */
export function wait(ms: number, options: { unref?: boolean } = {}): Wait {
  let cancel = () => {};
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (options.unref) Deno.unrefTimer(timer);
    cancel = () => {
      clearTimeout(timer);
      resolve();
    };
  });
  return { done, cancel };
}

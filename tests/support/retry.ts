/** Trying again a few times: for what the kernel may need a moment for. */

/**
 * Calls `attempt` until it succeeds, `times` times at most, waiting
 * `pauseMs` between tries; rethrows the last failure.
 */
export async function retry<T>(
  attempt: () => Promise<T>,
  options: { times: number; pauseMs: number },
): Promise<T> {
  let lastError: unknown;
  for (let i = 0; i < options.times; i++) {
    try {
      return await attempt();
    } catch (error) {
      lastError = error;
      if (i + 1 < options.times) {
        await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
      }
    }
  }
  throw lastError;
}

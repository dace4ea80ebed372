/** Waits that end: a test fails instead of hanging when something never comes. */

/** `promise`, or a rejection naming `what` once `ms` have passed without it settling. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Fails the test (instead of hanging it) when `body` takes longer than `ms`. */
export function bounded<T>(ms: number, body: () => Promise<T>): Promise<T> {
  return within(body(), ms, "the test");
}

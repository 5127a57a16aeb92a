/**
 * Runs `task` over `items` with at most `limit` running at once. Every started task is awaited even
 * when one fails (so nothing keeps running behind the caller's back); then the first error is thrown.
 */
export async function forEachConcurrently<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  const queue = items.values();
  let firstError: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    for (const item of queue) {
      if (firstError) return;
      try {
        await task(item);
      } catch (error) {
        firstError ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  if (firstError) throw firstError.error;
}

/** Runs the tasks given to it with at most `limit` at once; the others wait their turn in order. */
export function createLimiter(limit: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async (task) => {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else running++;
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next waiter, or free it.
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}

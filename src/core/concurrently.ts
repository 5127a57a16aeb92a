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

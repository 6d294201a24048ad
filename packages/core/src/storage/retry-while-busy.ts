import type { WriteLockWait } from './storage-adapter.js';

/** The first backoff, in ms; each next one doubles up to {@link LONGEST_DELAY_MS}. */
const FIRST_DELAY_MS = 1;
/**
 * The longest backoff, in ms. Short, because a lock that nobody queues for goes to whoever asks while it is free: a
 * writer that polls seldom loses it to writers that poll often.
 */
const LONGEST_DELAY_MS = 16;

/**
 * Reruns `attempt`, whose first run just failed with `error`, while `wait.isBusy` says that another connection or
 * process held the write lock: after an asynchronous backoff each time (1 ms doubling up to 16 ms, each delay drawn
 * at random between half of it and all of it, so that waiting processes do not poll in step), until `wait.timeoutMs`
 * has passed since the first refusal; the last try runs at that deadline. Any other error, or the busy error after
 * the deadline, is thrown as it came. Without `wait`, `error` is thrown at once.
 *
 * `attempt` must change nothing when it is refused busy: a transaction's begin, or one statement in autocommit.
 * The event loop runs while the writer waits, so other work of the process (timers, lease renewals, the
 * transaction holding the lock through another adapter in the same process) goes on meanwhile.
 *
 * @example
 * ```ts
 * // An adapter's migration lock, beginning its transaction as every Storage write does:
 * const begin = () => sql`begin immediate`.execute(conn);
 * try {
 *   await begin();
 * } catch (error) {
 *   await retryWhileBusy(begin, error, adapter.writeLockWait);
 * }
 * ```
 */
export async function retryWhileBusy<T>(
  attempt: () => Promise<T>,
  error: unknown,
  wait: WriteLockWait | undefined,
): Promise<T> {
  if (wait === undefined || !wait.isBusy(error)) throw error;
  const deadline = Date.now() + Math.max(0, wait.timeoutMs);
  for (let delay = FIRST_DELAY_MS; ; delay = Math.min(delay * 2, LONGEST_DELAY_MS)) {
    const left = deadline - Date.now();
    if (left <= 0) throw error;
    await new Promise((resolve) => setTimeout(resolve, Math.min(left, delay * (0.5 + Math.random() / 2))));
    try {
      return await attempt();
    } catch (next) {
      if (!wait.isBusy(next)) throw next;
      error = next;
    }
  }
}

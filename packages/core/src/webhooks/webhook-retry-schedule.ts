/**
 * When a failed delivery is tried again: exponential backoff with full jitter. Attempt `n` (1 = the first try) that
 * failed waits a uniformly random time in `[0, min(maxDelayMs, baseMs × 2^(n-1))]`; a delivery whose next attempt
 * would fall more than `windowMs` after it was created is given up (`failed`).
 *
 * With the defaults (1 min base, 6 h cap, 3 day window) the caps run 1, 2, 4, … 256 min, then 6 h: about 25–35
 * attempts over three days, never more than 6 h apart.
 */
export interface RetrySchedule {
  readonly baseMs: number;
  readonly maxDelayMs: number;
  readonly windowMs: number;
}

/** The defaults of {@link RetrySchedule}: 1 min, 6 h, 3 days. */
export const DEFAULT_RETRY_SCHEDULE: RetrySchedule = Object.freeze({
  baseMs: 60_000,
  maxDelayMs: 6 * 3_600_000,
  windowMs: 3 * 86_400_000,
});

/** The largest wait after failed attempt `attempts` (≥ 1). */
export function retryDelayCap(schedule: RetrySchedule, attempts: number): number {
  const exp = Math.min(Math.max(attempts - 1, 0), 40);
  return Math.min(schedule.maxDelayMs, schedule.baseMs * 2 ** exp);
}

/**
 * When to try again after failed attempt `attempts` at `now`, for a delivery created at `createdAt`; `undefined` to
 * give up. `random` returns a number in `[0, 1)`.
 */
export function nextAttemptAt(
  schedule: RetrySchedule,
  attempts: number,
  now: number,
  createdAt: number,
  random: () => number = Math.random,
): number | undefined {
  const end = createdAt + schedule.windowMs;
  if (now >= end) return undefined;
  const cap = retryDelayCap(schedule, attempts);
  // Full jitter over [0, cap], but never sooner than `baseMs` (or the cap, if smaller): bad luck cannot make a burst.
  const wait = Math.max(Math.min(schedule.baseMs, cap), Math.floor(random() * (cap + 1)));
  return Math.min(end, now + wait);
}

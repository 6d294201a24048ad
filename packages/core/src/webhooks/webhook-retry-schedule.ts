/**
 * When a failed delivery is tried again: exponential backoff with full jitter. Attempt `n` (1 = the first try) that
 * failed waits a uniformly random time in `[0, min(maxDelayMs, baseMs × 2^(n-1))]`; a delivery whose next attempt
 * would fall more than `windowMs` after it was created is given up (`failed`).
 *
 * With the defaults (1 min base, 6 h cap, 3 day window) the caps run 1, 2, 4, … 256 min, then 6 h: about 25–35
 * attempts over three days (33 on average), never more than 6 h apart.
 *
 * @example
 * ```ts
 * const schedule: RetrySchedule = { baseMs: 30_000, maxDelayMs: 3_600_000, windowMs: 86_400_000 };
 * createMarketplace({ adapter, webhooks: { retry: schedule } });
 * ```
 */
export interface RetrySchedule {
  /** The first retry's largest wait, and the smallest wait between attempts. */
  readonly baseMs: number;
  /** The largest wait between two attempts. */
  readonly maxDelayMs: number;
  /** How long after the delivery was made attempts go on; a failure at or past it gives the delivery up. */
  readonly windowMs: number;
}

/**
 * The defaults of {@link RetrySchedule}: 1 min, 6 h, 3 days.
 *
 * @example
 * ```ts
 * DEFAULT_RETRY_SCHEDULE.windowMs; // 259_200_000
 * ```
 */
export const DEFAULT_RETRY_SCHEDULE: RetrySchedule = Object.freeze({
  baseMs: 60_000,
  maxDelayMs: 6 * 3_600_000,
  windowMs: 3 * 86_400_000,
});

/**
 * The largest wait after failed attempt `attempts` (≥ 1): `min(maxDelayMs, baseMs × 2^(attempts-1))`.
 *
 * @example
 * ```ts
 * retryDelayCap(DEFAULT_RETRY_SCHEDULE, 3); // 240_000 (4 min)
 * ```
 */
export function retryDelayCap(schedule: RetrySchedule, attempts: number): number {
  const exp = Math.min(Math.max(attempts - 1, 0), 40);
  return Math.min(schedule.maxDelayMs, schedule.baseMs * 2 ** exp);
}

/**
 * When to try again after failed attempt `attempts` at `now`, for a delivery created at `createdAt`; `undefined` to
 * give up. `random` returns a number in `[0, 1)`.
 *
 * @example
 * ```ts
 * nextAttemptAt(DEFAULT_RETRY_SCHEDULE, 2, now, createdAt); // 1 to 2 min after now
 * ```
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

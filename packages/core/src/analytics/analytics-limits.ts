/**
 * Limits of `market.analytics`.
 *
 * @example
 * ```ts
 * const from = new Date('2026-01-01');
 * const to = new Date(from.getTime() + ANALYTICS_LIMITS.maxDays * 86_400_000); // the longest range accepted
 * ```
 */
export const ANALYTICS_LIMITS = Object.freeze({
  /** The longest range `daily` reports on, in days. */
  maxDays: 366,
  /** Decimal places of the rates (`takeRate`, refund and dispute rates). */
  ratePlaces: 4,
});

/** One UTC day in milliseconds. */
export const DAY_MS = 86_400_000;

import type { Marketplace } from '@marketkit/core';

/**
 * The part of `market.analytics.daily`'s answer the console charts: one UTC day in one currency. Declared here from
 * the analytics module's contract until `@marketkit/core` exports it; the console reads it through
 * {@link dailyFiguresSource} and shows nothing (and says so) when the marketplace has no analytics.
 */
export interface ConsoleDailyFigures {
  /** `YYYY-MM-DD`, UTC. */
  readonly day: string;
  readonly currency: string;
  /** Value of the orders paid that day, in minor units. */
  readonly gmv: bigint;
  /** Commission earned that day, in minor units. */
  readonly commission: bigint;
  /** `commission / gmv` as a decimal string (`'0.1000'`). */
  readonly takeRate: string;
  /** Money held in escrow at the end of the day, in minor units. */
  readonly escrowOutstanding: bigint;
}

/** `market.analytics.daily` as the console calls it. */
export type DailyFiguresSource = (input: {
  readonly from: Date;
  readonly to: Date;
}) => Promise<readonly ConsoleDailyFigures[]>;

/** `market.analytics.daily`, bound, or `undefined` when this marketplace has no analytics module. */
export function dailyFiguresSource(market: Marketplace): DailyFiguresSource | undefined {
  const analytics = (market as { readonly analytics?: { readonly daily?: unknown } }).analytics;
  const daily = analytics?.daily;
  if (typeof daily !== 'function') return undefined;
  return (input) => (daily as DailyFiguresSource).call(analytics, input);
}

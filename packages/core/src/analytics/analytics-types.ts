/**
 * What `market.analytics.daily` takes: a range of whole UTC days and, optionally, one currency.
 *
 * @example
 * ```ts
 * const march: DailyInput = { from: new Date('2026-03-01'), to: new Date('2026-04-01'), currency: 'EUR' };
 * ```
 */
export interface DailyInput {
  /** First day, at 00:00 UTC (inclusive). */
  readonly from: Date;
  /** Day after the last, at 00:00 UTC (exclusive); at most {@link ANALYTICS_LIMITS}.maxDays after `from`. */
  readonly to: Date;
  /** Only this currency (ISO 4217); all currencies when absent. */
  readonly currency?: string;
}

/**
 * Count, amount and rate of refunds or disputes on one day.
 *
 * @example
 * ```ts
 * const [day] = await market.analytics.daily({ from: new Date('2026-03-01'), to: new Date('2026-03-02') });
 * if (day !== undefined && day.refunds.count > 0) console.log(`${day.refunds.count} refunds, ${day.refunds.rate} of GMV`);
 * ```
 */
export interface DailyIncidents {
  readonly count: number;
  /** Minor units. */
  readonly amount: bigint;
  /** `amount / gmv` of the same day as a decimal string with 4 places (half-even), `'0'` when `gmv` is 0. */
  readonly rate: string;
}

/**
 * The money figures of one UTC day in one currency, computed from the ledger's escrow transfers, the order events and
 * the payout rows. Flows (`gmv`, `commission`, refunds, disputes) count what happened during the day; stocks
 * (`escrowOutstanding`, `escrowOldestAgeMs`, `payoutsPending`) are read at the end of the day (00:00 UTC the next
 * day, exclusive).
 *
 * @example
 * ```ts
 * for (const d of await market.analytics.daily({ from: new Date('2026-03-01'), to: new Date('2026-04-01') }))
 *   console.log(d.day, d.currency, Money.fromMinor(d.gmv, d.currency).format(), d.takeRate, d.escrowOldestAgeMs);
 * ```
 */
export interface DailyFigures {
  /** The UTC day, `YYYY-MM-DD`. */
  readonly day: string;
  /** ISO 4217 code. */
  readonly currency: string;
  /** Value of the orders paid that day: the sum of the escrow captures recorded that day, in minor units. */
  readonly gmv: bigint;
  /** How many orders were paid (captured into escrow) that day. */
  readonly paidOrders: number;
  /** Commission credited to the platform that day (escrow releases and dispute splits), in minor units. */
  readonly commission: bigint;
  /** `commission / gmv` as a decimal string with 4 places (half-even), `'0'` when `gmv` is 0. */
  readonly takeRate: string;
  /**
   * Commission given back that day: transfers with the refund code out of the platform's commission account. The
   * built-in flows never make one (refunds leave escrow before any commission is taken), so it is 0 unless the host
   * posts such transfers through the ledger.
   */
  readonly commissionRefunded: bigint;
  /** `commission - commissionRefunded`: what the platform kept from that day's activity. */
  readonly netRevenue: bigint;
  /** Refunds paid to buyers out of escrow that day (each refund transfer counts once; full and partial). */
  readonly refunds: DailyIncidents;
  /** Disputes opened that day; `amount` is the value of the disputed orders (their paid amount). */
  readonly disputes: DailyIncidents;
  /** Money held in order escrows at the end of the day, in minor units. */
  readonly escrowOutstanding: bigint;
  /** Age at the end of the day of the oldest capture whose escrow was still not empty; `null` when none was. */
  readonly escrowOldestAgeMs: number | null;
  /** Payouts requested and neither paid nor failed at the end of the day, in minor units. */
  readonly payoutsPending: bigint;
}

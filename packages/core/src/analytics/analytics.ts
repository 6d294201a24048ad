import { parseInput } from '../errors/validation-error.js';
import type { ProcessDefinition } from '../orders/process/process-definition.js';
import type { Storage } from '../storage/storage.js';
import {
  disputeSums,
  escrowChanges,
  escrowSpans,
  flowSums,
  payoutChanges,
  type ReportScope,
} from './analytics-queries.js';
import { dailyInputSchema } from './analytics-schemas.js';
import type { DailyFigures, DailyInput } from './analytics-types.js';
import { dailyFigures } from './daily-figures.js';

/**
 * Money figures of the marketplace by UTC day and currency (`market.analytics`), computed from the ledger's escrow
 * transfers, the order events and the payout rows: exact minor units as `bigint`, rates as decimal strings. Reads
 * only; safe to call from a dashboard.
 *
 * @example
 * ```ts
 * const market = createMarketplace({ adapter, payments });
 * const days = await market.analytics.daily({ from: new Date('2026-03-01'), to: new Date('2026-03-08') });
 * ```
 */
export class Analytics {
  readonly #storage: Storage;
  readonly #disputeTransitions: readonly string[];
  constructor(storage: Storage, process: ProcessDefinition) {
    this.#storage = storage;
    // A dispute is opened by the transitions that freeze escrow (`openDispute` in the built-in process).
    this.#disputeTransitions = process.transitions.filter((t) => t.effects.includes('freezeEscrow')).map((t) => t.name);
  }

  /**
   * The figures of each UTC day in `[from, to)` and currency that had activity (see {@link DailyFigures}), ordered by
   * day then currency. `from` and `to` are midnights UTC, `from < to`, at most 366 days apart; `currency` narrows
   * the report to one currency. Bad input is `VALIDATION_FAILED`.
   *
   * @example
   * ```ts
   * const days = await market.analytics.daily({ from: new Date('2026-01-01'), to: new Date('2026-02-01') });
   * for (const d of days) console.log(d.day, d.currency, d.gmv, d.takeRate, d.escrowOutstanding);
   * ```
   */
  async daily(input: DailyInput): Promise<readonly DailyFigures[]> {
    const parsed = parseInput(dailyInputSchema, input, 'analytics range');
    const scope: ReportScope = { from: parsed.from.getTime(), to: parsed.to.getTime(), currency: parsed.currency };
    const data = await this.#storage.read(
      async (db) => ({
        flows: await flowSums(db, scope),
        disputes: await disputeSums(db, scope, this.#disputeTransitions),
        escrow: await escrowChanges(db, scope),
        spans: await escrowSpans(db, scope),
        ...(await payoutChanges(db, scope).then((p) => ({ payoutsRequested: p.requested, payoutsSettled: p.settled }))),
      }),
      'primary',
    );
    return Object.freeze(dailyFigures(scope, data).map((d) => Object.freeze(d)));
  }
}

import { z } from 'zod';
import { LEDGER_LIMITS } from './ledger-limits.js';

/**
 * Options of the ledger (`createMarketplace({ ledger })`).
 *
 * @example
 * ```ts
 * const market = createMarketplace({ adapter, ledger: { coalesce: true } });
 * // 64 concurrent createTransfers calls now share a handful of transactions
 * ```
 */
export interface LedgerOptions {
  /**
   * Group commit for `createTransfers`: calls that arrive while this instance's previous batch is in its
   * transaction wait and commit together in the next one (one transaction in flight per instance). Each call keeps
   * its own results, indices and linked chains; the outcome equals running the calls one after another in the
   * order they were made. `true`, or `{ maxBatch }` to cap the transfers of one shared transaction (1 to
   * `LEDGER_LIMITS.maxBatchSize`, the default; a call is never split, and one larger than `maxBatch` runs alone). Default off. See docs/ledger.md,
   * "Coalescing concurrent calls".
   */
  readonly coalesce?: boolean | { readonly maxBatch?: number };
}

/** @internal */
export const ledgerOptionsSchema = z.strictObject({
  coalesce: z
    .union([
      z.boolean(),
      z.strictObject({ maxBatch: z.number().int().min(1).max(LEDGER_LIMITS.maxBatchSize).optional() }),
    ])
    .optional(),
});

/** The coalescer's batch cap, or `undefined` when coalescing is off. @internal */
export function coalesceMaxBatch(options: z.output<typeof ledgerOptionsSchema> | undefined): number | undefined {
  const c = options?.coalesce;
  if (c === undefined || c === false) return undefined;
  if (c === true) return LEDGER_LIMITS.maxBatchSize;
  return c.maxBatch ?? LEDGER_LIMITS.maxBatchSize;
}

import { sql } from 'kysely';
import { toNumber } from '../storage/int64.js';
import type { MarketkitTransaction } from '../storage/storage.js';

/** The result of `listings.verifyStock()`: `ok` when no problem was found. */
export interface StockVerification {
  readonly ok: boolean;
  /** One line per broken invariant, naming the listing. */
  readonly problems: readonly string[];
  readonly listingsChecked: number;
}

/**
 * Checks, per listing, that the cached counters equal the sums of its reservations (`sold` = units of sold
 * reservations, `reserved` = units of active ones) and that `sold + reserved ≤ quantity` with no counter below 0.
 */
export async function verifyStock(trx: MarketkitTransaction): Promise<StockVerification> {
  const listings = await trx
    .selectFrom('listings')
    .select(['id', 'quantity', 'sold', 'reserved'])
    .orderBy('id')
    .execute();
  const sums = await trx
    .selectFrom('stock_reservations')
    .select(['listing_id', 'status', sql<string>`sum(quantity)`.as('units')])
    .where('status', 'in', ['active', 'sold'])
    .groupBy(['listing_id', 'status'])
    .execute();
  const by = new Map(sums.map((s) => [`${s.listing_id}/${s.status}`, toNumber(s.units)]));
  const problems: string[] = [];
  for (const l of listings) {
    const [quantity, sold, reserved] = [toNumber(l.quantity), toNumber(l.sold), toNumber(l.reserved)];
    const soldSum = by.get(`${l.id}/sold`) ?? 0;
    const reservedSum = by.get(`${l.id}/active`) ?? 0;
    if (sold !== soldSum) problems.push(`listing ${l.id}: sold ${sold} != units of sold reservations ${soldSum}`);
    if (reserved !== reservedSum)
      problems.push(`listing ${l.id}: reserved ${reserved} != units of active reservations ${reservedSum}`);
    if (sold < 0 || reserved < 0 || sold + reserved > quantity) {
      problems.push(`listing ${l.id}: sold ${sold} + reserved ${reserved} exceeds quantity ${quantity} or is negative`);
    }
  }
  return { ok: problems.length === 0, problems, listingsChecked: listings.length };
}

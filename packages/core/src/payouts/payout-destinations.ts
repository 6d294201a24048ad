import type { Kysely, Selectable } from 'kysely';
import { z } from 'zod';
import { storableText } from '../errors/storable-text.js';
import type { MarketkitDatabase } from '../schema/database.js';
import { toNumber } from '../storage/int64.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import type { PayoutDestinationsTable } from './payout-tables.js';

/** A seller or payout id: 1–100 printable ASCII characters without spaces. */
export const payoutRefSchema = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[\x21-\x7e]+$/);

/** A payout destination: the provider's token for the seller's bank account or connected account, 1–255 characters. */
export const payoutDestinationSchema = storableText().min(1).max(255);

/** A seller's stored payout destination. */
export interface PayoutDestination {
  readonly sellerId: string;
  /** The provider's token for the seller's bank account, or (Stripe Connect) the seller's `acct_…`. */
  readonly destination: string;
  /** When it was last set (epoch milliseconds). */
  readonly updatedAt: number;
}

/** What `payouts.setDestination` takes. */
export interface PayoutDestinationInput {
  readonly sellerId: string;
  readonly destination: string;
}

/**
 * Zod schema of a {@link PayoutDestinationInput}, what `market.payouts.setDestination` checks its input with: the
 * seller id and destination follow the same rules as in a payout request.
 */
export const payoutDestinationInputSchema = z.strictObject({
  sellerId: payoutRefSchema,
  destination: payoutDestinationSchema,
});

/** Stores `destination` as the seller's payout destination, replacing any earlier one. */
export async function upsertPayoutDestination(
  trx: MarketkitTransaction,
  input: PayoutDestinationInput,
  now: number,
): Promise<void> {
  await trx
    .insertInto('payout_destinations')
    .values({ seller_id: input.sellerId, destination: input.destination, updated_at: now })
    .onConflict((oc) => oc.column('seller_id').doUpdateSet({ destination: input.destination, updated_at: now }))
    .execute();
}

/** The seller's stored payout destination, read through `db` (a transaction, in a payout's hold), or `undefined`. */
export async function storedPayoutDestination(
  db: Kysely<MarketkitDatabase>,
  sellerId: string,
): Promise<PayoutDestination | undefined> {
  const row = await db
    .selectFrom('payout_destinations')
    .selectAll()
    .where('seller_id', '=', sellerId)
    .executeTakeFirst();
  return row === undefined ? undefined : destinationFromRow(row);
}

function destinationFromRow(r: Selectable<PayoutDestinationsTable>): PayoutDestination {
  return { sellerId: r.seller_id, destination: r.destination, updatedAt: toNumber(r.updated_at) };
}

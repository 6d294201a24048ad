import type { MarketkitMigration } from '../migration-context.js';

/** Each seller's stored payout destination (the provider's token or connected account), used when a payout names none. */
export const payoutDestinationsMigration: MarketkitMigration = {
  name: '0014-payout-destinations',
  async up(db, { types }) {
    await db.schema
      .createTable('payout_destinations')
      .addColumn('seller_id', 'text', (c) => c.primaryKey())
      .addColumn('destination', 'text', (c) => c.notNull())
      .addColumn('updated_at', types.int64, (c) => c.notNull())
      .execute();
  },
};

import type { MarketkitMigration } from '../migration-context.js';

/** Seller payouts. */
export const payoutsMigration: MarketkitMigration = {
  name: '0009-payouts',
  async up(db, { types, prefix }) {
    await db.schema
      .createTable('payouts')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('seller_id', 'text', (c) => c.notNull())
      .addColumn('currency', 'text', (c) => c.notNull())
      .addColumn('amount_minor', types.int64, (c) => c.notNull())
      .addColumn('destination', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('provider_payout_id', 'text')
      .addColumn('failure', 'text')
      .addColumn('created_at', types.int64, (c) => c.notNull())
      .addColumn('updated_at', types.int64, (c) => c.notNull())
      .execute();
    await db.schema.createIndex(`${prefix}payouts_status_idx`).on('payouts').columns(['status', 'id']).execute();
  },
};

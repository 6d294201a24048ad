import { sql } from 'kysely';
import type { MarketkitMigration } from '../migration-context.js';

/** Listings with stock counters, and stock reservations with their expiry. */
export const listingsMigration: MarketkitMigration = {
  name: '0007-listings',
  async up(db, { types, prefix }) {
    const i64 = types.int64;
    await db.schema
      .createTable('listings')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('seller_id', 'text', (c) => c.notNull())
      .addColumn('title', 'text', (c) => c.notNull())
      .addColumn('price_minor', i64, (c) => c.notNull())
      .addColumn('currency', 'text', (c) => c.notNull())
      .addColumn('quantity', i64, (c) => c.notNull())
      .addColumn('sold', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('reserved', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('commission', 'text')
      .addColumn('status', 'text', (c) => c.notNull().defaultTo('active'))
      .addColumn('version', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', i64, (c) => c.notNull())
      .addColumn('updated_at', i64, (c) => c.notNull())
      .addCheckConstraint(
        `${prefix}listings_stock_check`,
        sql`sold >= 0 and reserved >= 0 and sold + reserved <= quantity`,
      )
      .execute();
    await db.schema.createIndex(`${prefix}listings_seller_idx`).on('listings').column('seller_id').execute();
    await db.schema
      .createTable('stock_reservations')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('listing_id', 'text', (c) => c.notNull())
      .addColumn('order_id', 'text')
      .addColumn('quantity', i64, (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('expires_at', i64, (c) => c.notNull())
      .addColumn('created_at', i64, (c) => c.notNull())
      .addColumn('updated_at', i64, (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex(`${prefix}stock_reservations_expiry_idx`)
      .on('stock_reservations')
      .columns(['status', 'expires_at'])
      .execute();
    await db.schema
      .createIndex(`${prefix}stock_reservations_listing_idx`)
      .on('stock_reservations')
      .column('listing_id')
      .execute();
  },
};

import type { MarketkitMigration } from '../migration-context.js';

/** Orders and their append-only event history. */
export const ordersMigration: MarketkitMigration = {
  name: '0008-orders',
  async up(db, { types, prefix }) {
    const i64 = types.int64;
    await db.schema
      .createTable('orders')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('process', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('buyer_id', 'text', (c) => c.notNull())
      .addColumn('seller_id', 'text', (c) => c.notNull())
      .addColumn('listing_id', 'text', (c) => c.notNull())
      .addColumn('quantity', i64, (c) => c.notNull())
      .addColumn('amount_minor', i64, (c) => c.notNull())
      .addColumn('commission_minor', i64, (c) => c.notNull())
      .addColumn('currency', 'text', (c) => c.notNull())
      .addColumn('reservation_id', 'text', (c) => c.notNull())
      .addColumn('payment_method', 'text', (c) => c.notNull())
      .addColumn('authorization_id', 'text')
      .addColumn('capture_id', 'text')
      .addColumn('refunded_minor', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('frozen', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('pending_op', 'text')
      .addColumn('pending_op_expires_at', i64)
      .addColumn('state_entered_at', i64, (c) => c.notNull())
      .addColumn('version', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', i64, (c) => c.notNull())
      .addColumn('updated_at', i64, (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex(`${prefix}orders_state_idx`)
      .on('orders')
      .columns(['state', 'state_entered_at'])
      .execute();
    await db.schema.createIndex(`${prefix}orders_buyer_idx`).on('orders').column('buyer_id').execute();
    await db.schema.createIndex(`${prefix}orders_seller_idx`).on('orders').column('seller_id').execute();
    await db.schema
      .createTable('order_events')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('order_id', 'text', (c) => c.notNull())
      .addColumn('seq', i64, (c) => c.notNull())
      .addColumn('transition', 'text', (c) => c.notNull())
      .addColumn('from_state', 'text')
      .addColumn('to_state', 'text', (c) => c.notNull())
      .addColumn('actor_role', 'text', (c) => c.notNull())
      .addColumn('actor_id', 'text', (c) => c.notNull())
      .addColumn('reason', 'text')
      .addColumn('data', 'text')
      .addColumn('at', i64, (c) => c.notNull())
      .addUniqueConstraint(`${prefix}order_events_seq_key`, ['order_id', 'seq'])
      .execute();
  },
};

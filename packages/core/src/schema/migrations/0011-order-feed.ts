import { sql } from 'kysely';
import type { MarketkitMigration } from '../migration-context.js';

/**
 * The channel the order-event trigger notifies on commit; the payload is the schema-qualified table name. Written
 * out (a released migration never changes meaning); `ORDER_EVENTS_CHANNEL` in `orders/order-feed.ts` must equal it.
 */
const CHANNEL = 'marketkit_order_events';

/**
 * A position for every order event that follows commit order, so that a reader resuming "after position P" never
 * misses an event that committed late (the order feed, `orders.feed`).
 * - With one writer at a time (SQLite) the `rowid` already is one: a transaction's rows get rowids above every
 *   committed row, and the next writer starts after the commit. Nothing to add.
 * - With concurrent writers (PostgreSQL) insert order is not commit order. Each row records the id of the
 *   transaction that wrote it (`tx`, a 64-bit `xid8` as bigint) and an identity (`pos`); the feed reads only rows
 *   whose `tx` is below the oldest transaction still running (`pg_snapshot_xmin`), in `(tx, pos)` order: every row
 *   that commits later has a larger `tx`. A statement trigger sends `NOTIFY marketkit_order_events` with the
 *   insert; PostgreSQL delivers it on commit, to listeners in every process.
 */
export const orderFeedMigration: MarketkitMigration = {
  name: '0011-order-feed',
  async up(db, { capabilities, prefix }) {
    if (!capabilities.concurrentWriters) return;
    await db.schema
      .alterTable('order_events')
      .addColumn('tx', 'bigint', (c) => c.notNull().defaultTo(sql`(pg_current_xact_id()::text::bigint)`))
      .execute();
    await db.schema
      .alterTable('order_events')
      .addColumn('pos', 'bigint', (c) => c.notNull().generatedAlwaysAsIdentity())
      .execute();
    await db.schema.createIndex(`${prefix}order_events_feed_idx`).on('order_events').columns(['tx', 'pos']).execute();
    await sql`create or replace function marketkit_notify_order_events() returns trigger language plpgsql as $$
      begin perform pg_notify(${sql.lit(CHANNEL)}, tg_table_schema || '.' || tg_table_name); return null; end
      $$`.execute(db);
    await sql`create trigger ${sql.id(`${prefix}order_events_notify`)} after insert on ${sql.table('order_events')}
      for each statement execute function marketkit_notify_order_events()`.execute(db);
  },
};

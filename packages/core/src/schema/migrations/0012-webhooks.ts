import type { MarketkitMigration } from '../migration-context.js';

/** Creates the tables declared in `webhooks/webhook-tables.ts`: webhook endpoints and their deliveries. */
export const webhooksMigration: MarketkitMigration = {
  name: '0012-webhooks',
  async up(db, { types, prefix }) {
    const i64 = types.int64;
    await db.schema
      .createTable('webhook_endpoints')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('url', 'text', (c) => c.notNull())
      .addColumn('description', 'text')
      .addColumn('event_types', 'text', (c) => c.notNull())
      .addColumn('seller_id', 'text')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('disabled_reason', 'text')
      .addColumn('secret', 'text', (c) => c.notNull())
      .addColumn('previous_secret', 'text')
      .addColumn('previous_secret_expires_at', i64)
      .addColumn('failing_since', i64)
      .addColumn('created_at', i64, (c) => c.notNull())
      .addColumn('updated_at', i64, (c) => c.notNull())
      .execute();
    // The fan-out finds a batch's per-seller endpoints through the orders' sellers.
    await db.schema
      .createIndex(`${prefix}webhook_endpoints_seller_idx`)
      .on('webhook_endpoints')
      .column('seller_id')
      .execute();
    await db.schema
      .createTable('webhook_deliveries')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('endpoint_id', 'text', (c) => c.notNull())
      .addColumn('event_id', 'text', (c) => c.notNull())
      .addColumn('event_type', 'text', (c) => c.notNull())
      .addColumn('aggregate_type', 'text', (c) => c.notNull())
      .addColumn('aggregate_id', 'text', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('attempts', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('next_attempt_at', i64)
      .addColumn('fence', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('last_error', 'text')
      .addColumn('last_status_code', i64)
      .addColumn('last_attempt_at', i64)
      .addColumn('delivered_at', i64)
      .addColumn('created_at', i64, (c) => c.notNull())
      .addColumn('updated_at', i64, (c) => c.notNull())
      .execute();
    // Exactly one delivery per (event, endpoint): the fan-out inserts with ON CONFLICT DO NOTHING.
    await db.schema
      .createIndex(`${prefix}webhook_deliveries_event_endpoint_uq`)
      .on('webhook_deliveries')
      .columns(['event_id', 'endpoint_id'])
      .unique()
      .execute();
    // What workers claim by: only pending deliveries have a next_attempt_at.
    await db.schema
      .createIndex(`${prefix}webhook_deliveries_due_idx`)
      .on('webhook_deliveries')
      .column('next_attempt_at')
      .execute();
    await db.schema
      .createIndex(`${prefix}webhook_deliveries_endpoint_idx`)
      .on('webhook_deliveries')
      .columns(['endpoint_id', 'id'])
      .execute();
  },
};

import type { MarketkitMigration } from '../migration-context.js';

/**
 * Payments that need the customer (3-D Secure): the action an order's payment waits for (`orders.customer_action`,
 * JSON, with the client secret the host hands to its payment page), orders found by their authorization (a provider
 * event names the authorization), and the provider events already handled, by the provider's event id.
 */
export const customerActionsMigration: MarketkitMigration = {
  name: '0013-customer-actions',
  async up(db, { types, prefix }) {
    await db.schema.alterTable('orders').addColumn('customer_action', 'text').execute();
    await db.schema.createIndex(`${prefix}orders_authorization_idx`).on('orders').column('authorization_id').execute();
    await db.schema
      .createTable('provider_events')
      .addColumn('provider', 'text', (c) => c.notNull())
      .addColumn('event_id', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('authorization_id', 'text')
      .addColumn('order_id', 'text')
      .addColumn('received_at', types.int64, (c) => c.notNull())
      .addPrimaryKeyConstraint(`${prefix}provider_events_pk`, ['provider', 'event_id'])
      .execute();
  },
};

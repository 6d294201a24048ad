import type { MarketkitMigration } from '../migration-context.js';

/** Creates the tables declared in `idempotency/idempotency-tables.ts`: the `idempotency_keys` table. */
export const idempotencyMigration: MarketkitMigration = {
  name: '0006-idempotency',
  async up(db, { types, prefix }) {
    const i64 = types.int64;
    await db.schema
      .createTable('idempotency_keys')
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('operation', 'text', (c) => c.notNull())
      .addColumn('idempotency_key', 'text', (c) => c.notNull())
      .addColumn('fingerprint', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('result', 'text')
      .addColumn('lock_token', 'text')
      .addColumn('locked_until', i64)
      .addColumn('attempt', i64, (c) => c.notNull())
      .addColumn('created_at', i64, (c) => c.notNull())
      .addColumn('completed_at', i64)
      .addColumn('expires_at', i64, (c) => c.notNull())
      .addPrimaryKeyConstraint(`${prefix}idempotency_keys_pk`, ['actor', 'operation', 'idempotency_key'])
      .execute();
    // What the sweep reads.
    await db.schema
      .createIndex(`${prefix}idempotency_keys_expiry_idx`)
      .on('idempotency_keys')
      .column('expires_at')
      .execute();
  },
};

import type { MarketkitMigration } from '../migration-context.js';

/** Creates the tables declared in `locking/locking-tables.ts`: the `leases` table. */
export const lockingMigration: MarketkitMigration = {
  name: '0003-locking',
  async up(db, { types }) {
    const i64 = types.int64;
    await db.schema
      .createTable('leases')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('owner', 'text')
      .addColumn('token', i64, (c) => c.notNull())
      .addColumn('expires_at', i64, (c) => c.notNull())
      .addColumn('acquired_at', i64, (c) => c.notNull())
      .execute();
  },
};

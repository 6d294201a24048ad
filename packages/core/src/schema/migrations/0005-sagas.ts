import type { MarketkitMigration } from '../migration-context.js';

/** Creates the tables declared in `sagas/saga-tables.ts`: saga instances and their append-only step log. */
export const sagasMigration: MarketkitMigration = {
  name: '0005-sagas',
  async up(db, { types, prefix }) {
    const i64 = types.int64;
    await db.schema
      .createTable('saga_instances')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('step_index', i64, (c) => c.notNull())
      .addColumn('input', types.json, (c) => c.notNull())
      .addColumn('outputs', types.json, (c) => c.notNull())
      .addColumn('attempts', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('next_run_at', i64)
      .addColumn('lease_owner', 'text')
      .addColumn('lease_expires_at', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('version', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('last_error', 'text')
      .addColumn('resolution', 'text')
      .addColumn('created_at', i64, (c) => c.notNull())
      .addColumn('updated_at', i64, (c) => c.notNull())
      .execute();
    // What workers claim by: only live sagas have a next_run_at.
    await db.schema
      .createIndex(`${prefix}saga_instances_next_run_idx`)
      .on('saga_instances')
      .column('next_run_at')
      .execute();
    // What operators list.
    await db.schema
      .createIndex(`${prefix}saga_instances_status_idx`)
      .on('saga_instances')
      .columns(['status', 'updated_at'])
      .execute();

    await db.schema
      .createTable('saga_steps')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('saga_id', 'text', (c) => c.notNull())
      .addColumn('step_index', i64, (c) => c.notNull())
      .addColumn('step_name', 'text', (c) => c.notNull())
      .addColumn('phase', 'text', (c) => c.notNull())
      .addColumn('outcome', 'text', (c) => c.notNull())
      .addColumn('attempt', i64, (c) => c.notNull())
      .addColumn('detail', types.json)
      .addColumn('worker', 'text', (c) => c.notNull())
      .addColumn('created_at', i64, (c) => c.notNull())
      .execute();
    await db.schema.createIndex(`${prefix}saga_steps_saga_idx`).on('saga_steps').columns(['saga_id', 'id']).execute();
  },
};

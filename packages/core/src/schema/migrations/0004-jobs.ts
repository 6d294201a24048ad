import type { MarketkitMigration } from '../migration-context.js';

/** Creates the tables declared in `jobs/job-tables.ts`: the `jobs` table of durable timers. */
export const jobsMigration: MarketkitMigration = {
  name: '0004-jobs',
  async up(db, { types, prefix }) {
    const i64 = types.int64;
    await db.schema
      .createTable('jobs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('payload', types.json, (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('run_at', i64, (c) => c.notNull())
      .addColumn('next_run_at', i64)
      .addColumn('dedupe_key', 'text')
      .addColumn('attempts', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('lease_owner', 'text')
      .addColumn('lease_expires_at', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('version', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('last_error', 'text')
      .addColumn('created_at', i64, (c) => c.notNull())
      .addColumn('updated_at', i64, (c) => c.notNull())
      .execute();
    // What workers claim by: only live jobs have a next_run_at.
    await db.schema.createIndex(`${prefix}jobs_next_run_idx`).on('jobs').column('next_run_at').execute();
    await db.schema.createIndex(`${prefix}jobs_dedupe_uq`).on('jobs').column('dedupe_key').unique().execute();
  },
};

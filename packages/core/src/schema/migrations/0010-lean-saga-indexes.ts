import { sql } from 'kysely';
import type { MarketkitMigration } from '../migration-context.js';

/**
 * Fewer index writes per saga step, which every checkout now pays for (its saga is written with the order):
 * - the claim index holds live sagas only (`next_run_at is not null`): a finished saga leaves it instead of moving
 *   to its null end, and finished sagas never fill it;
 * - the status index becomes an index of `failed` sagas only (what operators list), so a saga's progress never
 *   touches it;
 * - the step log's primary key becomes `(saga_id, id)`, the order `history()` reads in, replacing both the key on
 *   `id` and the second index on `(saga_id, id)`: one index per entry instead of two. The table is rebuilt (a
 *   primary key cannot be changed in place on SQLite), rows copied as they are.
 */
export const leanSagaIndexesMigration: MarketkitMigration = {
  name: '0010-lean-saga-indexes',
  async up(db, { types, prefix }) {
    await db.schema.dropIndex(`${prefix}saga_instances_next_run_idx`).execute();
    await db.schema
      .createIndex(`${prefix}saga_instances_due_idx`)
      .on('saga_instances')
      .column('next_run_at')
      .where(sql.ref('next_run_at'), 'is not', null)
      .execute();
    await db.schema.dropIndex(`${prefix}saga_instances_status_idx`).execute();
    await db.schema
      .createIndex(`${prefix}saga_instances_failed_idx`)
      .on('saga_instances')
      .columns(['updated_at', 'id'])
      .where(sql.ref('status'), '=', sql.lit('failed'))
      .execute();

    const i64 = types.int64;
    await db.schema
      .createTable('saga_steps_rebuild')
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('saga_id', 'text', (c) => c.notNull())
      .addColumn('step_index', i64, (c) => c.notNull())
      .addColumn('step_name', 'text', (c) => c.notNull())
      .addColumn('phase', 'text', (c) => c.notNull())
      .addColumn('outcome', 'text', (c) => c.notNull())
      .addColumn('attempt', i64, (c) => c.notNull())
      .addColumn('detail', types.json)
      .addColumn('worker', 'text', (c) => c.notNull())
      .addColumn('created_at', i64, (c) => c.notNull())
      .addPrimaryKeyConstraint(`${prefix}saga_steps_saga_pk`, ['saga_id', 'id'])
      .execute();
    const columns = sql.join(
      ['id', 'saga_id', 'step_index', 'step_name', 'phase', 'outcome', 'attempt', 'detail', 'worker', 'created_at'].map(
        (c) => sql.id(c),
      ),
    );
    await sql`insert into ${sql.table('saga_steps_rebuild')} (${columns}) select ${columns} from ${sql.table('saga_steps')}`.execute(
      db,
    );
    await db.schema.dropTable('saga_steps').execute();
    // The new name unqualified (PostgreSQL renames within the table's schema), with the prefix applied by hand.
    await sql`alter table ${sql.table('saga_steps_rebuild')} rename to ${sql.id(`${prefix}saga_steps`)}`.execute(db);
  },
};

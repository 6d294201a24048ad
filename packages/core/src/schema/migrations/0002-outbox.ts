import { type Kysely, sql } from 'kysely';
import type { OutboxPartitionsTable } from '../../events/outbox-tables.js';
import type { MarketkitMigration } from '../migration-context.js';

/**
 * Partitions created by this migration. Written out rather than imported: a released migration never changes
 * meaning. `OUTBOX_PARTITIONS` in `events/outbox-limits.ts` must equal it; a later change needs a new migration.
 */
const PARTITIONS = 16;

/** Creates the tables declared in `events/outbox-tables.ts` and one lease row per outbox partition. */
export const outboxMigration: MarketkitMigration = {
  name: '0002-outbox',
  async up(db, { types, prefix }) {
    const i64 = types.int64;
    await db.schema
      .createTable('outbox_events')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('aggregate_type', 'text', (c) => c.notNull())
      .addColumn('aggregate_id', 'text', (c) => c.notNull())
      .addColumn('seq', i64, (c) => c.notNull())
      .addColumn('partition_no', i64, (c) => c.notNull())
      .addColumn('sort_key', i64, (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('payload', types.json, (c) => c.notNull())
      .addColumn('created_at', i64, (c) => c.notNull())
      .addColumn('delivered_at', i64)
      .execute();
    // What the relay reads: a partition's undelivered events in sort-key order. Partial, so it stays small.
    // Deliberately no other index (each one costs on every append and every delivery): (aggregate, seq) is unique
    // by construction (the counter row lock), and the retention sweep walks the primary key (ULIDs start with
    // their time).
    await db.schema
      .createIndex(`${prefix}outbox_events_pending_idx`)
      .on('outbox_events')
      .columns(['partition_no', 'sort_key'])
      .where(sql.ref('delivered_at'), 'is', null)
      .execute();
    await db.schema
      .createTable('outbox_aggregates')
      .addColumn('aggregate_type', 'text', (c) => c.notNull())
      .addColumn('aggregate_id', 'text', (c) => c.notNull())
      .addColumn('last_seq', i64, (c) => c.notNull())
      .addColumn('last_key', i64, (c) => c.notNull())
      .addPrimaryKeyConstraint(`${prefix}outbox_aggregates_pk`, ['aggregate_type', 'aggregate_id'])
      .execute();

    await db.schema
      .createTable('outbox_partitions')
      .addColumn('partition_no', i64, (c) => c.primaryKey())
      .addColumn('owner', 'text')
      .addColumn('fence', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('lease_expires_at', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('attempts', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('next_attempt_at', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('last_error', 'text')
      .execute();
    const typed = db.withTables<{ outbox_partitions: OutboxPartitionsTable }>() as Kysely<{
      outbox_partitions: OutboxPartitionsTable;
    }>;
    await typed
      .insertInto('outbox_partitions')
      .values(Array.from({ length: PARTITIONS }, (_, partition_no) => ({ partition_no })))
      .execute();
  },
};

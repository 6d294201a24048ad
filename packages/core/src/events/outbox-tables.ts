import type { ColumnType } from 'kysely';
import type { Int64Column, Int64DefaultColumn } from '../ledger/ledger-tables.js';

/** A nullable 64-bit integer column that starts out null. */
type NullableInt64Column = ColumnType<bigint | null, bigint | number | null | undefined, bigint | number | null>;

/**
 * Row shape of `outbox_events`: one domain event, written in the transaction of the change it describes.
 * `seq` numbers the events of one aggregate 1, 2, 3… in commit order; `sort_key` orders a partition's events
 * roughly by time while never contradicting `seq`; `delivered_at` is set once every sink has the event.
 */
export interface OutboxEventsTable {
  id: string;
  aggregate_type: string;
  aggregate_id: string;
  seq: Int64Column;
  partition_no: Int64Column;
  sort_key: Int64Column;
  type: string;
  /** JSON text on insert; read back parsed (PostgreSQL `jsonb`) or as text (SQLite). */
  payload: ColumnType<unknown, string, string>;
  created_at: Int64Column;
  delivered_at: NullableInt64Column;
  /** The W3C `traceparent` of the span that wrote it, or null (tracing off); the relay's span links to it. */
  trace_context: ColumnType<string | null, string | null | undefined, string | null>;
}

/**
 * Row shape of `outbox_aggregates`: the last sequence number and sort key handed out per aggregate. Its row
 * lock, taken by the upsert in `appendEvents`, serializes the writers of one aggregate until they commit.
 */
export interface OutboxAggregatesTable {
  aggregate_type: string;
  aggregate_id: string;
  last_seq: Int64Column;
  last_key: Int64Column;
}

/**
 * Row shape of `outbox_partitions`: the relay lease of one partition (owner, expiry, fencing token) and its
 * delivery backoff (attempts, next attempt, last error).
 */
export interface OutboxPartitionsTable {
  partition_no: Int64Column;
  owner: string | null;
  fence: Int64DefaultColumn;
  lease_expires_at: Int64DefaultColumn;
  attempts: Int64DefaultColumn;
  next_attempt_at: Int64DefaultColumn;
  last_error: string | null;
}

/** Tables of the outbox (events) module, by logical (unprefixed) name. */
export interface OutboxTables {
  outbox_events: OutboxEventsTable;
  outbox_aggregates: OutboxAggregatesTable;
  outbox_partitions: OutboxPartitionsTable;
}

/** Logical names of the tables above; the table prefix applies to exactly these. */
export const OUTBOX_TABLE_NAMES: readonly string[] = ['outbox_events', 'outbox_aggregates', 'outbox_partitions'];

import type { Selectable } from 'kysely';
import { toNumber } from '../storage/int64.js';
import { parsePayload } from './event-payload.js';
import type { JsonObject, OutboxEvent } from './event-types.js';
import type { OutboxEventsTable } from './outbox-tables.js';

/** The columns the relay reads. @internal */
export const EVENT_COLUMNS = [
  'id',
  'type',
  'aggregate_type',
  'aggregate_id',
  'seq',
  'partition_no',
  'payload',
  'created_at',
  'trace_context',
] as const;

/** A row of `outbox_events` as the relay reads it. @internal */
export type EventRow = Pick<Selectable<OutboxEventsTable>, (typeof EVENT_COLUMNS)[number]>;

/** Maps a row of `outbox_events` to what sinks receive. @internal */
export function eventFromRow(row: EventRow): OutboxEvent {
  const event: Mutable<OutboxEvent> = {
    id: row.id,
    type: row.type,
    aggregateType: row.aggregate_type,
    aggregateId: row.aggregate_id,
    sequence: toNumber(row.seq),
    partition: toNumber(row.partition_no),
    payload: parsePayload<JsonObject>(row.payload),
    createdAt: toNumber(row.created_at),
  };
  if (row.trace_context !== null) event.traceContext = row.trace_context;
  return Object.freeze(event);
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

import { type RawBuilder, sql } from 'kysely';
import type { Clock } from '../clock/clock.js';
import { MarketkitError } from '../errors/marketkit-error.js';
import { parseInput } from '../errors/validation-error.js';
import { activeTraceparent } from '../observability/tracing.js';
import { ParamNames } from '../storage/param-names.js';
import type { ParamRef } from '../storage/statement-template.js';
import { TENANT } from '../storage/tenant-plugin.js';
import { serializePayload } from './event-payload.js';
import { eventBatchSchema, plainEventBatch } from './event-schemas.js';
import type { OutboxEventInput } from './event-types.js';
import { nextOutboxIds, sortKeyBase } from './outbox-numbering.js';
import { partitionOf } from './partition-of.js';

/** The shape of the events {@link outboxCtes} writes. */
export interface OutboxCteShape {
  /** Prefix of the CTE names (`<name>_drafts`, `<name>_counters`, `<name>_events`) and of the values' names. */
  readonly name: string;
  /**
   * Per event, in order: a `jsonb` object built in the statement (say from a listing the statement updated),
   * merged over the payload, for values only the statement knows; it may reference the relation `from` names.
   */
  readonly merges: readonly (RawBuilder<unknown> | undefined)[];
  /** The backend's JSON column type (`jsonb` on PostgreSQL). */
  readonly jsonType: string;
  /**
   * A relation (a CTE name) the events are written once per row of: none written when it is empty. Default:
   * written unconditionally.
   */
  readonly from?: string;
}

/**
 * The CTEs that append events to the outbox inside one data-modifying statement (PostgreSQL), for code that writes
 * a whole transaction as one statement ({@link CheckedStatement}): the same counter upsert and insert as
 * {@link appendEvents}'s one-statement path, so events get the same ids, sequence numbers, sort keys and partitions.
 * Bind the values of {@link outboxValues} with the same `name`. `<name>_events` returns the inserted ids.
 *
 * @example
 * ```ts
 * const ctes = outboxCtes(p, { name: 'ob', merges: [undefined], jsonType: 'jsonb' });
 * const values = outboxValues('ob', [event], clock, now);
 * ```
 */
export function outboxCtes(p: ParamRef, shape: OutboxCteShape): RawBuilder<unknown>[] {
  const v = (i: number, field: string) => p(`${shape.name}_${i}_${field}`);
  const json = sql.raw(shape.jsonType);
  const rows = shape.merges.map((merge, i) => {
    const base = sql`cast(${v(i, 'payload')} as ${json})`;
    const payload = merge === undefined ? base : sql`${base} || ${merge}`;
    return sql`select cast(${v(i, 'id')} as text) as id, cast(${v(i, 'type_of')} as text) as aggregate_type,
      cast(${v(i, 'aggregate')} as text) as aggregate_id, cast(${v(i, 'partition')} as bigint) as partition_no,
      cast(${v(i, 'type')} as text) as type, ${payload} as payload${shape.from === undefined ? sql`` : sql` from ${sql.id(shape.from)}`}`;
  });
  const drafts = sql.id(`${shape.name}_drafts`);
  const counters = sql.id(`${shape.name}_counters`);
  const now = p(`${shape.name}_now`);
  return [
    sql`${drafts} as (${sql.join(rows, sql` union all `)})`,
    sql`${counters} as (
      insert into ${sql.table('outbox_aggregates')} (tenant, aggregate_type, aggregate_id, last_seq, last_key)
      select ${TENANT}, aggregate_type, aggregate_id, cast(1 as bigint), cast(${p(`${shape.name}_key`)} as bigint)
      from ${drafts}
      on conflict (tenant, aggregate_type, aggregate_id) do update set
        last_seq = ${sql.ref('outbox_aggregates.last_seq')} + excluded.last_seq,
        last_key = greatest(excluded.last_key, ${sql.ref('outbox_aggregates.last_key')} + excluded.last_seq)
      returning aggregate_type, aggregate_id, last_seq, last_key)`,
    sql`${sql.id(`${shape.name}_events`)} as (
      insert into ${sql.table('outbox_events')} (tenant, id, aggregate_type, aggregate_id, seq, partition_no, sort_key, type,
        payload, created_at, trace_context)
      select ${TENANT}, d.id, d.aggregate_type, d.aggregate_id, c.last_seq, d.partition_no, c.last_key, d.type, d.payload,
        cast(${now} as bigint), cast(${p(`${shape.name}_trace`)} as text)
      from ${drafts} d join ${counters} c on c.aggregate_type = d.aggregate_type and c.aggregate_id = d.aggregate_id
      returning id)`,
  ];
}

/** Parameter names of an outbox CTE's values: `<name>_now`, `<name>_key`, `<name>_trace`, and `<name>_<i>_<column>` per event. */
const OUTBOX_NAMES = new ParamNames(['now', 'key', 'trace'] as const, (name, _row, column) => `${name}_${column}`);
const EVENT_NAMES = new ParamNames(
  ['id', 'type_of', 'aggregate', 'partition', 'type', 'payload'] as const,
  (name, row, column) => `${name}_${row}_${column}`,
);

/**
 * The values of {@link outboxCtes} for `events` written at `now`: each gets the next outbox id of `clock`'s writers
 * in order. At most one event per aggregate (a statement must not write a counter row twice), given in aggregate
 * order (the order {@link appendEvents} locks counters in, so writers cannot deadlock on them). Throws
 * `VALIDATION_FAILED` like `appendEvents`.
 */
export function outboxValues(
  name: string,
  events: readonly OutboxEventInput[],
  clock: Clock,
  now: number,
): Record<string, unknown> {
  const batch = plainEventBatch(events) ?? parseInput(eventBatchSchema, events, 'events');
  const ids = nextOutboxIds(clock, now, batch.length);
  const top = OUTBOX_NAMES.of(name);
  const values: Record<string, unknown> = {
    [top.now]: now,
    [top.key]: sortKeyBase(now),
    [top.trace]: activeTraceparent(),
  };
  let previous = '';
  batch.forEach((e, i) => {
    const aggregate = `${e.aggregateType}\u0000${e.aggregateId}`;
    if (aggregate <= previous) {
      throw new MarketkitError('INTERNAL', { message: 'outbox CTE events must be one per aggregate, in order' });
    }
    previous = aggregate;
    const k = EVENT_NAMES.of(name, i);
    values[k.id] = ids[i];
    values[k.type_of] = e.aggregateType;
    values[k.aggregate] = e.aggregateId;
    values[k.partition] = partitionOf(e.aggregateType, e.aggregateId);
    values[k.type] = e.type;
    values[k.payload] = serializePayload(e.payload, i);
  });
  return values;
}

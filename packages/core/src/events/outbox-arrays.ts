import { type RawBuilder, sql } from 'kysely';
import type { Clock } from '../clock/clock.js';
import { parseInput } from '../errors/validation-error.js';
import { activeTraceparent } from '../observability/tracing.js';
import { TENANT } from '../storage/tenant-plugin.js';
import { serializePayload } from './event-payload.js';
import { eventBatchSchema, plainEventBatch } from './event-schemas.js';
import type { AppendedEvent, OutboxEventInput } from './event-types.js';
import { groupByAggregate } from './outbox-groups.js';
import { nextOutboxIds, sortKeyBase } from './outbox-numbering.js';
import { partitionOf } from './partition-of.js';

/**
 * A batch of events as the two data-modifying CTEs that append them on a backend where a JS array binds as one
 * parameter (`capabilities.arrayParams` and `writableCtes`, PostgreSQL): `<name>_counters`, the per-aggregate counter
 * upsert over `unnest` arrays (in aggregate order, the lock order of every writer), and `<name>_events`, the event
 * insert taking the sequence numbers and sort keys it reserved, `returning id, seq`. A parameter per column whatever
 * the batch size, so building, binding and planning cost the same for 1 event and for 10,000 (a `VALUES` list of
 * 1,000 events is 11,000 parameters). Same ids, sequence numbers, sort keys and partitions as `appendEvents`.
 */
export interface OutboxArrayCtes {
  /** The two CTEs, to put in a `with` (alone, or beside other writes of the same transaction). */
  readonly ctes: readonly RawBuilder<unknown>[];
  /** The events as `appendEvents` returns them, less `sequence`, which only the statement knows. */
  readonly drafts: readonly Omit<AppendedEvent, 'sequence'>[];
}

/**
 * The CTEs of {@link OutboxArrayCtes} for `events` written at `now` by `clock`'s writers. Throws `VALIDATION_FAILED`
 * (before anything is written) on malformed input or past `OUTBOX_LIMITS`, as `appendEvents` does.
 *
 * @example
 * ```ts
 * const { ctes } = outboxArrayCtes('ob', events, clock, clock.now(), 'jsonb');
 * await sql`with ${sql.join(ctes)} select count(*) from ob_events`.execute(trx);
 * ```
 */
export function outboxArrayCtes(
  name: string,
  events: readonly OutboxEventInput[],
  clock: Clock,
  now: number,
  jsonType: string,
): OutboxArrayCtes {
  const batch = plainEventBatch(events) ?? parseInput(eventBatchSchema, events, 'events');
  const ids = nextOutboxIds(clock, now, batch.length);
  const groups = groupByAggregate(batch);
  const n = batch.length;
  const [eventIds, aggTypes, aggIds, ks, counts, partitions, types, payloads] = [0, 1, 2, 3, 4, 5, 6, 7].map(
    () => new Array<unknown>(n),
  ) as [string[], string[], string[], number[], number[], number[], string[], string[]];
  const drafts = new Array<Omit<AppendedEvent, 'sequence'>>(n);
  const groupTypes = new Array<string>(groups.length);
  const groupIds = new Array<string>(groups.length);
  const groupCounts = new Array<number>(groups.length);
  const groupKeys = new Array<number>(groups.length);
  const baseKey = sortKeyBase(now);
  let row = 0;
  for (const [g, group] of groups.entries()) {
    const count = group.indexes.length;
    const partition = partitionOf(group.aggregateType, group.aggregateId);
    groupTypes[g] = group.aggregateType;
    groupIds[g] = group.aggregateId;
    groupCounts[g] = count;
    groupKeys[g] = baseKey + count - 1;
    for (const [k, index] of group.indexes.entries()) {
      const e = batch[index]!;
      eventIds[row] = ids[index]!;
      aggTypes[row] = e.aggregateType;
      aggIds[row] = e.aggregateId;
      ks[row] = k;
      counts[row] = count;
      partitions[row] = partition;
      types[row] = e.type;
      payloads[row] = serializePayload(e.payload, index);
      row++;
      drafts[index] = {
        id: ids[index]!,
        type: e.type,
        aggregateType: e.aggregateType,
        aggregateId: e.aggregateId,
        partition,
      };
    }
  }
  const counters = sql.id(`${name}_counters`);
  return {
    drafts,
    ctes: [
      sql`${counters} as (
        insert into ${sql.table('outbox_aggregates')} (tenant, aggregate_type, aggregate_id, last_seq, last_key)
        select ${TENANT}, * from unnest(cast(${groupTypes} as text[]), cast(${groupIds} as text[]),
          cast(${groupCounts} as int8[]), cast(${groupKeys} as int8[]))
        on conflict (tenant, aggregate_type, aggregate_id) do update set
          last_seq = ${sql.ref('outbox_aggregates.last_seq')} + excluded.last_seq,
          last_key = greatest(excluded.last_key, ${sql.ref('outbox_aggregates.last_key')} + excluded.last_seq)
        returning aggregate_type, aggregate_id, last_seq, last_key)`,
      sql`${sql.id(`${name}_events`)} as (
        insert into ${sql.table('outbox_events')} (tenant, id, aggregate_type, aggregate_id, seq, partition_no, sort_key,
          type, payload, created_at, trace_context)
        select ${TENANT}, v.id, v.aggregate_type, v.aggregate_id, c.last_seq - v.cnt + v.k + 1, v.partition_no,
          c.last_key - v.cnt + v.k + 1, v.type, cast(v.payload as ${sql.raw(jsonType)}), cast(${now} as int8),
          cast(${activeTraceparent()} as text)
        from unnest(cast(${eventIds} as text[]), cast(${aggTypes} as text[]), cast(${aggIds} as text[]),
          cast(${ks} as int8[]), cast(${counts} as int8[]), cast(${partitions} as int8[]), cast(${types} as text[]),
          cast(${payloads} as text[])) as v(id, aggregate_type, aggregate_id, k, cnt, partition_no, type, payload)
        join ${counters} c on c.aggregate_type = v.aggregate_type and c.aggregate_id = v.aggregate_id
        returning id, seq)`,
    ],
  };
}

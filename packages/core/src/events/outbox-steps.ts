import { type CompiledQuery, sql } from 'kysely';
import type { Clock } from '../clock/clock.js';
import { MarketkitError } from '../errors/marketkit-error.js';
import { parseInput } from '../errors/validation-error.js';
import { activeTraceparent } from '../observability/tracing.js';
import { toNumber } from '../storage/int64.js';
import { runPerRow, type StatementRunner, type StatementTemplates } from '../storage/statement-template.js';
import { TENANT } from '../storage/tenant-plugin.js';
import { serializePayload } from './event-payload.js';
import { eventBatchSchema, plainEventBatch } from './event-schemas.js';
import type { AppendedEvent, OutboxEventInput } from './event-types.js';
import { groupByAggregate } from './outbox-groups.js';
import { advanceCounter, nextOutboxIds, sortKeyBase } from './outbox-numbering.js';
import { partitionOf } from './partition-of.js';

/**
 * How {@link appendOneEvent} writes: `jsonType` set (the backend runs data-modifying CTEs, PostgreSQL) for one
 * statement that casts the payload to that type; unset for two statements (SQLite, where a statement costs no round
 * trip).
 */
export interface OneEventStatement {
  readonly jsonType?: string | undefined;
}

/**
 * Appends one event to the outbox inside the caller's transaction with statement templates (compiled once, then
 * only bound), so the event gets the same id, sequence number, sort key and partition as with {@link appendEvents}
 * and no statement is built per call. With `shape.jsonType` (PostgreSQL) the counter upsert and the insert are one
 * data-modifying statement (one round trip); otherwise two. Throws `VALIDATION_FAILED` like `appendEvents`.
 *
 * @example
 * ```ts
 * await appendOneEvent(trx, templates, event, clock, clock.now());
 * ```
 */
export async function appendOneEvent(
  trx: StatementRunner,
  templates: StatementTemplates,
  event: OutboxEventInput,
  clock: Clock,
  now: number,
  shape: OneEventStatement = {},
): Promise<AppendedEvent> {
  if (shape.jsonType === undefined) return (await appendEventsByRows(trx, templates, [event], clock, now))[0]!;
  const { query, appended } = oneEventStatement(templates, event, clock, now, shape.jsonType);
  const result = await trx.executeQuery<{ seq: bigint | number | string }>(query);
  const row = result.rows[0];
  if (row === undefined) throw new MarketkitError('INTERNAL', { message: 'outbox insert wrote no event' });
  return appended(toNumber(row.seq));
}

/**
 * Appends `events` with two statement templates (compiled once, then only bound): per aggregate, in aggregate order
 * (every writer's lock order), the counter upsert reserving its events' sequence numbers and sort keys, then an
 * insert per event. For backends where a statement costs no round trip (SQLite): no statement is built, compiled or
 * plugin-passed per call, whatever the batch size; with `batches` (the adapter's `capabilities.statementBatches`) each
 * template's rows run as one batched query. Same ids, sequence numbers, sort keys and partitions as
 * `appendEvents`; throws `VALIDATION_FAILED` like it, before writing anything.
 */
export async function appendEventsByRows(
  trx: StatementRunner,
  templates: StatementTemplates,
  events: readonly OutboxEventInput[],
  clock: Clock,
  now: number,
  batches = false,
): Promise<AppendedEvent[]> {
  const batch = plainEventBatch(events) ?? parseInput(eventBatchSchema, events, 'events');
  const payloads = batch.map((e, i) => serializePayload(e.payload, i));
  const ids = nextOutboxIds(clock, now, batch.length);
  const traceContext = activeTraceparent();
  const groups = groupByAggregate(batch);
  const bumps = groups.map((g) => ({
    type: g.aggregateType,
    id: g.aggregateId,
    count: g.indexes.length,
    key: sortKeyBase(now) + g.indexes.length - 1,
  }));
  const counters = await runPerRow<{ last_seq: bigint | number; last_key: bigint | number }>(
    trx,
    bumpTemplate(templates),
    bumps,
    batches,
  );
  if (counters.length !== groups.length) {
    throw new MarketkitError('INTERNAL', { message: 'outbox counter upsert returned no row' });
  }
  const appended = new Array<AppendedEvent>(batch.length);
  const inserts: Record<string, unknown>[] = [];
  for (const [g, group] of groups.entries()) {
    const count = group.indexes.length;
    const firstSeq = toNumber(counters[g]!.last_seq) - count + 1;
    const firstKey = toNumber(counters[g]!.last_key) - count + 1;
    const partition = partitionOf(group.aggregateType, group.aggregateId);
    for (const [k, index] of group.indexes.entries()) {
      const e = batch[index]!;
      inserts.push({
        id: ids[index],
        aggregate_type: e.aggregateType,
        aggregate_id: e.aggregateId,
        seq: firstSeq + k,
        partition_no: partition,
        sort_key: firstKey + k,
        type: e.type,
        payload: payloads[index],
        created_at: now,
        trace_context: traceContext,
      });
      appended[index] = {
        id: ids[index]!,
        type: e.type,
        aggregateType: e.aggregateType,
        aggregateId: e.aggregateId,
        sequence: firstSeq + k,
        partition,
      };
    }
  }
  await runPerRow(trx, insertTemplate(templates), inserts, batches);
  return appended;
}

function bumpTemplate(templates: StatementTemplates) {
  return templates.get('outbox:bump-one', (db, p) =>
    db
      .insertInto('outbox_aggregates')
      .values({ aggregate_type: p('type'), aggregate_id: p('id'), last_seq: p('count'), last_key: p('key') })
      .onConflict(advanceCounter)
      .returning(['last_seq', 'last_key']),
  );
}

function insertTemplate(templates: StatementTemplates) {
  return templates.get('outbox:insert-one', (db, p) =>
    db.insertInto('outbox_events').values({
      id: p('id'),
      aggregate_type: p('aggregate_type'),
      aggregate_id: p('aggregate_id'),
      seq: p('seq'),
      partition_no: p('partition_no'),
      sort_key: p('sort_key'),
      type: p('type'),
      payload: p('payload'),
      created_at: p('created_at'),
      trace_context: p('trace_context'),
    }),
  );
}

/**
 * {@link appendOneEvent}'s one statement (data-modifying CTEs, `jsonType` the payload's column type), bound but not
 * run, and the event it appends given the sequence number it returns: for a caller that runs it later (with a
 * transaction's commit) or reads the number itself. Throws `VALIDATION_FAILED` like `appendEvents`.
 */
export function oneEventStatement(
  templates: StatementTemplates,
  event: OutboxEventInput,
  clock: Clock,
  now: number,
  jsonType: string,
): { readonly query: CompiledQuery; readonly appended: (sequence: number) => AppendedEvent } {
  const [e] = plainEventBatch([event]) ?? parseInput(eventBatchSchema, [event], 'events');
  const payload = serializePayload(e!.payload, 0);
  const [id] = nextOutboxIds(clock, now, 1);
  const partition = partitionOf(e!.aggregateType, e!.aggregateId);
  const query = oneStatement(templates, jsonType).bind({
    id,
    aggregate_type: e!.aggregateType,
    aggregate_id: e!.aggregateId,
    partition_no: partition,
    key: sortKeyBase(now),
    type: e!.type,
    payload,
    created_at: now,
    trace_context: activeTraceparent(),
  });
  const appended = (sequence: number): AppendedEvent => ({
    id: id!,
    type: e!.type,
    aggregateType: e!.aggregateType,
    aggregateId: e!.aggregateId,
    sequence,
    partition,
  });
  return { query, appended };
}

/**
 * The counter upsert and the event insert as one data-modifying statement: the same upsert as `advanceCounter`
 * (it locks the aggregate's counter row until the caller commits), the event taking the sequence number and sort key
 * it reserved.
 */
function oneStatement(templates: StatementTemplates, jsonType: string) {
  return templates.get(`outbox:append-one:${jsonType}`, (db, p) => {
    const agg = sql.table('outbox_aggregates');
    const statement = sql`with c as (
      insert into ${agg} (tenant, aggregate_type, aggregate_id, last_seq, last_key)
      values (${TENANT}, cast(${p('aggregate_type')} as text), cast(${p('aggregate_id')} as text), cast(1 as bigint),
        cast(${p('key')} as bigint))
      on conflict (tenant, aggregate_type, aggregate_id) do update set
        last_seq = ${sql.ref('outbox_aggregates.last_seq')} + excluded.last_seq,
        last_key = greatest(excluded.last_key, ${sql.ref('outbox_aggregates.last_key')} + excluded.last_seq)
      returning aggregate_type, aggregate_id, last_seq, last_key)
    insert into ${sql.table('outbox_events')} (tenant, id, aggregate_type, aggregate_id, seq, partition_no, sort_key, type,
      payload, created_at, trace_context)
    select ${TENANT}, cast(${p('id')} as text), c.aggregate_type, c.aggregate_id, c.last_seq,
      cast(${p('partition_no')} as bigint), c.last_key, cast(${p('type')} as text),
      cast(${p('payload')} as ${sql.raw(jsonType)}), cast(${p('created_at')} as bigint), cast(${p('trace_context')} as text)
    from c
    returning seq`;
    return { compile: () => statement.compile(db) };
  });
}

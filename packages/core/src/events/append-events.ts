import { type CompiledQuery, type RawBuilder, sql } from 'kysely';
import { type Clock, systemClock } from '../clock/clock.js';
import { MarketkitError } from '../errors/marketkit-error.js';
import { parseInput } from '../errors/validation-error.js';
import { activeTraceparent } from '../observability/tracing.js';
import { chunks } from '../storage/chunks.js';
import { toNumber } from '../storage/int64.js';
import type { StatementTemplates } from '../storage/statement-template.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import type { StorageCapabilities, StorageColumnTypes } from '../storage/storage-adapter.js';
import { TENANT } from '../storage/tenant-plugin.js';
import { serializePayload } from './event-payload.js';
import { eventBatchSchema, plainEventBatch } from './event-schemas.js';
import type { AppendedEvent, OutboxEventInput } from './event-types.js';
import { outboxArrayCtes } from './outbox-arrays.js';
import { type AggregateGroup, groupByAggregate } from './outbox-groups.js';
import { advanceCounter, idFactory, KEY_SCALE } from './outbox-numbering.js';
import { appendEventsByRows, appendOneEvent, oneEventStatement } from './outbox-steps.js';
import { partitionOf } from './partition-of.js';

/**
 * Options of {@link appendEvents}.
 *
 * @example
 * ```ts
 * await appendEvents(trx, events, { clock: new ManualClock() });
 * ```
 */
export interface AppendEventsOptions {
  /** Source of `createdAt` and of the time part of sort keys and ids. Default: the system clock. */
  readonly clock?: Clock;
  /**
   * The backend's capabilities and column types: with `capabilities.writableCtes` the counter upsert and the
   * insert go in one statement (one round trip fewer on every transaction that writes events).
   */
  readonly backend?: { readonly capabilities: StorageCapabilities; readonly columnTypes: StorageColumnTypes };
  /**
   * The statement templates of the `Storage` whose transaction `trx` is (`storage.templates`): a single event is then
   * written by templates compiled once and only bound per call, in one statement with `backend.capabilities.writableCtes`
   * (see `appendOneEvent`). Templates bind their storage's tenant, so they must be that storage's.
   */
  readonly templates?: StatementTemplates;
}

/** Rows per insert statement: 9 parameters each, well under both drivers' limits (SQLite 32766). */
const ROWS_PER_INSERT = 2000;

/**
 * Writes domain events to the outbox inside the caller's transaction, so they commit (and are later delivered)
 * exactly when the change they describe commits; a rolled-back transaction leaves no event behind.
 *
 * Each event gets a ULID `id`, the next `sequence` of its aggregate and its aggregate's partition. Two
 * statements whatever the batch size: an upsert of the aggregates' counters (`INSERT … ON CONFLICT … DO UPDATE
 * … RETURNING`) and a multi-row insert of the events.
 *
 * Concurrency contract: the counter upsert locks each aggregate's counter row until the caller commits, so
 * writers of one aggregate serialize and sequence numbers are gapless and committed in order: a reader that sees
 * sequence n of an aggregate also sees 1…n-1. Process clocks play no part in that order. Aggregates are locked
 * in sorted order, so two transactions touching the same aggregates cannot deadlock here.
 *
 * Throws `VALIDATION_FAILED` (before writing anything) on malformed input or past {@link OUTBOX_LIMITS}.
 *
 * @example
 * ```ts
 * await storage.transaction(async (trx) => {
 *   await trx.updateTable('orders').set({ status: 'paid' }).where('id', '=', 'ord_1').execute();
 *   await appendEvents(trx, [
 *     { type: 'order.paid', aggregateType: 'order', aggregateId: 'ord_1', payload: { amount: 1250n } },
 *   ]);
 * });
 * ```
 */
export async function appendEvents(
  trx: MarketkitTransaction,
  events: readonly OutboxEventInput[],
  options: AppendEventsOptions = {},
): Promise<AppendedEvent[]> {
  if (events.length === 0) return [];
  const caps = options.backend?.capabilities;
  if (events.length === 1 && options.templates !== undefined) {
    const clock = options.clock ?? systemClock;
    const jsonType = caps?.writableCtes === true ? options.backend?.columnTypes.json : undefined;
    return [await appendOneEvent(trx, options.templates, events[0]!, clock, clock.now(), { jsonType })];
  }
  if (caps?.arrayParams === true && caps.writableCtes && options.backend !== undefined) {
    const clock = options.clock ?? systemClock;
    return appendWithArrays(trx, events, clock, options.backend.columnTypes.json);
  }
  if (caps?.writableCtes !== true && options.templates !== undefined) {
    const clock = options.clock ?? systemClock;
    return appendEventsByRows(trx, options.templates, events, clock, clock.now(), caps?.statementBatches === true);
  }
  const prepared = prepareBatch(events, options.clock ?? systemClock);
  if (options.backend?.capabilities.writableCtes === true && prepared.batch.length <= ONE_STATEMENT_MAX) {
    return appendInOneStatement(trx, prepared, options.backend.columnTypes.json);
  }
  const { batch, groups, ids, payloads, now, traceContext } = prepared;
  const counters = await bumpCounters(trx, groups, now * KEY_SCALE);

  const rows = new Array<Row>(batch.length);
  const appended = new Array<AppendedEvent>(batch.length);
  for (const [g, group] of groups.entries()) {
    const counter = counters[g] as Counter;
    const partition = partitionOf(group.aggregateType, group.aggregateId);
    for (const [k, index] of group.indexes.entries()) {
      const e = batch[index] as (typeof batch)[number];
      const id = ids[index] as string;
      const sequence = counter.firstSeq + k;
      rows[index] = {
        id,
        aggregate_type: e.aggregateType,
        aggregate_id: e.aggregateId,
        seq: sequence,
        partition_no: partition,
        sort_key: counter.firstKey + k,
        type: e.type,
        payload: payloads[index] as string,
        created_at: now,
        trace_context: traceContext,
      };
      appended[index] = {
        id,
        type: e.type,
        aggregateType: e.aggregateType,
        aggregateId: e.aggregateId,
        sequence,
        partition,
      };
    }
  }
  for (const chunk of chunks(rows, ROWS_PER_INSERT)) await trx.insertInto('outbox_events').values(chunk).execute();
  return appended;
}

/** PostgreSQL: the counter upsert and the insert as one statement over `unnest` arrays (`outbox-arrays.ts`). */
async function appendWithArrays(
  trx: MarketkitTransaction,
  events: readonly OutboxEventInput[],
  clock: Clock,
  jsonType: string,
): Promise<AppendedEvent[]> {
  const { ctes, drafts } = outboxArrayCtes('ob', events, clock, clock.now(), jsonType);
  const result = await sql<{ id: string; seq: string | bigint | number }>`with ${sql.join(ctes)}
    select id, seq from ob_events`.execute(trx);
  const seqById = new Map(result.rows.map((r) => [r.id, toNumber(r.seq)]));
  if (seqById.size !== drafts.length) {
    throw new MarketkitError('INTERNAL', { message: `outbox insert wrote ${seqById.size} of ${drafts.length} events` });
  }
  return drafts.map((d) => ({ ...d, sequence: seqById.get(d.id)! }));
}

/** Most events the single-statement path writes at once (9 bound values each, well under PostgreSQL's 65,535). */
const ONE_STATEMENT_MAX = 1000;

/**
 * `events` appended as statements bound but not run, in order (one over `unnest` arrays where arrays bind, else one per
 * {@link ONE_STATEMENT_MAX} events), for a
 * transaction's commit (`Storage.onCommit`): the events get ids, sequence numbers, sort keys and partitions as with
 * {@link appendEvents}, taken when the statements run. Needs a backend with data-modifying CTEs (`backend`); the
 * statements raise no error of their own (every event is inserted with its aggregate's counter). Throws
 * `VALIDATION_FAILED`, before anything is queued, on malformed input or past `OUTBOX_LIMITS`.
 * @internal
 */
export function appendEventsStatements(
  trx: MarketkitTransaction,
  events: readonly OutboxEventInput[],
  options: AppendEventsOptions & { readonly backend: NonNullable<AppendEventsOptions['backend']> },
): CompiledQuery[] {
  if (events.length === 0) return [];
  const clock = options.clock ?? systemClock;
  const jsonType = options.backend.columnTypes.json;
  if (events.length === 1 && options.templates !== undefined) {
    return [oneEventStatement(options.templates, events[0]!, clock, clock.now(), jsonType).query];
  }
  if (options.backend.capabilities.arrayParams === true) {
    const { ctes } = outboxArrayCtes('ob', events, clock, clock.now(), jsonType);
    return [sql`with ${sql.join(ctes)} select count(*) as n from ob_events`.compile(trx)];
  }
  const all = prepareBatch(events, clock);
  const statements: CompiledQuery[] = [];
  for (let from = 0; from < all.batch.length; from += ONE_STATEMENT_MAX) {
    const to = Math.min(all.batch.length, from + ONE_STATEMENT_MAX);
    const batch = all.batch.slice(from, to);
    const part = {
      ...all,
      batch,
      groups: groupByAggregate(batch),
      ids: all.ids.slice(from, to),
      payloads: all.payloads.slice(from, to),
    };
    statements.push(oneStatementAppend(part, jsonType).compile(trx));
  }
  return statements;
}

/** A batch of events validated, with their payloads serialized and their ids taken (in input order). */
interface PreparedBatch {
  readonly batch: readonly OutboxEventInput[];
  readonly groups: readonly AggregateGroup[];
  readonly ids: readonly string[];
  readonly payloads: readonly string[];
  readonly now: number;
  readonly traceContext: string | null;
}

/** Validates `events` (`VALIDATION_FAILED` on malformed input) and prepares them for an insert at `clock.now()`. */
function prepareBatch(events: readonly OutboxEventInput[], clock: Clock): PreparedBatch {
  const batch = plainEventBatch(events) ?? parseInput(eventBatchSchema, events, 'events');
  const payloads = batch.map((e, i) => serializePayload(e.payload, i));
  const now = clock.now();
  const nextId = idFactory(clock);
  const ids = batch.map(() => nextId(now));
  return { batch, groups: groupByAggregate(batch), ids, payloads, now, traceContext: activeTraceparent() };
}

/**
 * PostgreSQL: the counter upsert and the event insert as one statement (a data-modifying CTE), saving a round trip
 * on every transaction that writes events. Same numbering as the two-statement path: each aggregate's counter row
 * is locked by the upsert and the events take the `count` sequence numbers and keys it reserved.
 */
async function appendInOneStatement(
  trx: MarketkitTransaction,
  prepared: PreparedBatch,
  jsonType: string,
): Promise<AppendedEvent[]> {
  const { batch, ids } = prepared;
  const result = await oneStatementAppend(prepared, jsonType).execute(trx);
  const seqById = new Map(result.rows.map((r) => [r.id, toNumber(r.seq)]));
  if (seqById.size !== batch.length) {
    throw new MarketkitError('INTERNAL', { message: `outbox insert wrote ${seqById.size} of ${batch.length} events` });
  }
  return batch.map((e, index) => ({
    id: ids[index]!,
    type: e.type,
    aggregateType: e.aggregateType,
    aggregateId: e.aggregateId,
    sequence: seqById.get(ids[index]!)!,
    partition: partitionOf(e.aggregateType, e.aggregateId),
  }));
}

/** The statement of {@link appendInOneStatement}: it returns each event's `id` and `seq`. */
function oneStatementAppend(
  { batch, groups, ids, payloads, now, traceContext }: PreparedBatch,
  jsonType: string,
): RawBuilder<{ id: string; seq: string | bigint }> {
  const baseKey = now * KEY_SCALE;
  const counters = groups.map(
    (g) =>
      sql`(${TENANT}, ${g.aggregateType}, ${g.aggregateId}, cast(${g.indexes.length} as bigint), cast(${baseKey + g.indexes.length - 1} as bigint))`,
  );
  const partitions = new Map(groups.map((g) => [g, partitionOf(g.aggregateType, g.aggregateId)]));
  const values = groups.flatMap((g) =>
    g.indexes.map((index, k) => {
      const e = batch[index]!;
      return sql`(${TENANT}, ${ids[index]}, ${e.aggregateType}, ${e.aggregateId}, cast(${k} as bigint), cast(${g.indexes.length} as bigint), cast(${partitions.get(g)} as bigint), ${e.type}, cast(${payloads[index]} as ${sql.raw(jsonType)}), cast(${now} as bigint), cast(${traceContext} as text))`;
    }),
  );
  const agg = sql.table('outbox_aggregates');
  return sql<{ id: string; seq: string | bigint }>`
    with c as (
      insert into ${agg} (tenant, aggregate_type, aggregate_id, last_seq, last_key) values ${sql.join(counters)}
      on conflict (tenant, aggregate_type, aggregate_id) do update set
        last_seq = ${sql.ref('outbox_aggregates.last_seq')} + excluded.last_seq,
        last_key = greatest(excluded.last_key, ${sql.ref('outbox_aggregates.last_key')} + excluded.last_seq)
      returning aggregate_type, aggregate_id, last_seq, last_key
    )
    insert into ${sql.table('outbox_events')} (tenant, id, aggregate_type, aggregate_id, seq, partition_no, sort_key, type,
      payload, created_at, trace_context)
    select v.tenant, v.id, v.aggregate_type, v.aggregate_id, c.last_seq - v.cnt + v.k + 1, v.partition_no, c.last_key - v.cnt + v.k + 1,
      v.type, v.payload, v.created_at, v.trace_context
    from (values ${sql.join(values)}) as v(tenant, id, aggregate_type, aggregate_id, k, cnt, partition_no, type, payload, created_at, trace_context)
    join c on c.aggregate_type = v.aggregate_type and c.aggregate_id = v.aggregate_id
    returning id, seq`;
}

interface Row {
  id: string;
  aggregate_type: string;
  aggregate_id: string;
  seq: number;
  partition_no: number;
  sort_key: number;
  type: string;
  payload: string;
  created_at: number;
  trace_context: string | null;
}

interface Counter {
  readonly firstSeq: number;
  readonly firstKey: number;
}

/**
 * Reserves `count` sequence numbers and sort keys per aggregate. The new `last_key` is the larger of
 * "now, plus room for this batch" and "previous key + count", so keys never go backwards for an aggregate even
 * when the writer's clock is behind the previous writer's.
 */
async function bumpCounters(trx: MarketkitTransaction, groups: readonly AggregateGroup[], baseKey: number) {
  const values = groups.map((g) => ({
    aggregate_type: g.aggregateType,
    aggregate_id: g.aggregateId,
    last_seq: g.indexes.length,
    last_key: baseKey + g.indexes.length - 1,
  }));
  const returned = await trx
    .insertInto('outbox_aggregates')
    .values(values)
    .onConflict(advanceCounter)
    .returning(['aggregate_type', 'aggregate_id', 'last_seq', 'last_key'])
    .execute();
  const byKey = new Map(returned.map((r) => [`${r.aggregate_type}\u0000${r.aggregate_id}`, r]));
  return groups.map((g): Counter => {
    const r = byKey.get(`${g.aggregateType}\u0000${g.aggregateId}`);
    if (r === undefined) throw new MarketkitError('INTERNAL', { message: 'outbox counter upsert returned no row' });
    const count = g.indexes.length;
    return { firstSeq: toNumber(r.last_seq) - count + 1, firstKey: toNumber(r.last_key) - count + 1 };
  });
}

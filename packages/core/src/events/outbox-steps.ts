import type { Clock } from '../clock/clock.js';
import { MarketkitError } from '../errors/marketkit-error.js';
import { parseInput } from '../errors/validation-error.js';
import { toNumber } from '../storage/int64.js';
import type { StatementRunner, StatementTemplates } from '../storage/statement-template.js';
import { advanceCounter, nextOutboxIds, sortKeyBase } from './append-events.js';
import { serializePayload } from './event-payload.js';
import { eventBatchSchema, plainEventBatch } from './event-schemas.js';
import type { OutboxEventInput } from './event-types.js';
import { partitionOf } from './partition-of.js';

/**
 * Appends one event to the outbox inside the caller's transaction with two statement templates (compiled once,
 * then only bound): the counter upsert and the insert of {@link appendEvents}, so the event gets the same id,
 * sequence number, sort key and partition. For hot paths that run a transaction statement by statement (SQLite)
 * and would otherwise pay for building and compiling the statements on every call. Throws `VALIDATION_FAILED`
 * like `appendEvents`.
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
): Promise<void> {
  const [e] = plainEventBatch([event]) ?? parseInput(eventBatchSchema, [event], 'events');
  const payload = serializePayload(e!.payload, 0);
  const [id] = nextOutboxIds(clock, now, 1);
  const bump = templates.get('outbox:bump-one', (db, p) =>
    db
      .insertInto('outbox_aggregates')
      .values({ aggregate_type: p('type'), aggregate_id: p('id'), last_seq: p('count'), last_key: p('key') })
      .onConflict(advanceCounter)
      .returning(['last_seq', 'last_key']),
  );
  const counter = await trx.executeQuery<{ last_seq: bigint | number; last_key: bigint | number }>(
    bump.bind({ type: e!.aggregateType, id: e!.aggregateId, count: 1, key: sortKeyBase(now) }),
  );
  const row = counter.rows[0];
  if (row === undefined) throw new MarketkitError('INTERNAL', { message: 'outbox counter upsert returned no row' });
  const insert = templates.get('outbox:insert-one', (db, p) =>
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
    }),
  );
  await trx.executeQuery(
    insert.bind({
      id,
      aggregate_type: e!.aggregateType,
      aggregate_id: e!.aggregateId,
      seq: toNumber(row.last_seq),
      partition_no: partitionOf(e!.aggregateType, e!.aggregateId),
      sort_key: toNumber(row.last_key),
      type: e!.type,
      payload,
      created_at: now,
    }),
  );
}

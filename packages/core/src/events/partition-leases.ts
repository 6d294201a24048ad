import { type ExpressionBuilder, type Kysely, sql } from 'kysely';
import { encodeTime } from 'ulid';
import { MarketkitError } from '../errors/marketkit-error.js';
import type { MarketkitDatabase } from '../schema/database.js';
import { toBigInt, toNumber } from '../storage/int64.js';
import type { ParamRef } from '../storage/statement-template.js';
import type { Storage } from '../storage/storage.js';
import { TENANT } from '../storage/tenant-plugin.js';
import { EVENT_COLUMNS, type EventRow, eventFromRow } from './event-rows.js';
import type { OutboxEvent } from './event-types.js';
import { OUTBOX_PARTITIONS } from './outbox-limits.js';
import type { OutboxPartitionsTable } from './outbox-tables.js';

/** A partition this relay holds: its number, the fencing token of the claim, and failures so far. @internal */
export interface PartitionLease {
  readonly partition: number;
  readonly fence: bigint;
  readonly attempts: number;
  /** Until when the lease holds, by the claiming relay's clock. */
  readonly expiresAt: number;
}

/**
 * `(SELECT id … ORDER BY sort_key LIMIT 1) IS NOT NULL` rather than `EXISTS`: a scalar subquery is not turned
 * into a join, and its order is the pending index's, so PostgreSQL probes that index once per partition whatever
 * its statistics say (a semi join over the backlog, or a scan through delivered rows, costs milliseconds).
 */
function hasPendingEvents(eb: ExpressionBuilder<MarketkitDatabase & { p: OutboxPartitionsTable }, 'p'>) {
  const first = eb
    .selectFrom('outbox_events as e')
    .select('e.id')
    .whereRef('e.partition_no', '=', 'p.partition_no')
    .where('e.delivered_at', 'is', null)
    .orderBy('e.sort_key') // the pending index's order: an index probe even when most rows are delivered
    .limit(1);
  return eb(first, 'is not', null);
}

/** Longest `last_error` kept. */
const MAX_ERROR_LENGTH = 1000;

/**
 * Makes the lease rows of the storage's tenant's outbox partitions, where they are missing: migration 0002 made
 * those of the empty tenant (a single-marketplace database); any other tenant's are made by its first relay.
 * @internal
 */
export async function ensurePartitions(storage: Storage): Promise<void> {
  if (storage.tenant === '') return;
  const rows = Array.from({ length: OUTBOX_PARTITIONS }, (_, partition_no) => ({ partition_no }));
  await storage.autocommit((db) =>
    db
      .insertInto('outbox_partitions')
      .values(rows)
      .onConflict((oc) => oc.column('partition_no').doNothing())
      .execute(),
  );
}

/**
 * Claims up to `limit` partitions that have undelivered events, are not leased (or their lease expired) and are
 * not backing off, in one statement: `UPDATE … WHERE partition_no IN (SELECT … FOR UPDATE SKIP LOCKED)` on
 * PostgreSQL, the same without row locks on SQLite, where the write lock serializes claimers. Each claim bumps
 * the partition's fencing token. Least recently leased partitions go first.
 * @internal
 */
export async function claimPartitions(
  storage: Storage,
  owner: string,
  now: number,
  leaseMs: number,
  limit: number,
): Promise<PartitionLease[]> {
  const rows = await storage.run((db) => {
    let due = db
      .selectFrom('outbox_partitions as p')
      .select('p.partition_no')
      .where((eb) => eb.or([eb('p.owner', 'is', null), eb('p.lease_expires_at', '<=', BigInt(now))]))
      .where('p.next_attempt_at', '<=', BigInt(now))
      .where(hasPendingEvents)
      .orderBy('p.lease_expires_at')
      .limit(limit);
    if (storage.adapter.capabilities.skipLocked) due = due.forUpdate().skipLocked();
    // The batch as a CTE, run once (a CTE that locks rows is never folded into the query): as `IN (subquery)` the
    // planner may rescan it per candidate row, and a rescan of `LIMIT … SKIP LOCKED` can return other rows.
    return db
      .with('due', () => due)
      .updateTable('outbox_partitions')
      .set((eb) => ({ owner, fence: eb('fence', '+', 1n), lease_expires_at: now + leaseMs }))
      .where('partition_no', 'in', (eb) => eb.selectFrom('due').select('due.partition_no'))
      .where((eb) => eb.or([eb('owner', 'is', null), eb('lease_expires_at', '<=', BigInt(now))]))
      .returning(['partition_no', 'fence', 'attempts'])
      .execute();
  });
  return rows.map((r) => ({
    partition: toNumber(r.partition_no),
    fence: toBigInt(r.fence),
    attempts: toNumber(r.attempts),
    expiresAt: now + leaseMs,
  }));
}

/**
 * Whether any partition might be claimable: a read that takes no write lock, so an idle relay on SQLite never
 * queues behind writers. @internal
 */
export async function anyPartitionDue(storage: Storage, now: number): Promise<boolean> {
  const row = await storage.run((db) =>
    db
      .selectFrom('outbox_partitions as p')
      .select('p.partition_no')
      .where((eb) => eb.or([eb('p.owner', 'is', null), eb('p.lease_expires_at', '<=', BigInt(now))]))
      .where('p.next_attempt_at', '<=', BigInt(now))
      .where(hasPendingEvents)
      .limit(1)
      .executeTakeFirst(),
  );
  return row !== undefined;
}

/**
 * The first `limit` undelivered events of a partition by sort key. Each aggregate's events in it are a prefix of
 * its undelivered events in `sequence` order: sort keys grow with `sequence`, and sequence n + 1 commits only
 * after n. @internal
 */
export async function readPartition(storage: Storage, partition: number, limit: number): Promise<OutboxEvent[]> {
  const read = storage.templates.get('outbox:read-partition', (db, p) =>
    db
      .selectFrom('outbox_events')
      .select(EVENT_COLUMNS)
      .where('partition_no', '=', p('partition'))
      .where('delivered_at', 'is', null)
      .orderBy('sort_key')
      .limit(p('limit')),
  );
  const result = await storage.run((db) => db.executeQuery<EventRow>(read.bind({ partition, limit })));
  return result.rows.map(eventFromRow);
}

/** What {@link markDelivered} returns: the lease as it now stands, and the partition's next batch when asked for. */
export interface MarkedBatch {
  readonly lease: PartitionLease;
  /** The next undelivered events, read in the marking statement (`readNext`, PostgreSQL only); else `undefined`. */
  readonly next: OutboxEvent[] | undefined;
}

/** How {@link markDelivered} marks a batch. @internal */
export interface MarkOptions {
  /** The delivery time written to `delivered_at`, and the lease's release time. */
  readonly now: number;
  /** Keep the lease until then instead of releasing it. */
  readonly renewUntil?: number;
  /** Read the partition's next this many undelivered events in the same statement (PostgreSQL). Default 0. */
  readonly readNext?: number;
  /** Delete the events instead of setting `delivered_at` (a relay with `retentionMs: 0`). Default false. */
  readonly remove?: boolean;
}

/**
 * Marks `ids` delivered (or, with `remove`, deletes them) and, in the same transaction, checks (and row-locks) the
 * fencing token, clears the backoff and either releases the lease or, with `renewUntil`, keeps it until then (the
 * relay goes on with the partition's next batch without claiming it again). Throws `LEASE_LOST`, marking nothing,
 * when another relay claimed the partition since: only the latest claim's holder can mark. An expired lease that
 * nobody took over still marks: the token, not the clock, decides.
 *
 * With `capabilities.writableCtes` (PostgreSQL) it is one statement, and with `readNext` that statement also reads
 * the partition's next `readNext` undelivered events (what {@link readPartition} would read once it committed), so a
 * kept partition costs one round trip per batch. @internal
 */
export async function markDelivered(
  storage: Storage,
  lease: PartitionLease,
  ids: readonly string[],
  { now, renewUntil, readNext = 0, remove = false }: MarkOptions,
): Promise<MarkedBatch> {
  const marked = { ...lease, attempts: 0, expiresAt: renewUntil ?? now };
  if (storage.adapter.capabilities.writableCtes) {
    const mark = remove
      ? storage.templates.get('outbox:delete-delivered', (db, p) => markInOneStatement(db, p, true))
      : storage.templates.get('outbox:mark-delivered', (db, p) => markInOneStatement(db, p, false));
    // Its own transaction, rerun on a deadlock or serialization failure as the two-statement form's transaction is.
    const result = await storage.autocommit((db) =>
      db.executeQuery<HeldRow>(
        mark.bind({
          partition: lease.partition,
          fence: lease.fence,
          release: renewUntil === undefined,
          until: renewUntil ?? now,
          now,
          ids,
          limit: readNext,
        }),
      ),
    );
    if (result.rows.length === 0) throw leaseLost(lease);
    const next: OutboxEvent[] = [];
    for (const row of result.rows) if (row.id !== null) next.push(eventFromRow(row as EventRow));
    return { lease: marked, next: readNext > 0 ? next : undefined };
  }
  await storage.transaction(async (trx) => {
    const held = await trx
      .updateTable('outbox_partitions')
      .set(
        renewUntil === undefined
          ? { owner: null, lease_expires_at: now, attempts: 0, next_attempt_at: 0, last_error: null }
          : { lease_expires_at: renewUntil, attempts: 0, next_attempt_at: 0, last_error: null },
      )
      .where('partition_no', '=', BigInt(lease.partition))
      .where('fence', '=', lease.fence)
      .returning('partition_no')
      .executeTakeFirst();
    if (held === undefined) throw leaseLost(lease);
    if (remove) await trx.deleteFrom('outbox_events').where('id', 'in', ids).execute();
    else await trx.updateTable('outbox_events').set({ delivered_at: now }).where('id', 'in', ids).execute();
  });
  return { lease: marked, next: undefined };
}

/** A row of the one-statement mark: the held lease, joined with each next event (all `null` when there is none). */
type HeldRow = { held: unknown } & { [K in keyof EventRow]: EventRow[K] | null };

/**
 * {@link markDelivered} as one data-modifying statement (PostgreSQL). The lease row's update checks the fence and
 * locks the row; the events are marked only when it matched (`exists (select from held)`), and the next batch is
 * read only then. All CTEs see one snapshot and commit together, so a lost lease marks nothing (no row comes back),
 * as in the two-statement transaction; the next batch leaves out the events just marked, which the snapshot still
 * shows undelivered. `ids` is bound as one array, not one parameter per event. The next batch leaves them out with
 * `not in (select unnest(…))`, a hashed subplan: as `id <> all(…)` the generic plan a named statement settles on
 * compares every pending row with every id (a parameter array is not hashed; 500 × 1,000 text comparisons, half the
 * statement's time for a batch of 500). With `remove` the events are deleted rather than marked: a relay that keeps
 * nothing delivered skips writing a new version of each row (and the sweep's later delete of it).
 */
function markInOneStatement(db: Kysely<MarketkitDatabase>, p: ParamRef, remove: boolean) {
  const events = sql.table('outbox_events');
  const ids = sql`cast(${p('ids')} as text[])`;
  const change = remove
    ? sql`delete from ${events}`
    : sql`update ${events} set delivered_at = cast(${p('now')} as bigint)`;
  const statement = sql<HeldRow>`with held as (
      update ${sql.table('outbox_partitions')} set
        owner = case when cast(${p('release')} as boolean) then null else owner end,
        lease_expires_at = cast(${p('until')} as bigint), attempts = 0, next_attempt_at = 0, last_error = null
      where tenant = ${TENANT} and partition_no = cast(${p('partition')} as bigint)
        and fence = cast(${p('fence')} as bigint)
      returning partition_no),
    marked as (
      ${change}
      where tenant = ${TENANT} and partition_no = cast(${p('partition')} as bigint) and delivered_at is null
        and id = any(${ids}) and exists (select 1 from held)
      returning 1),
    next as (
      select id, type, aggregate_type, aggregate_id, seq, partition_no, payload, created_at, trace_context, sort_key
      from ${events}
      where tenant = ${TENANT} and partition_no = cast(${p('partition')} as bigint) and delivered_at is null
        and id not in (select unnest(${ids})) and exists (select 1 from held)
      order by sort_key limit cast(${p('limit')} as bigint))
    select h.partition_no as held, n.id, n.type, n.aggregate_type, n.aggregate_id, n.seq, n.partition_no, n.payload,
      n.created_at, n.trace_context
    from held h left join next n on true
    order by n.sort_key`;
  return { compile: () => statement.compile(db) };
}

/**
 * Records a failed delivery and releases the lease until `retryAt`. Returns false when the lease was lost
 * meanwhile (the new holder's record stands). @internal
 */
export async function backOff(
  storage: Storage,
  lease: PartitionLease,
  error: unknown,
  now: number,
  retryAt: number,
): Promise<boolean> {
  const text = (error instanceof Error ? `${error.name}: ${error.message}` : String(error)).slice(0, MAX_ERROR_LENGTH);
  const result = await storage.run((db) =>
    db
      .updateTable('outbox_partitions')
      .set({
        owner: null,
        lease_expires_at: now,
        attempts: lease.attempts + 1,
        next_attempt_at: retryAt,
        last_error: text,
      })
      .where('partition_no', '=', BigInt(lease.partition))
      .where('fence', '=', lease.fence)
      .executeTakeFirst(),
  );
  return result.numUpdatedRows > 0n;
}

/** Gives a lease back without recording anything (nothing was there to deliver). @internal */
export async function releaseLease(storage: Storage, lease: PartitionLease, now: number): Promise<void> {
  await storage.run((db) =>
    db
      .updateTable('outbox_partitions')
      .set({ owner: null, lease_expires_at: now })
      .where('partition_no', '=', BigInt(lease.partition))
      .where('fence', '=', lease.fence)
      .execute(),
  );
}

/**
 * Deletes up to `limit` delivered events created before `cutoff` (ms since the epoch) and returns how many. It walks
 * the primary key: a ULID starts with its creation time, so `id < ulidAt(cutoff)` is a range of it.
 * Undelivered events are never deleted. @internal
 */
export async function deleteDelivered(storage: Storage, cutoff: number, limit: number): Promise<number> {
  const bound = `${encodeTime(Math.max(0, cutoff), 10)}0000000000000000`;
  const result = await storage.run((db) =>
    db
      .deleteFrom('outbox_events')
      .where(
        'id',
        'in',
        db
          .selectFrom('outbox_events')
          .select('id')
          .where('id', '<', bound)
          .where('delivered_at', 'is not', null)
          .orderBy('id')
          .limit(limit),
      )
      .executeTakeFirst(),
  );
  return Number(result.numDeletedRows);
}

function leaseLost(lease: PartitionLease): MarketkitError {
  return new MarketkitError('LEASE_LOST', {
    message: `Outbox partition ${lease.partition} was claimed by another relay; its events stay undelivered here`,
    details: { resource: 'outboxPartition', id: String(lease.partition), fence: lease.fence.toString() },
  });
}

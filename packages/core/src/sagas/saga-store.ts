import { type Selectable, sql } from 'kysely';
import { MarketkitError } from '../errors/marketkit-error.js';
import { decodeJson, encodeJson } from '../jobs/json-column.js';
import { toBigInt, toNumber } from '../storage/int64.js';
import { claimLeased } from '../storage/lease-claim.js';
import type { MarketkitTransaction, Storage } from '../storage/storage.js';
import type { StorageAdapter } from '../storage/storage-adapter.js';
import type { SagaInstancesTable, SagaStatus, SagaStepsTable } from './saga-tables.js';
import type { SagaInfo, SagaStepEntry } from './saga-types.js';

/** The mutable part of a saga instance that a worker writes under its fence. */
export interface SagaProgress {
  readonly status: SagaStatus;
  readonly stepIndex: number;
  readonly outputs: Readonly<Record<string, unknown>>;
  readonly attempts: number;
  /** `keep` leaves the lease alone; otherwise it is released and the saga next runs at `nextRunAt` (`null`: never). */
  readonly lease: 'keep' | { readonly nextRunAt: number | null };
  /** The error to record; `null` clears it, `undefined` keeps the recorded one. */
  readonly lastError: unknown;
}

/** A saga claimed by a worker: what it needs to run it and the fencing token its writes must carry. */
export interface ClaimedSaga {
  readonly id: string;
  readonly name: string;
  readonly status: SagaStatus;
  readonly stepIndex: number;
  readonly input: unknown;
  readonly outputs: Readonly<Record<string, unknown>>;
  readonly attempts: number;
  readonly version: bigint;
}

/** An entry to append to the step log. */
export type StepLogInput = Omit<SagaStepEntry, 'id' | 'createdAt' | 'sagaId'>;

/** Maps a row to the public view. */
export function sagaFromRow(r: Selectable<SagaInstancesTable>): SagaInfo {
  return Object.freeze({
    id: r.id,
    name: r.name,
    status: r.status,
    stepIndex: toNumber(r.step_index),
    input: decodeJson(r.input),
    outputs: (decodeJson(r.outputs) ?? {}) as Record<string, unknown>,
    attempts: toNumber(r.attempts),
    nextRunAt: r.next_run_at === null ? null : toNumber(r.next_run_at),
    leaseOwner: r.lease_owner,
    leaseExpiresAt: toNumber(r.lease_expires_at),
    version: toBigInt(r.version),
    lastError: r.last_error === null ? null : (decodeJson(r.last_error) as { code: string; message: string }),
    resolution: r.resolution,
    createdAt: toNumber(r.created_at),
    updatedAt: toNumber(r.updated_at),
  });
}

/** Maps a step-log row to the public view. */
export function stepEntryFromRow(r: Selectable<SagaStepsTable>): SagaStepEntry {
  return Object.freeze({
    id: r.id,
    sagaId: r.saga_id,
    stepIndex: toNumber(r.step_index),
    stepName: r.step_name,
    phase: r.phase,
    outcome: r.outcome,
    attempt: toNumber(r.attempt),
    detail: r.detail === null ? null : decodeJson(r.detail),
    worker: r.worker,
    createdAt: toNumber(r.created_at),
  });
}

/**
 * Claims up to `limit` sagas that are due (retry time passed) or whose lease expired, for `owner` until
 * `now + leaseMs`, and bumps each one's fencing token. `FOR UPDATE SKIP LOCKED` where the backend has it, so
 * concurrent claimers take disjoint sagas without waiting; elsewhere the `next_run_at <= now` guard of the one
 * `UPDATE` (under the database write lock) makes the claim exclusive.
 *
 * Concurrency contract: a saga is claimed by at most one caller per expiry of its lease.
 */
export async function claimSagas(
  storage: Storage,
  owner: string,
  limit: number,
  now: number,
  leaseMs: number,
): Promise<ClaimedSaga[]> {
  const rows = await storage.transaction((trx) =>
    claimLeased(trx, storage.adapter.capabilities, 'saga_instances', owner, limit, now, leaseMs),
  );

  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    status: r.status,
    stepIndex: toNumber(r.step_index),
    input: decodeJson(r.input),
    outputs: (decodeJson(r.outputs) ?? {}) as Record<string, unknown>,
    attempts: toNumber(r.attempts),
    version: toBigInt(r.version),
  }));
}

/** A step-log entry with its id, ready to append. */
export interface StepLogRow {
  readonly id: string;
  readonly entry: StepLogInput;
}

/**
 * The fenced progress write: updates the saga only while its fencing token is still `version`. Throws
 * `LEASE_LOST` (so the enclosing transaction, with the step's own writes, rolls back) when another worker took
 * the saga over or an operator changed it.
 */
export async function writeProgress(
  trx: MarketkitTransaction,
  id: string,
  version: bigint,
  p: SagaProgress,
  now: number,
): Promise<void> {
  const result = await trx
    .updateTable('saga_instances')
    .set(progressColumns(p, now))
    .where('id', '=', id)
    .where('version', '=', version)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw sagaLeaseLost(id, version);
}

/**
 * The fenced progress write and the step-log entries of the same commit, in as few statements as the backend
 * allows, with the guarantees of {@link writeProgress} followed by {@link appendStepLog}: nothing is logged
 * unless the fence holds, and a lost fence throws `LEASE_LOST`.
 *
 * Where the backend has data-modifying CTEs (PostgreSQL, where every statement is a network round trip), one statement:
 * a data-modifying CTE whose fenced `UPDATE … RETURNING` feeds the `INSERT … SELECT` of the entries, so a lost
 * fence inserts no row, which the row count reports. Elsewhere (SQLite: no DML in a CTE, and a statement costs
 * no round trip) the fenced `UPDATE`, then one multi-row `INSERT`.
 */
export async function writeProgressAndLog(
  trx: MarketkitTransaction,
  adapter: StorageAdapter,
  id: string,
  version: bigint,
  p: SagaProgress,
  log: readonly StepLogRow[],
  now: number,
): Promise<void> {
  if (log.length === 0 || !adapter.capabilities.writableCtes) {
    await writeProgress(trx, id, version, p, now);
    await appendStepLog(trx, id, log, now);
    return;
  }
  const result = await trx
    .with('p', (db) =>
      db
        .updateTable('saga_instances')
        .set(progressColumns(p, now))
        .where('id', '=', id)
        .where('version', '=', version)
        .returning('id'),
    )
    .insertInto('saga_steps')
    .columns(STEP_COLUMNS)
    .expression(sql`select v.* from p cross join ${logValues(adapter, id, log, now)}`)
    .executeTakeFirst();
  if (result.numInsertedOrUpdatedRows !== BigInt(log.length)) throw sagaLeaseLost(id, version);
}

/** A saga that the first transaction of an inline run inserts, already moved on by that transaction's steps. */
export interface SagaStart {
  readonly id: string;
  readonly name: string;
  /** The validated input, encoded. */
  readonly input: string;
  readonly owner: string;
  readonly leaseMs: number;
}

/**
 * Inserts a new saga with the progress its first transaction made, under `start.owner`'s lease (fencing token 1),
 * and appends the step-log entries of that transaction. Returns false, writing nothing, when a saga with that id
 * exists already. One statement where writers run concurrently (a data-modifying CTE: the insert's `RETURNING`
 * feeds the log insert, so an existing id inserts no entry); elsewhere the insert, then the log.
 */
export async function insertProgressAndLog(
  trx: MarketkitTransaction,
  adapter: StorageAdapter,
  start: SagaStart,
  p: SagaProgress,
  log: readonly StepLogRow[],
  now: number,
): Promise<boolean> {
  const leased = p.lease === 'keep';
  const row = {
    ...progressColumns(p, now),
    id: start.id,
    name: start.name,
    input: start.input,
    next_run_at: p.lease === 'keep' ? now + start.leaseMs : p.lease.nextRunAt,
    lease_owner: leased ? start.owner : null,
    lease_expires_at: leased ? now + start.leaseMs : 0,
    version: 1,
    created_at: now,
  };
  if (log.length === 0 || !adapter.capabilities.writableCtes) {
    const inserted = await trx
      .insertInto('saga_instances')
      .values(row)
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    if (inserted.numInsertedOrUpdatedRows === 0n) return false;
    await appendStepLog(trx, start.id, log, now);
    return true;
  }
  const result = await trx
    .with('s', (db) =>
      db
        .insertInto('saga_instances')
        .values(row)
        .onConflict((oc) => oc.column('id').doNothing())
        .returning('id'),
    )
    .insertInto('saga_steps')
    .columns(STEP_COLUMNS)
    .expression(sql`select v.* from s cross join ${logValues(adapter, start.id, log, now)}`)
    .executeTakeFirst();
  return result.numInsertedOrUpdatedRows === BigInt(log.length);
}

/** The entries as a `(values …) as v (columns)` list, typed for a `SELECT` from it. */
function logValues(adapter: StorageAdapter, sagaId: string, log: readonly StepLogRow[], now: number) {
  const int64 = sql.raw(adapter.columnTypes.int64);
  const json = sql.raw(adapter.columnTypes.json);
  const rows = log.map(({ id, entry: e }) => {
    const detail = e.detail === undefined ? null : encodeJson(e.detail);
    return sql`(${id}, ${sagaId}, cast(${e.stepIndex} as ${int64}), ${e.stepName}, ${e.phase}, ${e.outcome}, cast(${e.attempt} as ${int64}), cast(${detail} as ${json}), ${e.worker}, cast(${now} as ${int64}))`;
  });
  return sql`(values ${sql.join(rows)}) as v (${sql.join(STEP_COLUMNS.map((c) => sql.id(c)))})`;
}

const STEP_COLUMNS = [
  'id',
  'saga_id',
  'step_index',
  'step_name',
  'phase',
  'outcome',
  'attempt',
  'detail',
  'worker',
  'created_at',
] as const satisfies readonly (keyof SagaStepsTable)[];

function progressColumns(p: SagaProgress, now: number) {
  const release = p.lease === 'keep' ? {} : { next_run_at: p.lease.nextRunAt, lease_owner: null, lease_expires_at: 0 };
  return {
    status: p.status,
    step_index: p.stepIndex,
    outputs: encodeJson(p.outputs),
    attempts: p.attempts,
    ...(p.lastError === undefined ? {} : { last_error: p.lastError === null ? null : encodeJson(p.lastError) }),
    updated_at: now,
    ...release,
  };
}

/** Appends entries to the step log, in one statement. */
export async function appendStepLog(
  trx: MarketkitTransaction,
  sagaId: string,
  log: readonly StepLogRow[],
  now: number,
): Promise<void> {
  if (log.length === 0) return;
  await trx
    .insertInto('saga_steps')
    .values(
      log.map(({ id, entry: e }) => ({
        id,
        saga_id: sagaId,
        step_index: e.stepIndex,
        step_name: e.stepName,
        phase: e.phase,
        outcome: e.outcome,
        attempt: e.attempt,
        detail: e.detail === undefined ? null : encodeJson(e.detail),
        worker: e.worker,
        created_at: now,
      })),
    )
    .execute();
}

/**
 * Extends the lease of a claimed saga. Returns false when the lease is gone (taken over, released, or the saga
 * ended), and then changes nothing.
 */
export async function renewSagaLease(
  storage: Storage,
  id: string,
  version: bigint,
  owner: string,
  expiresAt: number,
): Promise<boolean> {
  const result = await storage.run((db) =>
    db
      .updateTable('saga_instances')
      .set({ lease_expires_at: expiresAt, next_run_at: expiresAt })
      .where('id', '=', id)
      .where('version', '=', version)
      .where('lease_owner', '=', owner)
      .where('next_run_at', 'is not', null)
      .executeTakeFirst(),
  );
  return result.numUpdatedRows > 0n;
}

/** An operator action on a parked saga: bumps the fencing token and applies `set` if the saga is `failed`. */
export async function changeFailedSaga(
  trx: MarketkitTransaction,
  id: string,
  set: Partial<Pick<Selectable<SagaInstancesTable>, 'status' | 'next_run_at' | 'attempts' | 'resolution'>>,
  now: number,
): Promise<Selectable<SagaInstancesTable>> {
  const row = await trx
    .updateTable('saga_instances')
    .set({ ...set, lease_owner: null, lease_expires_at: 0, updated_at: now, version: sql`version + 1` })
    .where('id', '=', id)
    .where('status', '=', 'failed')
    .returningAll()
    .executeTakeFirst();
  if (row !== undefined) return row;
  const existing = await trx.selectFrom('saga_instances').select('status').where('id', '=', id).executeTakeFirst();
  if (existing === undefined) throw new MarketkitError('NOT_FOUND', { message: `No saga ${id}.`, details: { id } });
  throw new MarketkitError('INVALID_TRANSITION', {
    message: `Saga ${id} is ${existing.status}; only a failed saga can be retried or resolved.`,
    details: { id, status: existing.status },
  });
}

function sagaLeaseLost(id: string, version: bigint): MarketkitError {
  return new MarketkitError('LEASE_LOST', {
    message: `Saga ${id}: the lease with fencing token ${version} was taken over; the step does not commit.`,
    details: { sagaId: id, version: String(version) },
  });
}

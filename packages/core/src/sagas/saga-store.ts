import { type Selectable, sql } from 'kysely';
import { MarketkitError } from '../errors/marketkit-error.js';
import { decodeJson } from '../jobs/json-column.js';
import { toBigInt, toNumber } from '../storage/int64.js';
import { claimLeased } from '../storage/lease-claim.js';
import type { MarketkitTransaction, Storage } from '../storage/storage.js';
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
  /** The `traceparent` of the span that started it, or null. */
  readonly traceContext?: string | null;
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
    lastError:
      r.last_error === null ? null : (decodeJson(r.last_error) as { code: string; message: string; details?: unknown }),
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
  // One statement: in autocommit, without the BEGIN and COMMIT round trips (retried as a transaction is).
  const rows = await storage.autocommit((db) =>
    claimLeased(db, storage.templates, storage.adapter.capabilities, 'saga_instances', owner, limit, now, leaseMs),
  );

  return rows.map(claimedFromRow);
}

/**
 * Claims the saga `id` for `owner` until `now + leaseMs` if it is live and no lease holds it (idle, waiting for a
 * retry whose time has not come, or its lease expired): for a caller who asks for a stopped saga to go on now.
 * Returns `undefined` when another owner's lease holds it or it is not live.
 *
 * Concurrency contract: of concurrent callers (and workers), at most one claims it per expiry of its lease.
 */
export async function claimSaga(
  storage: Storage,
  id: string,
  owner: string,
  now: number,
  leaseMs: number,
): Promise<ClaimedSaga | undefined> {
  const row = await storage.run((db) =>
    db
      .updateTable('saga_instances')
      .set({
        lease_owner: owner,
        lease_expires_at: now + leaseMs,
        next_run_at: now + leaseMs,
        version: sql`version + 1`,
      })
      .where('id', '=', id)
      .where('status', 'in', ['running', 'compensating'])
      .where('lease_expires_at', '<=', BigInt(now))
      .returningAll()
      .executeTakeFirst(),
  );
  return row === undefined ? undefined : claimedFromRow(row);
}

function claimedFromRow(r: Selectable<SagaInstancesTable>): ClaimedSaga {
  return {
    id: r.id,
    name: r.name,
    status: r.status,
    stepIndex: toNumber(r.step_index),
    input: decodeJson(r.input),
    outputs: (decodeJson(r.outputs) ?? {}) as Record<string, unknown>,
    attempts: toNumber(r.attempts),
    version: toBigInt(r.version),
    traceContext: r.trace_context ?? null,
  };
}

/** A step-log entry with its id, ready to append. */
export interface StepLogRow {
  readonly id: string;
  readonly entry: StepLogInput;
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
  if (existing === undefined)
    throw new MarketkitError('NOT_FOUND', { message: `No saga ${id}.`, details: { resource: 'saga', id } });
  throw new MarketkitError('INVALID_TRANSITION', {
    message: `Saga ${id} is ${existing.status}; only a failed saga can be retried or resolved.`,
    details: {
      resource: 'saga',
      id,
      state: existing.status,
      transition: set.status === 'resolved' ? 'resolve' : 'retry',
    },
  });
}

/** A saga that the first transaction of an inline run inserts, already moved on by that transaction's steps. */
export interface SagaStart {
  readonly id: string;
  readonly name: string;
  /** The validated input, encoded. */
  readonly input: string;
  readonly owner: string;
  readonly leaseMs: number;
  /** The `traceparent` of the span that starts it (the active span's), stored for the workers' spans. */
  readonly traceContext?: string | null;
}

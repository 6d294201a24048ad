import type { Selectable } from 'kysely';
import { MarketkitError } from '../errors/marketkit-error.js';
import type { IdFactory } from '../ids/id-factory.js';
import { toBigInt, toNumber } from '../storage/int64.js';
import { claimLeased } from '../storage/lease-claim.js';
import type { MarketkitTransaction, Storage } from '../storage/storage.js';
import type { ScheduleJobInput } from './job-definition.js';
import type { JobStatus, JobsTable } from './job-tables.js';
import { decodeJson, encodeJson, encodeJsonInput } from './json-column.js';

/** A scheduled job as stored. */
export interface JobInfo {
  readonly id: string;
  readonly kind: string;
  readonly payload: unknown;
  readonly status: JobStatus;
  readonly runAt: number;
  readonly nextRunAt: number | null;
  readonly dedupeKey: string | null;
  readonly attempts: number;
  readonly leaseOwner: string | null;
  readonly version: bigint;
  readonly lastError: { readonly code: string; readonly message: string } | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** A job claimed by a worker, with the fencing token its completion must carry. @internal */
export interface ClaimedJob {
  readonly id: string;
  readonly kind: string;
  readonly payload: unknown;
  readonly runAt: number;
  readonly attempts: number;
  readonly version: bigint;
}

export function jobFromRow(r: Selectable<JobsTable>): JobInfo {
  return Object.freeze({
    id: r.id,
    kind: r.kind,
    payload: decodeJson(r.payload),
    status: r.status,
    runAt: toNumber(r.run_at),
    nextRunAt: r.next_run_at === null ? null : toNumber(r.next_run_at),
    dedupeKey: r.dedupe_key,
    attempts: toNumber(r.attempts),
    leaseOwner: r.lease_owner,
    version: toBigInt(r.version),
    lastError: r.last_error === null ? null : (decodeJson(r.last_error) as { code: string; message: string }),
    createdAt: toNumber(r.created_at),
    updatedAt: toNumber(r.updated_at),
  });
}

/** Inserts a job in `trx`; with a dedupe key already used, returns the existing job's id instead. */
export async function insertJob(
  trx: MarketkitTransaction,
  ids: IdFactory,
  input: ScheduleJobInput,
  now: number,
): Promise<{ id: string; created: boolean }> {
  const dedupe = input.dedupeKey ?? null;
  const row = await trx
    .insertInto('jobs')
    .values({
      id: ids('job'),
      kind: input.kind,
      payload: encodeJsonInput(input.payload, ['payload']),
      status: 'pending',
      run_at: input.runAt,
      next_run_at: input.runAt,
      dedupe_key: dedupe,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) => oc.column('dedupe_key').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (row !== undefined) return { id: row.id, created: true };
  const existing = await trx.selectFrom('jobs').select('id').where('dedupe_key', '=', dedupe).executeTakeFirstOrThrow();
  return { id: existing.id, created: false };
}

/**
 * Claims up to `limit` due jobs (or jobs whose lease expired) for `owner`, bumping each one's fencing token;
 * `FOR UPDATE SKIP LOCKED` where available, else the guarded `UPDATE` under the database write lock.
 */
export async function claimJobs(
  storage: Storage,
  owner: string,
  limit: number,
  now: number,
  leaseMs: number,
): Promise<ClaimedJob[]> {
  // One statement: in autocommit, without the BEGIN and COMMIT round trips (retried as a transaction is).
  const rows = await storage.autocommit((db) =>
    claimLeased(db, storage.templates, storage.adapter.capabilities, 'jobs', owner, limit, now, leaseMs),
  );

  return rows.map((r) => ({
    id: r.id,
    kind: r.kind,
    payload: decodeJson(r.payload),
    runAt: toNumber(r.run_at),
    attempts: toNumber(r.attempts),
    version: toBigInt(r.version),
  }));
}

/** The fenced write of a job's outcome; throws `LEASE_LOST` when another worker claimed it since. */
export async function finishJob(
  trx: MarketkitTransaction,
  job: ClaimedJob,
  set: { status: JobStatus; attempts: number; nextRunAt: number | null; lastError: unknown },
  now: number,
): Promise<void> {
  const result = await trx
    .updateTable('jobs')
    .set({
      status: set.status,
      attempts: set.attempts,
      next_run_at: set.nextRunAt,
      lease_owner: null,
      lease_expires_at: 0,
      last_error: set.lastError === null ? null : encodeJson(set.lastError),
      updated_at: now,
    })
    .where('id', '=', job.id)
    .where('version', '=', job.version)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) {
    throw new MarketkitError('LEASE_LOST', {
      message: `Job ${job.id}: the lease with fencing token ${job.version} was taken over; it does not complete.`,
      details: { resource: 'job', id: job.id, fence: String(job.version) },
    });
  }
}

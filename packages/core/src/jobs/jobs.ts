import { type Clock, systemClock } from '../clock/clock.js';
import { hasErrorCode } from '../errors/marketkit-error.js';
import { parseInput } from '../errors/validation-error.js';
import { createIdFactory, type IdFactory } from '../ids/id-factory.js';
import { parseRowLimit } from '../storage/row-limit.js';
import type { MarketkitTransaction, Storage } from '../storage/storage.js';
import type { JobDefinition, JobRegistry, JobResult, ScheduleJobInput } from './job-definition.js';
import { jobIdSchema, scheduleJobSchema } from './job-schemas.js';
import { type ClaimedJob, claimJobs, finishJob, insertJob, type JobInfo, jobFromRow } from './job-store.js';
import { LeaseKeeper } from './lease-keeper.js';
import { backoffDelay, DEFAULT_RETRY_POLICY, defaultClassify, errorSummary } from './retry-policy.js';
import { withTimeout } from './with-timeout.js';

/** What running a claimed job ended with. */
export type JobRunOutcome = 'completed' | 'retrying' | 'failed' | 'lease-lost' | 'unknown-kind';

/**
 * Durable timers: "run this at time T", kept in the database, claimed by any worker under a lease, retried with
 * backoff, completed exactly once under fencing.
 *
 * @example
 * ```ts
 * const jobs = new Jobs(storage, new JobRegistry([expireReservation]), clock);
 * await storage.transaction(async (trx) => {
 *   // … reserve stock …
 *   await jobs.scheduleJob(trx, { kind: 'reservation.expire', runAt: now + 15 * 60_000, payload: { reservationId } });
 * });
 * ```
 */
export class Jobs {
  readonly #storage: Storage;
  readonly #clock: Clock;
  readonly #ids: IdFactory;
  readonly registry: JobRegistry;

  constructor(storage: Storage, registry: JobRegistry, clock: Clock = systemClock, ids: IdFactory = createIdFactory()) {
    this.#storage = storage;
    this.registry = registry;
    this.#clock = clock;
    this.#ids = ids;
  }

  /**
   * Schedules a job, in `trx` when given (so it exists exactly when the caller's change commits), else in its own
   * transaction. With a `dedupeKey` already used, nothing is written and the existing job's id is returned.
   */
  async scheduleJob(
    trx: MarketkitTransaction | undefined,
    input: ScheduleJobInput,
  ): Promise<{ id: string; created: boolean }> {
    const parsed = parseInput(scheduleJobSchema, input, 'job');
    const now = this.#clock.now();
    if (trx !== undefined) return insertJob(trx, this.#ids, parsed, now);
    return this.#storage.transaction((t) => insertJob(t, this.#ids, parsed, now), { retryUniqueViolations: true });
  }

  /** The job `id`, or `undefined`. */
  async get(id: string): Promise<JobInfo | undefined> {
    parseInput(jobIdSchema, id, 'job id');
    const row = await this.#storage.run((db) =>
      db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst(),
    );
    return row === undefined ? undefined : jobFromRow(row);
  }

  /** Jobs that ran out of attempts, oldest first: at most `limit` (1 to 1000, else `VALIDATION_FAILED`). */
  async listFailed(limit = 100): Promise<JobInfo[]> {
    parseRowLimit(limit, 1000, 'listFailed limit');
    const rows = await this.#storage.run((db) =>
      db.selectFrom('jobs').selectAll().where('status', '=', 'failed').orderBy('updated_at').limit(limit).execute(),
    );
    return rows.map(jobFromRow);
  }

  /** Claims up to `limit` due jobs for `owner`. @internal used by the worker. */
  claim(owner: string, limit: number, leaseMs: number): Promise<ClaimedJob[]> {
    return claimJobs(this.#storage, owner, limit, this.#clock.now(), leaseMs);
  }

  /** Runs a claimed job and records its outcome under the fence. @internal used by the worker. */
  async execute(
    job: ClaimedJob,
    control: { readonly owner: string; readonly leaseMs: number },
  ): Promise<JobRunOutcome> {
    const def = this.registry.get(job.kind);
    const now = () => this.#clock.now();
    try {
      if (def === undefined) {
        const error = { code: 'NOT_FOUND', message: `No job kind ${job.kind} is registered here.` };
        await this.#storage.transaction((trx) =>
          finishJob(
            trx,
            job,
            { status: 'pending', attempts: job.attempts, nextRunAt: now() + control.leaseMs, lastError: error },
            now(),
          ),
        );
        return 'unknown-kind';
      }
      const renew = () => this.#renew(job, control.owner, now() + control.leaseMs);
      const keeper = new LeaseKeeper(renew, control.leaseMs, `job ${job.id}`);
      try {
        return await this.#run(def, job, keeper.signal);
      } finally {
        keeper.stop();
      }
    } catch (error) {
      if (hasErrorCode(error, 'LEASE_LOST')) return 'lease-lost';
      throw error;
    }
  }

  async #run(def: JobDefinition, job: ClaimedJob, signal: AbortSignal): Promise<JobRunOutcome> {
    const attempt = job.attempts + 1;
    const complete = async (trx: MarketkitTransaction, result: JobResult | undefined) => {
      for (const f of result?.followUps ?? [])
        await insertJob(trx, this.#ids, parseInput(scheduleJobSchema, f, 'job'), this.#clock.now());
      await finishJob(
        trx,
        job,
        { status: 'completed', attempts: attempt, nextRunAt: null, lastError: null },
        this.#clock.now(),
      );
    };
    const invoke = (trx: MarketkitTransaction | undefined) =>
      withTimeout(
        async () => {
          const payload = parseInput(def.payload, job.payload, `job ${def.kind} payload`);
          return def.run({
            jobId: job.id,
            kind: job.kind,
            payload,
            runAt: job.runAt,
            attempt,
            idempotencyKey: `job:${job.id}`,
            trx,
          });
        },
        def.timeoutMs,
        signal,
        `job ${def.kind}`,
      );
    try {
      if (def.transactional) {
        await this.#storage.transaction(async (trx) => complete(trx, (await invoke(trx)) ?? undefined));
      } else {
        const result = (await invoke(undefined)) ?? undefined;
        await this.#storage.transaction((trx) => complete(trx, result));
      }
      return 'completed';
    } catch (error) {
      if (hasErrorCode(error, 'LEASE_LOST')) throw error;
      const policy = def.retry ?? DEFAULT_RETRY_POLICY;
      const retry = (def.classify ?? defaultClassify)(error) === 'retryable' && attempt < policy.attempts;
      const at = this.#clock.now();
      await this.#storage.transaction((trx) =>
        finishJob(
          trx,
          job,
          {
            status: retry ? 'pending' : 'failed',
            attempts: attempt,
            nextRunAt: retry ? at + backoffDelay(policy, attempt) : null,
            lastError: errorSummary(error),
          },
          at,
        ),
      );
      return retry ? 'retrying' : 'failed';
    }
  }

  async #renew(job: ClaimedJob, owner: string, expiresAt: number): Promise<boolean> {
    const result = await this.#storage.run((db) =>
      db
        .updateTable('jobs')
        .set({ lease_expires_at: expiresAt, next_run_at: expiresAt })
        .where('id', '=', job.id)
        .where('version', '=', job.version)
        .where('lease_owner', '=', owner)
        .where('next_run_at', 'is not', null)
        .executeTakeFirst(),
    );
    return result.numUpdatedRows > 0n;
  }
}

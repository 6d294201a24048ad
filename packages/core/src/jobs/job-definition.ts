import { z } from 'zod';
import { parseInput, ValidationError } from '../errors/validation-error.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import { type ErrorClass, type RetryPolicy, retryPolicySchema } from './retry-policy.js';

/** What a job handler receives. */
export interface JobContext<P> {
  readonly jobId: string;
  readonly kind: string;
  readonly payload: P;
  /** When the job was due, ms since the epoch. */
  readonly runAt: number;
  /** 1 on the first attempt. */
  readonly attempt: number;
  /** `job:<id>`: pass it to external services so a re-run never repeats an effect. */
  readonly idempotencyKey: string;
  /** Transactional handlers only: the transaction in which the job's completion commits. */
  readonly trx: MarketkitTransaction | undefined;
}

/** What scheduling a job takes. */
export interface ScheduleJobInput {
  readonly kind: string;
  /** When it is due, ms since the epoch (the injected clock's). */
  readonly runAt: number;
  /** JSON-able; bigints are stored as strings (read them back with `z.coerce.bigint()`). */
  readonly payload?: unknown;
  /** At most one job ever exists per key: scheduling the same key again returns the first job. */
  readonly dedupeKey?: string | undefined;
}

/** What a handler may return: jobs to schedule in the same transaction as its completion. */
export interface JobResult {
  readonly followUps?: readonly ScheduleJobInput[];
}

/** A kind of job and its handler, made by {@link defineJob}. */
export interface JobDefinition<S extends z.ZodType = z.ZodType> {
  readonly kind: string;
  readonly payload: S;
  /**
   * When true, `run` gets `ctx.trx` and its writes commit with the job's completion (exactly once). When false
   * (the default), `run` works outside any transaction (it may call other Marketkit methods) and may run again
   * after a crash before its completion committed.
   */
  readonly transactional: boolean;
  readonly retry: RetryPolicy | undefined;
  readonly timeoutMs: number | undefined;
  /** Whether an error of `run` is worth retrying; default: a Marketkit error's `retryable`, else retryable. */
  classify?(error: unknown): ErrorClass;
  /** The handler; may return follow-up jobs to schedule with its completion. */
  run(ctx: JobContext<z.output<S>>): Promise<JobResult> | Promise<void>;
}

const specSchema = z.looseObject({
  kind: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z0-9_.:-]+$/),
  transactional: z.boolean().optional(),
  retry: retryPolicySchema.optional(),
  timeoutMs: z.number().int().positive().max(86_400_000).optional(),
});

/**
 * Declares a kind of durable timer job and its handler.
 *
 * @example
 * ```ts
 * const expireReservation = defineJob('reservation.expire', {
 *   payload: z.object({ reservationId: z.string() }),
 *   transactional: true,
 *   run: async ({ trx, payload }) => { await releaseReservation(trx!, payload.reservationId); },
 * });
 * ```
 */
export function defineJob<S extends z.ZodType>(
  kind: string,
  spec: {
    readonly payload: S;
    readonly transactional?: boolean;
    readonly retry?: RetryPolicy;
    readonly timeoutMs?: number;
    classify?(error: unknown): ErrorClass;
    run(ctx: JobContext<z.output<S>>): Promise<JobResult> | Promise<void>;
  },
): JobDefinition<S> {
  parseInput(specSchema, { ...spec, kind }, `job ${kind}`);
  return Object.freeze({
    kind,
    payload: spec.payload,
    transactional: spec.transactional ?? false,
    retry: spec.retry,
    timeoutMs: spec.timeoutMs,
    ...(spec.classify === undefined ? {} : { classify: spec.classify }),
    run: spec.run,
  });
}

/**
 * The job kinds a process can run, by kind.
 *
 * @example
 * ```ts
 * const registry = new JobRegistry([expireReservation]);
 * ```
 */
export class JobRegistry {
  readonly #byKind = new Map<string, JobDefinition>();

  constructor(definitions: readonly JobDefinition[] = []) {
    for (const d of definitions) this.register(d);
  }

  /** Adds a definition; throws `VALIDATION_FAILED` if its kind is taken. */
  register(definition: JobDefinition): this {
    if (this.#byKind.has(definition.kind)) {
      const message = `Job kind ${definition.kind} is already registered.`;
      throw new ValidationError([{ path: ['kind'], message }], message);
    }
    this.#byKind.set(definition.kind, definition);
    return this;
  }

  /** The definition of `kind`, or `undefined` when none is registered. */
  get(kind: string): JobDefinition | undefined {
    return this.#byKind.get(kind);
  }
}

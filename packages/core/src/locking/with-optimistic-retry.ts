import pRetry from 'p-retry';
import { z } from 'zod';
import { hasErrorCode, type MarketkitError } from '../errors/marketkit-error.js';
import { parseInput } from '../errors/validation-error.js';
import { LOCKING_LIMITS } from './locking-limits.js';

/** Options of {@link withOptimisticRetry}. */
export interface OptimisticRetryOptions {
  /** Attempts in all, counting the first. Default 5, at most `LOCKING_LIMITS.maxOptimisticAttempts`. */
  readonly attempts?: number;
  /** Backoff before the first retry, in ms. Default 5. */
  readonly minTimeoutMs?: number;
  /** Longest backoff between two attempts, in ms. Default 500, at most `LOCKING_LIMITS.maxRetryTimeoutMs`. */
  readonly maxTimeoutMs?: number;
  /** Growth of the backoff per attempt. Default 2. */
  readonly factor?: number;
  /** Multiplies each backoff by a random factor in [1, 2), so colliding writers spread out. Default true. */
  readonly randomize?: boolean;
  /** Stops retrying (the promise rejects with the signal's reason). */
  readonly signal?: AbortSignal;
  /** Called after each conflict that will be retried, with the conflict and the attempt that failed (1-based). */
  readonly onConflict?: (error: MarketkitError, attempt: number) => void;
}

const optionsSchema = z
  .strictObject({
    attempts: z.number().int().min(1).max(LOCKING_LIMITS.maxOptimisticAttempts).default(5),
    minTimeoutMs: z.number().int().min(0).max(LOCKING_LIMITS.maxRetryTimeoutMs).default(5),
    maxTimeoutMs: z.number().int().min(0).max(LOCKING_LIMITS.maxRetryTimeoutMs).default(500),
    factor: z.number().min(1).max(10).default(2),
    randomize: z.boolean().default(true),
  })
  .refine((o) => o.maxTimeoutMs >= o.minTimeoutMs, { message: 'maxTimeoutMs must be >= minTimeoutMs' });

/** Carries an error that must not be retried through p-retry untouched (p-retry decorates and wraps errors). */
class NotRetried extends Error {
  readonly inner: unknown;
  constructor(inner: unknown) {
    super('not retried');
    this.inner = inner;
  }
}

/**
 * Runs `fn` and reruns it, with exponential backoff and jitter (p-retry), whenever it throws a
 * `CONCURRENCY_CONFLICT` (as {@link updateWithVersion} does). Any other error is rethrown at once, unchanged;
 * after the last attempt the last conflict is rethrown.
 *
 * Contract: `fn` MUST reload what it decides on in every attempt (it gets the 1-based attempt number) and MUST
 * have no effect outside the database that a rerun would repeat. Wrap whole transactions (each attempt its own
 * `storage.transaction`), never retry inside one. With that, N concurrent callers that each
 * update one row through version checks all land exactly once, provided `attempts` is at least N in the worst case
 * (each round, at least one of the colliding writers wins).
 *
 * @example
 * ```ts
 * await withOptimisticRetry(() =>
 *   storage.transaction(async (trx) => {
 *     const row = await trx.selectFrom('accounts').selectAll().where('id', '=', 'a').executeTakeFirstOrThrow();
 *     await updateWithVersion(trx, 'accounts', 'id', 'a', row.version, { user_data: 'checked' });
 *   }),
 *   { attempts: 10 },
 * );
 * ```
 */
export async function withOptimisticRetry<T>(
  fn: (attempt: number) => Promise<T>,
  options: OptimisticRetryOptions = {},
): Promise<T> {
  const { signal, onConflict, ...numbers } = options;
  const parsed = parseInput(optionsSchema, numbers, 'optimistic retry options');
  try {
    return await pRetry(
      async (attempt) => {
        try {
          return await fn(attempt);
        } catch (error) {
          throw hasErrorCode(error, 'CONCURRENCY_CONFLICT') ? error : new NotRetried(error);
        }
      },
      {
        retries: parsed.attempts - 1,
        minTimeout: parsed.minTimeoutMs,
        maxTimeout: parsed.maxTimeoutMs,
        factor: parsed.factor,
        randomize: parsed.randomize,
        shouldRetry: (error) => !(error instanceof NotRetried),
        onFailedAttempt: (error) => {
          if (onConflict !== undefined && hasErrorCode(error, 'CONCURRENCY_CONFLICT') && error.retriesLeft > 0) {
            onConflict(error, error.attemptNumber);
          }
        },
        ...(signal === undefined ? {} : { signal }),
      },
    );
  } catch (error) {
    throw error instanceof NotRetried ? error.inner : error;
  }
}

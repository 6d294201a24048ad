import { z } from 'zod';
import { isMarketkitError } from '../errors/marketkit-error.js';

/**
 * How a failed step or job is retried: `attempts` in all (counting the first), waiting
 * `min(maxTimeoutMs, minTimeoutMs × factor^(n-1) × (1 + random))` before attempt n + 1 — p-retry's backoff with
 * jitter. The wait is durable: the next run time is stored, so a retry survives a crash of the worker.
 *
 * @example
 * ```ts
 * const policy: RetryPolicy = { attempts: 5, minTimeoutMs: 100, maxTimeoutMs: 10_000, factor: 2 };
 * ```
 */
export interface RetryPolicy {
  readonly attempts: number;
  readonly minTimeoutMs?: number;
  readonly maxTimeoutMs?: number;
  readonly factor?: number;
  /** Multiply each wait by a random factor in [1, 2). Default true. */
  readonly randomize?: boolean;
}

/** How an error is treated: retried (until the attempts run out) or failed at once. */
export type ErrorClass = 'retryable' | 'permanent';

/** @internal */
export const retryPolicySchema = z.strictObject({
  attempts: z.number().int().min(1).max(1000),
  minTimeoutMs: z.number().int().min(0).max(86_400_000).optional(),
  maxTimeoutMs: z.number().int().min(0).max(86_400_000).optional(),
  factor: z.number().min(1).max(100).optional(),
  randomize: z.boolean().optional(),
});

/** The policy used when a step or job declares none. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  attempts: 3,
  minTimeoutMs: 1000,
  maxTimeoutMs: 60_000,
  factor: 2,
  randomize: true,
});

/**
 * Milliseconds to wait after failed attempt `attempt` (1-based), as p-retry computes it.
 *
 * @example
 * ```ts
 * backoffDelay({ attempts: 3, minTimeoutMs: 100, factor: 2, randomize: false }, 2); // 200
 * ```
 */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const min = policy.minTimeoutMs ?? DEFAULT_RETRY_POLICY.minTimeoutMs ?? 1000;
  const max = policy.maxTimeoutMs ?? Number.POSITIVE_INFINITY;
  const factor = policy.factor ?? 2;
  const jitter = policy.randomize === false ? 1 : 1 + random();
  return Math.min(max, Math.round(jitter * Math.max(min, 0) * factor ** Math.max(0, attempt - 1)));
}

/**
 * The default classification: a Marketkit error is retryable when its code says so; anything else (a network
 * error, a bug) is treated as retryable, so it is retried until the attempts run out.
 */
export function defaultClassify(error: unknown): ErrorClass {
  if (isMarketkitError(error)) return error.retryable ? 'retryable' : 'permanent';
  return 'retryable';
}

/** A JSON-safe summary of an error, for `last_error` columns and logs; a Marketkit error keeps its details. */
export function errorSummary(error: unknown): { code: string; message: string; details?: unknown } {
  if (isMarketkitError(error)) return { code: error.code, message: error.message, details: error.details };
  if (error instanceof Error) return { code: error.name, message: error.message };
  return { code: 'UNKNOWN', message: String(error) };
}

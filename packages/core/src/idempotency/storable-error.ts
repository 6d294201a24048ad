import type { ErrorCode } from '../errors/error-codes.js';
import { isMarketkitError, type MarketkitError } from '../errors/marketkit-error.js';

/**
 * Non-retryable codes that still say nothing about the request: database trouble, a bug, a lost lease, another
 * key's state. They are never stored under a key, so a retry runs the request again.
 */
const NEVER_STORED: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'UNIQUE_VIOLATION',
  'STORAGE_ERROR',
  'MIGRATION_FAILED',
  'INTERNAL',
  'LEASE_LOST',
  'IDEMPOTENCY_CONFLICT',
  'IDEMPOTENCY_KEY_REUSED',
]);

/**
 * True when `error` is a deterministic outcome of the request, to be stored and replayed under its key: a
 * `MarketkitError` that is not retryable (`INSUFFICIENT_FUNDS`, `VALIDATION_FAILED`, `PAYMENT_DECLINED`, …) and not
 * one of the codes about the infrastructure. Retryable errors and foreign errors (a `TypeError`, a driver error)
 * are never stored.
 *
 * @example
 * ```ts
 * isStorableError(new MarketkitError('INSUFFICIENT_FUNDS')); // true: replayed under the key
 * isStorableError(new MarketkitError('CONCURRENCY_CONFLICT')); // false: retryable, the key stays free
 * ```
 */
export function isStorableError(error: unknown): error is MarketkitError {
  return isMarketkitError(error) && !error.retryable && !NEVER_STORED.has(error.code);
}

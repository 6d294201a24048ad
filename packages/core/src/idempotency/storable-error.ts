import type { ErrorCode } from '../errors/error-codes.js';
import { isMarketkitError, type MarketkitError } from '../errors/marketkit-error.js';

/**
 * Whether each code is stored under an idempotency key and replayed to a retry with the same key (Stripe's rule):
 * - `stored`: an outcome reached while the operation was executing (the provider declined, the order was no longer
 *   in a state the transition leaves, a reservation had expired, the ledger refused for lack of funds). A retry with
 *   the same key gets the same error without running anything.
 * - `not stored`: the request failed before it started executing (malformed input, a reference that does not exist,
 *   an actor who may not act, stock that was not there to reserve), or the failure says nothing about the request
 *   (database trouble, a bug, a lost lease, another key's state), or it is retryable. The key stays free, so a
 *   corrected request may use it.
 * The table covers every code, so a new code cannot be added without deciding.
 */
export const STORED_UNDER_KEY: Readonly<Record<ErrorCode, boolean>> = {
  VALIDATION_FAILED: false,
  UNKNOWN_CURRENCY: false,
  CURRENCY_MISMATCH: false,
  AMOUNT_NOT_REPRESENTABLE: false,
  INSUFFICIENT_FUNDS: true,
  PAYOUT_DESTINATION_MISSING: false,
  INSUFFICIENT_STOCK: false,
  RESERVATION_EXPIRED: true,
  NOT_FOUND: false,
  CONCURRENCY_CONFLICT: false,
  UNIQUE_VIOLATION: false,
  SERIALIZATION_FAILURE: false,
  DEADLOCK_DETECTED: false,
  LOCK_NOT_AVAILABLE: false,
  CONNECTION_LOST: false,
  STORAGE_ERROR: false,
  MIGRATION_FAILED: false,
  LEASE_LOST: false,
  INVALID_TRANSITION: true,
  UNAUTHENTICATED: false,
  FORBIDDEN: false,
  WEBHOOK_SIGNATURE_INVALID: false,
  IDEMPOTENCY_KEY_REUSED: false,
  IDEMPOTENCY_CONFLICT: false,
  PAYMENT_DECLINED: true,
  PROVIDER_ERROR: false,
  PROVIDER_TIMEOUT: false,
  PROVIDER_UNAVAILABLE: false,
  CUSTOMER_ACTION_UNSUPPORTED: true,
  PROVIDER_CAPABILITY_MISSING: false,
  BACKUP_UNSUPPORTED: false,
  RATE_LIMITED: false,
  OVERLOADED: false,
  WEBHOOK_TARGET_REFUSED: false,
  INTERNAL: false,
};

/**
 * True when `error` is a deterministic outcome of the request, to be stored and replayed under its key: a
 * `MarketkitError` that is not retryable and whose code {@link STORED_UNDER_KEY} marks as stored
 * (`PAYMENT_DECLINED`, `INVALID_TRANSITION`, `INSUFFICIENT_FUNDS`, `RESERVATION_EXPIRED`). Retryable errors, errors
 * raised before the request started executing (`VALIDATION_FAILED`, `NOT_FOUND`, `FORBIDDEN`, `INSUFFICIENT_STOCK`,
 * …) and foreign errors (a `TypeError`, a driver error) are never stored.
 *
 * @example
 * ```ts
 * isStorableError(new MarketkitError('PAYMENT_DECLINED')); // true: replayed under the key
 * isStorableError(new MarketkitError('NOT_FOUND')); // false: the key stays free for a corrected request
 * ```
 */
export function isStorableError(error: unknown): error is MarketkitError {
  return isMarketkitError(error) && !error.retryable && STORED_UNDER_KEY[error.code] === true;
}

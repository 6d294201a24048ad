import type { ErrorDetails } from '../errors/error-details.js';
import { isMarketkitError, MarketkitError } from '../errors/marketkit-error.js';
import type { StorageAdapter, StorageErrorKind } from './storage-adapter.js';

/** The codes a classified driver error can have. */
type StorageErrorCode =
  | 'UNIQUE_VIOLATION'
  | 'SERIALIZATION_FAILURE'
  | 'DEADLOCK_DETECTED'
  | 'LOCK_NOT_AVAILABLE'
  | 'CONNECTION_LOST'
  | 'OVERLOADED'
  | 'STORAGE_ERROR';

const CODE_BY_KIND = {
  uniqueViolation: 'UNIQUE_VIOLATION',
  foreignKeyViolation: 'STORAGE_ERROR',
  checkViolation: 'STORAGE_ERROR',
  serializationFailure: 'SERIALIZATION_FAILURE',
  preparedStatementLost: 'SERIALIZATION_FAILURE',
  deadlock: 'DEADLOCK_DETECTED',
  lockNotAvailable: 'LOCK_NOT_AVAILABLE',
  connectionLost: 'CONNECTION_LOST',
  connectionWaitTimeout: 'OVERLOADED',
} as const satisfies Record<StorageErrorKind, StorageErrorCode>;

/** A storage code with the shape its kind has ({ kind } where each code's kind is the one that maps to it). */
const Coded = MarketkitError as new (
  code: StorageErrorCode,
  options: { message: string; details: ErrorDetails<StorageErrorCode>; cause: unknown },
) => MarketkitError<StorageErrorCode>;

/**
 * The wait suggested to a caller refused with `OVERLOADED` because no database connection came free in time: long
 * enough for the transactions holding the pool to finish, short enough not to idle a client for long.
 */
const CONNECTION_WAIT_RETRY_AFTER_MS = 1000;

/** The details of a storage code: `{ kind }`, or for a pool that had no free connection, what `OVERLOADED` says. */
function detailsOf(kind: StorageErrorKind | undefined): ErrorDetails<StorageErrorCode> {
  if (kind === 'connectionWaitTimeout') {
    return { resource: 'database-connections', retryAfterMs: CONNECTION_WAIT_RETRY_AFTER_MS };
  }
  return { kind: kind ?? 'unknown' } as ErrorDetails<StorageErrorCode>;
}

/**
 * A database error, classified by the adapter, with the driver's error as `cause`. A pool whose bounded wait for a
 * connection ran out (`connectionWaitTimeout`) is `OVERLOADED` with `{ resource: 'database-connections',
 * retryAfterMs }`: retryable, and nothing was written.
 */
export class StorageError extends Coded {
  readonly kind: StorageErrorKind | undefined;
  constructor(kind: StorageErrorKind | undefined, cause: unknown) {
    const text = cause instanceof Error ? cause.message : String(cause);
    super(kind === undefined ? 'STORAGE_ERROR' : CODE_BY_KIND[kind], {
      message: `Database error${kind === undefined ? '' : ` (${kind})`}: ${text}`,
      details: detailsOf(kind),
      cause,
    });
    this.name = 'StorageError';
    this.kind = kind;
  }
}

/**
 * Turns a driver error into a coded `StorageError`. Marketkit errors, and errors the driver did not raise (the
 * host's own, programming errors), pass through unchanged so callers can still catch them by class.
 */
export function toStorageError(adapter: StorageAdapter, error: unknown): unknown {
  if (isMarketkitError(error)) return error;
  const kind = adapter.classifyError(error);
  if (kind === undefined && !adapter.isDriverError(error)) return error;
  return new StorageError(kind, error);
}

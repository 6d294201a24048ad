import type { ErrorCode } from '../errors/error-codes.js';
import { isMarketkitError, MarketkitError } from '../errors/marketkit-error.js';
import type { StorageAdapter, StorageErrorKind } from './storage-adapter.js';

const CODE_BY_KIND: Readonly<Record<StorageErrorKind, ErrorCode>> = {
  uniqueViolation: 'UNIQUE_VIOLATION',
  foreignKeyViolation: 'STORAGE_ERROR',
  checkViolation: 'STORAGE_ERROR',
  serializationFailure: 'SERIALIZATION_FAILURE',
  deadlock: 'DEADLOCK_DETECTED',
  lockNotAvailable: 'LOCK_NOT_AVAILABLE',
  connectionLost: 'CONNECTION_LOST',
};

/** A database error, classified by the adapter, with the driver's error as `cause`. */
export class StorageError extends MarketkitError {
  readonly kind: StorageErrorKind | undefined;
  constructor(kind: StorageErrorKind | undefined, cause: unknown) {
    const text = cause instanceof Error ? cause.message : String(cause);
    super(kind === undefined ? 'STORAGE_ERROR' : CODE_BY_KIND[kind], {
      message: `Database error${kind === undefined ? '' : ` (${kind})`}: ${text}`,
      details: { kind: kind ?? 'unknown' },
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

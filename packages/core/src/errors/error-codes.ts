/**
 * Every stable error code Marketkit throws, with whether retrying the same call can help.
 * Codes are part of the public API: they never change meaning once released.
 */
export const ERROR_CODES = {
  VALIDATION_FAILED: { retryable: false, message: 'The input did not pass validation.' },
  UNKNOWN_CURRENCY: { retryable: false, message: 'The currency is not a known ISO 4217 code.' },
  CURRENCY_MISMATCH: { retryable: false, message: 'The amounts are in different currencies.' },
  AMOUNT_NOT_REPRESENTABLE: {
    retryable: false,
    message: 'The amount has more decimal places than the currency allows, or is out of range.',
  },
  INSUFFICIENT_FUNDS: { retryable: false, message: 'The account does not have enough funds.' },
  INSUFFICIENT_STOCK: { retryable: false, message: 'The listing does not have that many units available.' },
  RESERVATION_EXPIRED: { retryable: false, message: 'The stock reservation expired before it was used.' },
  NOT_FOUND: { retryable: false, message: 'The record does not exist.' },
  CONCURRENCY_CONFLICT: { retryable: true, message: 'The record was changed by someone else; reload and retry.' },
  UNIQUE_VIOLATION: { retryable: false, message: 'A record with the same key already exists.' },
  SERIALIZATION_FAILURE: { retryable: true, message: 'The transaction could not be serialized; retry it.' },
  DEADLOCK_DETECTED: { retryable: true, message: 'The transaction was chosen as a deadlock victim; retry it.' },
  LOCK_NOT_AVAILABLE: { retryable: true, message: 'A row lock could not be taken without waiting.' },
  CONNECTION_LOST: { retryable: true, message: 'The database connection was lost.' },
  STORAGE_ERROR: { retryable: false, message: 'The database reported an error.' },
  MIGRATION_FAILED: { retryable: false, message: 'A schema migration failed.' },
  LEASE_LOST: { retryable: false, message: 'The lease expired or was taken over; the work must not commit.' },
  INVALID_TRANSITION: { retryable: false, message: 'The transition is not allowed from the current state.' },
  FORBIDDEN: { retryable: false, message: 'The actor may not perform this operation.' },
  IDEMPOTENCY_KEY_REUSED: {
    retryable: false,
    message: 'The idempotency key was already used with a different request.',
  },
  IDEMPOTENCY_CONFLICT: {
    retryable: true,
    message: 'A request with the same idempotency key is still in progress.',
  },
  PAYMENT_DECLINED: { retryable: false, message: 'The payment provider declined the operation.' },
  PROVIDER_ERROR: { retryable: true, message: 'The payment provider failed; the operation may be retried.' },
  PROVIDER_TIMEOUT: {
    retryable: true,
    message: 'The payment provider did not answer in time; the outcome is unknown, retry with the same key.',
  },
  PROVIDER_CAPABILITY_MISSING: {
    retryable: false,
    message: 'The payment provider does not offer the optional method this operation needs.',
  },
  INTERNAL: { retryable: false, message: 'An internal invariant was violated.' },
} as const satisfies Record<string, { retryable: boolean; message: string }>;

/** A stable machine-readable error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

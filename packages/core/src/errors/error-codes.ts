/** What every entry of {@link ERROR_CODES} declares. */
export interface ErrorCodeSpec {
  /** Whether retrying the same call (with the same idempotency key) can succeed. */
  readonly retryable: boolean;
  /**
   * The HTTP status an API answers this code with: 400 for input that can never pass, 401 for a request without
   * valid credentials, 402 for a declined payment, 403/404 for what the actor may not do or see, 409 for a conflict with the current state (retry after a reload,
   * or not at all), 422 for a valid request the business rules refuse, 429 for a caller over its rate limit, 5xx for
   * the server's or the provider's side.
   */
  readonly httpStatus: 400 | 401 | 402 | 403 | 404 | 409 | 422 | 429 | 500 | 501 | 502 | 503 | 504;
  /** The default message, and the code's meaning in the generated docs (docs/errors.md). */
  readonly message: string;
}

/**
 * Every stable error code Marketkit throws, with whether retrying the same call can help and the HTTP status an
 * API answers it with. Codes are part of the public API: they never change meaning once released. docs/errors.md
 * and {@link HTTP_STATUS_BY_CODE} are generated from this table.
 *
 * @example
 * ```ts
 * ERROR_CODES.PAYMENT_DECLINED; // { retryable: false, httpStatus: 402, message: 'The payment provider declined …' }
 * ```
 */
export const ERROR_CODES = {
  VALIDATION_FAILED: { retryable: false, httpStatus: 400, message: 'The input did not pass validation.' },
  UNKNOWN_CURRENCY: { retryable: false, httpStatus: 400, message: 'The currency is not a known ISO 4217 code.' },
  CURRENCY_MISMATCH: { retryable: false, httpStatus: 400, message: 'The amounts are in different currencies.' },
  AMOUNT_NOT_REPRESENTABLE: {
    retryable: false,
    httpStatus: 400,
    message: 'The amount has more decimal places than the currency allows, or is out of range.',
  },
  INSUFFICIENT_FUNDS: { retryable: false, httpStatus: 422, message: 'The account does not have enough funds.' },
  PAYOUT_DESTINATION_MISSING: {
    retryable: false,
    httpStatus: 422,
    message: 'The payout names no destination and the seller has none stored.',
  },
  INSUFFICIENT_STOCK: {
    retryable: false,
    httpStatus: 409,
    message: 'The listing does not have that many units available.',
  },
  RESERVATION_EXPIRED: {
    retryable: false,
    httpStatus: 409,
    message: 'The stock reservation expired before it was used.',
  },
  NOT_FOUND: { retryable: false, httpStatus: 404, message: 'The record does not exist.' },
  CONCURRENCY_CONFLICT: {
    retryable: true,
    httpStatus: 409,
    message: 'The record was changed by someone else; reload and retry.',
  },
  UNIQUE_VIOLATION: { retryable: false, httpStatus: 409, message: 'A record with the same key already exists.' },
  SERIALIZATION_FAILURE: {
    retryable: true,
    httpStatus: 503,
    message: 'The transaction could not be serialized; retry it.',
  },
  DEADLOCK_DETECTED: {
    retryable: true,
    httpStatus: 503,
    message: 'The transaction was chosen as a deadlock victim; retry it.',
  },
  LOCK_NOT_AVAILABLE: {
    retryable: true,
    httpStatus: 503,
    message: 'A row lock could not be taken without waiting.',
  },
  CONNECTION_LOST: { retryable: true, httpStatus: 503, message: 'The database connection was lost.' },
  STORAGE_ERROR: { retryable: false, httpStatus: 500, message: 'The database reported an error.' },
  MIGRATION_FAILED: { retryable: false, httpStatus: 500, message: 'A schema migration failed.' },
  LEASE_LOST: {
    retryable: false,
    httpStatus: 409,
    message: 'The lease expired or was taken over; the work must not commit.',
  },
  INVALID_TRANSITION: {
    retryable: false,
    httpStatus: 409,
    message: 'The transition is not allowed from the current state.',
  },
  UNAUTHENTICATED: {
    retryable: false,
    httpStatus: 401,
    message: 'The request carries no valid credentials (missing, malformed, expired or wrongly signed).',
  },
  FORBIDDEN: { retryable: false, httpStatus: 403, message: 'The actor may not perform this operation.' },
  WEBHOOK_SIGNATURE_INVALID: {
    retryable: false,
    httpStatus: 400,
    message: 'The webhook is not signed by the provider (missing, malformed, wrong or too old signature).',
  },
  IDEMPOTENCY_KEY_REUSED: {
    retryable: false,
    httpStatus: 422,
    message: 'The idempotency key was already used with a different request.',
  },
  IDEMPOTENCY_CONFLICT: {
    retryable: true,
    httpStatus: 409,
    message: 'A request with the same idempotency key is still in progress.',
  },
  PAYMENT_DECLINED: {
    retryable: false,
    httpStatus: 402,
    message: 'The payment provider declined the operation.',
  },
  PROVIDER_ERROR: {
    retryable: true,
    httpStatus: 502,
    message: 'The payment provider failed; the operation may be retried.',
  },
  PROVIDER_TIMEOUT: {
    retryable: true,
    httpStatus: 504,
    message: 'The payment provider did not answer in time; the outcome is unknown, retry with the same key.',
  },
  PROVIDER_UNAVAILABLE: {
    retryable: true,
    httpStatus: 503,
    message:
      'The payment provider failed repeatedly and its circuit breaker is open: nothing was done; retry after the time given.',
  },
  CUSTOMER_ACTION_UNSUPPORTED: {
    retryable: false,
    httpStatus: 422,
    message: 'The payment needs the customer to act, and the order process has no state to wait for it in.',
  },
  PROVIDER_CAPABILITY_MISSING: {
    retryable: false,
    httpStatus: 501,
    message: 'The payment provider does not offer the optional method this operation needs.',
  },
  BACKUP_UNSUPPORTED: {
    retryable: false,
    httpStatus: 501,
    message:
      'The storage adapter cannot copy its database online (PostgreSQL): back it up with pg_dump or PITR (docs/operations.md, Backups).',
  },
  RATE_LIMITED: {
    retryable: true,
    httpStatus: 429,
    message: 'Too many requests from this caller; retry after the time given.',
  },
  OVERLOADED: {
    retryable: true,
    httpStatus: 503,
    message:
      'The server is at its capacity (requests in flight, or the wait for a database connection); retry after the time given.',
  },
  WEBHOOK_TARGET_REFUSED: {
    retryable: false,
    httpStatus: 400,
    message:
      'The webhook URL is not https, or its host is a private, loopback or link-local address the marketplace does not allow.',
  },
  INTERNAL: { retryable: false, httpStatus: 500, message: 'An internal invariant was violated.' },
} as const satisfies Record<string, ErrorCodeSpec>;

/** A stable machine-readable error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * The HTTP status of every error code, read from {@link ERROR_CODES}: what an HTTP layer answers a
 * `MarketkitError` with.
 *
 * @example
 * ```ts
 * if (isMarketkitError(e)) res.status(HTTP_STATUS_BY_CODE[e.code]).json(e.toJSON());
 * ```
 */
export const HTTP_STATUS_BY_CODE: { readonly [C in ErrorCode]: (typeof ERROR_CODES)[C]['httpStatus'] } = Object.freeze(
  Object.fromEntries(Object.entries(ERROR_CODES).map(([code, spec]) => [code, spec.httpStatus])) as {
    [C in ErrorCode]: (typeof ERROR_CODES)[C]['httpStatus'];
  },
);

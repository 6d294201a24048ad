import { ERROR_CODES, type ErrorCode } from './error-codes.js';
import { ERROR_DETAILS_SCHEMAS, type ErrorDetails } from './error-details.js';
import { type AnyMarketkitError, MarketkitError } from './marketkit-error.js';

/** An error as stored or sent over the wire: its code, message and details (as `toJSON()` writes them). */
export interface StoredMarketkitError {
  readonly code: string;
  readonly message: string;
  readonly details?: unknown;
}

/**
 * Rebuilds a Marketkit error from its stored parts (an idempotency record, a saga's last error, a response of a
 * remote provider). The details are checked against the code's shape; an unknown code, or details of another
 * shape, come back as `INTERNAL` (saying what was stored), so every rebuilt error has its code's one shape.
 *
 * @example
 * ```ts
 * const e = restoreMarketkitError({ code: 'NOT_FOUND', message: 'gone', details: { resource: 'order', id: 'o1' } });
 * ```
 */
export function restoreMarketkitError(
  stored: StoredMarketkitError,
  options: { readonly retryable?: boolean } = {},
): AnyMarketkitError {
  if (!Object.hasOwn(ERROR_CODES, stored.code)) {
    return new MarketkitError('INTERNAL', {
      message: `A stored error has the unknown code ${stored.code}: ${stored.message}`,
    });
  }
  const code = stored.code as ErrorCode;
  const parsed = ERROR_DETAILS_SCHEMAS[code].safeParse(stored.details ?? {});
  if (!parsed.success) {
    return new MarketkitError('INTERNAL', {
      message: `A stored ${code} error has details of another shape: ${stored.message}`,
    });
  }
  // The code is only known at run time; the details were just checked against its shape.
  const Rebuilt = MarketkitError as new (
    code: ErrorCode,
    options: { message: string; details: ErrorDetails; retryable?: boolean },
  ) => AnyMarketkitError;
  return new Rebuilt(code, {
    message: stored.message,
    details: parsed.data,
    ...(options.retryable === undefined ? {} : { retryable: options.retryable }),
  });
}

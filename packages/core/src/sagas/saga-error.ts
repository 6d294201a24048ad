import { ERROR_CODES, type ErrorCode } from '../errors/error-codes.js';
import { MarketkitError } from '../errors/marketkit-error.js';
import type { SagaInfo } from './saga-types.js';

/**
 * The error a saga stopped on (its `lastError`), as a typed error for the caller that ran it inline: the same
 * code (an error that was not a Marketkit error becomes `fallback`), the same message, `details` added.
 */
export function sagaLastError(
  saga: SagaInfo,
  details: Record<string, unknown>,
  fallback: ErrorCode = 'PROVIDER_ERROR',
): MarketkitError {
  const last = saga.lastError ?? { code: 'INTERNAL', message: `Saga ${saga.id} stopped as ${saga.status}.` };
  const code = last.code in ERROR_CODES ? (last.code as ErrorCode) : fallback;
  return new MarketkitError(code, { message: last.message, details: { ...details, sagaId: saga.id } });
}

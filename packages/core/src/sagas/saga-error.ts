import { ERROR_CODES } from '../errors/error-codes.js';
import type { AnyMarketkitError } from '../errors/marketkit-error.js';
import { restoreMarketkitError } from '../errors/restore-error.js';
import type { SagaInfo } from './saga-types.js';

/**
 * The error a saga stopped on (its `lastError`), as a typed error for the caller that ran it inline: the same
 * code, message and details (an error that was not a Marketkit error becomes `PROVIDER_ERROR`, retryable).
 */
export function sagaLastError(saga: SagaInfo): AnyMarketkitError {
  const last = saga.lastError ?? { code: 'INTERNAL', message: `Saga ${saga.id} stopped as ${saga.status}.` };
  if (!Object.hasOwn(ERROR_CODES, last.code))
    return restoreMarketkitError({ code: 'PROVIDER_ERROR', message: last.message });
  return restoreMarketkitError(last);
}

import { isMarketkitError } from '../errors/marketkit-error.js';
import type { ErrorClass, RetryPolicy } from '../jobs/retry-policy.js';

/**
 * How a saga step that calls the payment provider retries: for about a day, with capped backoff. The outcome of a
 * failed call is unknown (the money may have moved), and the step's idempotency key makes a retry safe, whereas
 * giving up would compensate an effect that may have happened.
 */
export const PROVIDER_CALL_RETRY: RetryPolicy = Object.freeze({
  attempts: 200,
  minTimeoutMs: 1000,
  maxTimeoutMs: 10 * 60_000,
  factor: 2,
});

/**
 * A provider error is final when the provider refused the request (`PAYMENT_DECLINED`, or another Marketkit error
 * that is not retryable); anything else (timeouts, outages, unknown errors) is retried. So is a `STORAGE_ERROR`: a
 * provider step records what the provider did in a statement of its own, and when that statement fails (a pooler
 * that lost a prepared statement, say) the call went through; re-running the step replays it by its key and records
 * it, where giving up would compensate a payment over a database hiccup.
 */
export function classifyProviderError(error: unknown): ErrorClass {
  if (!isMarketkitError(error)) return 'retryable';
  if (error.code === 'STORAGE_ERROR') return 'retryable';
  return error.code === 'PAYMENT_DECLINED' || !error.retryable ? 'permanent' : 'retryable';
}

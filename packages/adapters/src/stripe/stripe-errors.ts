import { isMarketkitError, MarketkitError, type PaymentOperation } from '@marketkit/core';

/** The fields of an error thrown by the `stripe` client that classification reads (its `type` names the class). */
interface StripeErrorLike {
  readonly type: string;
  readonly message: string;
  readonly statusCode?: number;
  readonly code?: string;
  /** The PaymentIntent an error about one carries (its status when the request was refused). */
  readonly payment_intent?: { readonly status?: string };
}

function isStripeError(error: unknown): error is StripeErrorLike {
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { type?: unknown }).type === 'string' &&
    (error as { type: string }).type.startsWith('Stripe')
  );
}

/**
 * Maps an error thrown by the `stripe` client onto the port's outcomes (a Marketkit error passes through):
 * - `StripeCardError` (card declined, …) → `PAYMENT_DECLINED`, final; so is a capture refused because the
 *   PaymentIntent still awaits the customer's action (3-D Secure, `requires_action`);
 * - `StripeRateLimitError` (429) → `PROVIDER_ERROR`, retryable (nothing was done);
 * - `StripeConnectionError` (network failure or client timeout) and `StripeAPIError` (5xx) → `PROVIDER_TIMEOUT`,
 *   retryable: the request may have been applied, so the caller retries with the same key;
 * - `StripeIdempotencyError` → `IDEMPOTENCY_KEY_REUSED`, final (the key was used with other parameters);
 * - `StripeInvalidRequestError`, `StripeAuthenticationError`, `StripePermissionError` and any other Stripe error →
 *   `PROVIDER_ERROR` with `retryable: false` (the same request would fail again);
 * - anything else (a bug, an unknown throw) → `PROVIDER_ERROR`, retryable.
 *
 * @example
 * ```ts
 * try { await stripe.paymentIntents.create(params, { idempotencyKey }); }
 * catch (e) { throw stripeErrorToMarketkit(e, 'authorize', idempotencyKey); }
 * ```
 */
export function stripeErrorToMarketkit(
  error: unknown,
  operation: PaymentOperation | 'listEffects' | 'authorizationStatus',
  key: string,
): MarketkitError {
  if (isMarketkitError(error)) return error as MarketkitError;
  if (!isStripeError(error)) {
    return new MarketkitError('PROVIDER_ERROR', {
      message: `Stripe ${operation} failed: ${String(error)}`,
      details: { operation },
      cause: error,
    });
  }
  const what = `Stripe ${operation}: ${error.message}`;
  if (operation === 'capture' && error.payment_intent?.status === 'requires_action') {
    // The port's rule for a hold awaiting the customer's action (3-D Secure): not capturable, a refusal.
    return new MarketkitError('PAYMENT_DECLINED', { message: what, details: { operation }, cause: error });
  }
  switch (error.type) {
    case 'StripeCardError':
      return new MarketkitError('PAYMENT_DECLINED', { message: what, details: { operation }, cause: error });
    case 'StripeRateLimitError':
      return new MarketkitError('PROVIDER_ERROR', { message: what, details: { operation }, cause: error });
    case 'StripeConnectionError':
    case 'StripeAPIError':
      return new MarketkitError('PROVIDER_TIMEOUT', { message: what, details: { operation }, cause: error });
    case 'StripeIdempotencyError':
      return new MarketkitError('IDEMPOTENCY_KEY_REUSED', {
        message: what,
        details: { key, operation: `stripe.${operation}` },
        cause: error,
      });
    default:
      return new MarketkitError('PROVIDER_ERROR', {
        message: what,
        details: { operation },
        retryable: false,
        cause: error,
      });
  }
}

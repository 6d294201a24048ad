import { isMarketkitError, MarketkitError, type PaymentOperation } from '@marketkit/core';

/** The fields of an error thrown by the `stripe` client that classification reads (its `type` names the class). */
interface StripeErrorLike {
  readonly type: string;
  readonly message: string;
  readonly statusCode?: number;
  readonly code?: string;
}

/**
 * Stripe's codes of an `invalid_request_error` that refuse a money movement the payment's state does not allow: a
 * capture above what is capturable or of a PaymentIntent already captured or canceled, a cancel of a captured one, a
 * refund above what is left. The port calls these declines (final), not provider errors.
 */
const STATE_REFUSALS: ReadonlySet<string> = new Set([
  'payment_intent_unexpected_state',
  'amount_too_large',
  'charge_already_captured',
  'charge_already_refunded',
  'charge_not_captured',
]);

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
 * - `StripeCardError` (card declined, …) → `PAYMENT_DECLINED`, final;
 * - `StripeRateLimitError` (429) → `PROVIDER_ERROR`, retryable (nothing was done);
 * - `StripeConnectionError` (network failure or client timeout) and `StripeAPIError` (5xx) → `PROVIDER_TIMEOUT`,
 *   retryable: the request may have been applied, so the caller retries with the same key;
 * - `StripeIdempotencyError` → `IDEMPOTENCY_KEY_REUSED`, final (the key was used with other parameters);
 * - `StripeInvalidRequestError` refusing what the payment's state does not allow (`payment_intent_unexpected_state`,
 *   `amount_too_large`, `charge_already_captured`, `charge_already_refunded`, `charge_not_captured`: a capture above
 *   the authorization or of a captured or voided one or of one awaiting the customer's action (3-D Secure), a void
 *   after a capture, a refund above what is left) →
 *   `PAYMENT_DECLINED`, final, as the port asks;
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
  switch (error.type) {
    case 'StripeCardError':
      return new MarketkitError('PAYMENT_DECLINED', { message: what, details: { operation }, cause: error });
    case 'StripeRateLimitError':
      return new MarketkitError('PROVIDER_ERROR', { message: what, details: { operation }, cause: error });
    case 'StripeConnectionError':
    case 'StripeAPIError':
      return new MarketkitError('PROVIDER_TIMEOUT', { message: what, details: { operation }, cause: error });
    case 'StripeInvalidRequestError':
      if (error.code !== undefined && STATE_REFUSALS.has(error.code)) {
        return new MarketkitError('PAYMENT_DECLINED', { message: what, details: { operation }, cause: error });
      }
      return new MarketkitError('PROVIDER_ERROR', {
        message: what,
        details: { operation },
        retryable: false,
        cause: error,
      });
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

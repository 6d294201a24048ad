import type { PaymentEffectsPage, PaymentEffectsQuery } from './payment-effects.js';

/**
 * The port to a payment service provider (Stripe, Adyen, a sandbox). Marketkit never handles card data: a
 * buyer's payment method is the provider's token. Every call carries an idempotency key derived from the
 * operation (order id + step), so a retried or re-run call never charges, refunds or pays out twice.
 *
 * Contract for implementations:
 * - The same `idempotencyKey` MUST return the same outcome and apply the effect at most once.
 * - A definitive refusal throws a `MarketkitError` with code `PAYMENT_DECLINED` (not retryable).
 * - A failure that may be retried throws `PROVIDER_ERROR`; one whose outcome is unknown throws
 *   `PROVIDER_TIMEOUT`. Callers retry both with the same key.
 */
export interface PaymentProvider {
  readonly name: string;
  /** Reserves `amountMinor` on the buyer's payment method. */
  authorize(request: AuthorizeRequest): Promise<Authorization>;
  /** Captures (part of) an authorization: the money moves to the platform's provider balance. */
  capture(request: CaptureRequest): Promise<Capture>;
  /** Releases an authorization that will not be captured. */
  void(request: VoidRequest): Promise<void>;
  /** Returns (part of) a capture to the buyer. */
  refund(request: RefundRequest): Promise<Refund>;
  /** Sends money from the platform's provider balance to a seller's payout destination. */
  payout(request: PayoutRequest): Promise<ProviderPayout>;
  /**
   * Lists the effects the provider made (authorizations with their status, captures, refunds, payouts), each with
   * the idempotency key it was made with, oldest first, a page at a time: what `market.payments.reconcile()`
   * compares with the ledger. Optional: without it reconciliation throws `PROVIDER_CAPABILITY_MISSING`.
   *
   * Contract: a page holds at most `query.limit` effects; following `nextCursor` until it is `null` yields every
   * matching effect exactly once, in a stable order, even while new effects are made (those may or may not
   * appear). An effect made with a key is listed under that key however often the key was replayed.
   *
   * @example
   * ```ts
   * let cursor: string | undefined;
   * do {
   *   const page = await provider.listEffects!({ from, to, limit: 100, ...(cursor ? { cursor } : {}) });
   *   for (const effect of page.effects) console.log(effect.type, effect.idempotencyKey, effect.amountMinor);
   *   cursor = page.nextCursor ?? undefined;
   * } while (cursor !== undefined);
   * ```
   */
  listEffects?(query: PaymentEffectsQuery): Promise<PaymentEffectsPage>;
}

interface Keyed {
  readonly idempotencyKey: string;
}

export interface AuthorizeRequest extends Keyed {
  readonly amountMinor: bigint;
  readonly currency: string;
  /** The provider's token for the buyer's payment method. */
  readonly paymentMethod: string;
  readonly reference: string;
}
export interface Authorization {
  readonly authorizationId: string;
}
export interface CaptureRequest extends Keyed {
  readonly authorizationId: string;
  readonly amountMinor: bigint;
  readonly currency: string;
}
export interface Capture {
  readonly captureId: string;
}
export interface VoidRequest extends Keyed {
  readonly authorizationId: string;
}
export interface RefundRequest extends Keyed {
  readonly captureId: string;
  readonly amountMinor: bigint;
  readonly currency: string;
}
export interface Refund {
  readonly refundId: string;
}
export interface PayoutRequest extends Keyed {
  /** The provider's token for the seller's bank account or wallet. */
  readonly destination: string;
  readonly amountMinor: bigint;
  readonly currency: string;
}
export interface ProviderPayout {
  readonly payoutId: string;
}

/** The operations of the port, by name. */
export type PaymentOperation = 'authorize' | 'capture' | 'void' | 'refund' | 'payout';

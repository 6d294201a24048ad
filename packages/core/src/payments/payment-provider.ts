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
 * - Payments that need the customer (3-D Secure): `authorize` MAY answer with `customerAction`; the hold then exists
 *   but is not capturable until the customer acts. A provider that ever does so MUST implement
 *   `authorizationStatus`. See {@link Authorization.customerAction}.
 */
export interface PaymentProvider {
  /** A short name for logs and errors (`'stripe'`, `'sandbox'`). */
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
  /**
   * The current status of an authorization, read from the provider (never from a cache or an event): what the
   * checkout asks while the customer must act, and each time a provider event wakes it. Optional: required of a
   * provider whose `authorize` may answer with `customerAction` (without it such a checkout fails with
   * `PROVIDER_CAPABILITY_MISSING` and its hold is voided).
   *
   * Contract: `requires_action` while the customer has not completed (or failed) the action; `authorized` once the
   * hold is capturable (and still after it was captured); `failed` when the customer failed or abandoned it (nothing
   * held); `canceled` once voided. `failed` and `canceled` are final; `authorized` never goes back to
   * `requires_action`. A transient failure throws `PROVIDER_ERROR` or `PROVIDER_TIMEOUT` (retried).
   *
   * @example
   * ```ts
   * if ((await provider.authorizationStatus!('auth_123')) === 'authorized') await provider.capture({ ... });
   * ```
   */
  authorizationStatus?(authorizationId: string): Promise<AuthorizationState>;
}

/** What {@link PaymentProvider.authorizationStatus} answers. */
export type AuthorizationState = 'requires_action' | 'authorized' | 'failed' | 'canceled';

/** What the customer must do before an authorization is capturable (3-D Secure, a bank redirect). */
export interface CustomerAction {
  /**
   * The secret the host hands to its payment page (Stripe's PaymentIntent `client_secret`) so the provider's
   * client library runs the action there. Never log it; it is returned to the buyer only.
   */
  readonly clientSecret: string;
  /** A page to send the customer to, when the provider offers one (a redirect flow). */
  readonly redirectUrl?: string;
}

interface Keyed {
  /** Derived from the operation (see `orderPaymentKeys`): the same key MUST give the same outcome, applied once. */
  readonly idempotencyKey: string;
}

/** What {@link PaymentProvider.authorize} is asked: hold an amount on the buyer's payment method. */
export interface AuthorizeRequest extends Keyed {
  /** The amount, in minor units of `currency`. */
  readonly amountMinor: bigint;
  /** The ISO 4217 code. */
  readonly currency: string;
  /** The provider's token for the buyer's payment method. */
  readonly paymentMethod: string;
  /** What the payment is for: the order id (listed back by `listEffects` as the authorization's `reference`). */
  readonly reference: string;
}
/** A hold made by {@link PaymentProvider.authorize}. */
export interface Authorization {
  /** The provider's id of the hold. */
  readonly authorizationId: string;
  /**
   * Set when the customer must act before the hold can be captured (3-D Secure): the hold exists at the provider
   * (`authorizationStatus` says `requires_action`) but a capture is refused until it says `authorized`. A replay of
   * the same key MUST return the same `authorizationId` (with or without `customerAction`). Voiding such an
   * authorization cancels it: a customer completing the action afterwards leaves it `canceled`.
   */
  readonly customerAction?: CustomerAction;
}
/** What {@link PaymentProvider.capture} is asked: take (part of) an authorization. */
export interface CaptureRequest extends Keyed {
  /** The hold to capture. */
  readonly authorizationId: string;
  /** The amount to capture, in minor units; at most the authorized amount. */
  readonly amountMinor: bigint;
  /** The ISO 4217 code, the authorization's. */
  readonly currency: string;
}
/** A capture made by {@link PaymentProvider.capture}. */
export interface Capture {
  /** The provider's id of the capture (refunds name it). */
  readonly captureId: string;
}
/** What {@link PaymentProvider.void} is asked: release a hold that will not be captured. */
export interface VoidRequest extends Keyed {
  /** The hold to release. */
  readonly authorizationId: string;
}
/** What {@link PaymentProvider.refund} is asked: give (part of) a capture back to the buyer. */
export interface RefundRequest extends Keyed {
  /** The capture to refund. */
  readonly captureId: string;
  /** The amount to refund, in minor units; at most what is left of the capture. */
  readonly amountMinor: bigint;
  /** The ISO 4217 code, the capture's. */
  readonly currency: string;
}
/** A refund made by {@link PaymentProvider.refund}. */
export interface Refund {
  /** The provider's id of the refund. */
  readonly refundId: string;
}
/** What {@link PaymentProvider.payout} is asked: send money to a seller. */
export interface PayoutRequest extends Keyed {
  /** The provider's token for the seller's bank account or wallet. */
  readonly destination: string;
  /** The amount, in minor units of `currency`. */
  readonly amountMinor: bigint;
  /** The ISO 4217 code. */
  readonly currency: string;
}
/** A payout made by {@link PaymentProvider.payout}. */
export interface ProviderPayout {
  /** The provider's id of the payout. */
  readonly payoutId: string;
}

/** The operations of the port, by name. */
export type PaymentOperation = 'authorize' | 'capture' | 'void' | 'refund' | 'payout';

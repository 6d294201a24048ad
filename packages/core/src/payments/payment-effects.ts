/** The kinds of effect a payment provider lists for reconciliation. */
export type PaymentEffectType = 'authorization' | 'capture' | 'refund' | 'payout';

/** Where an authorization stands at the provider. */
export type AuthorizationStatus = 'open' | 'captured' | 'voided';

interface EffectBase {
  /** The provider's id of the object (authorization, capture, refund, payout id). */
  readonly id: string;
  /** The idempotency key the effect was made with. */
  readonly idempotencyKey: string;
  readonly amountMinor: bigint;
  readonly currency: string;
  /** When the provider made the effect, in ms since the epoch. */
  readonly createdAt: number;
}

/** A hold on the buyer's payment method, and what became of it. */
export interface AuthorizationEffect extends EffectBase {
  readonly type: 'authorization';
  readonly status: AuthorizationStatus;
  /** The `reference` the authorize request carried (Marketkit passes the order id), when the provider keeps it. */
  readonly reference: string | null;
}

/** Money captured from an authorization into the platform's provider balance. */
export interface CaptureEffect extends EffectBase {
  readonly type: 'capture';
  readonly authorizationId: string;
}

/** Money returned from a capture to the buyer. */
export interface RefundEffect extends EffectBase {
  readonly type: 'refund';
  readonly captureId: string;
}

/** Money sent from the platform's provider balance to a seller's destination. */
export interface PayoutEffect extends EffectBase {
  readonly type: 'payout';
  readonly destination: string;
}

/** One effect a provider made, as {@link PaymentProvider.listEffects} reports it. */
export type PaymentEffect = AuthorizationEffect | CaptureEffect | RefundEffect | PayoutEffect;

/**
 * What {@link PaymentProvider.listEffects} is asked for: effects made in `[from, to)` and/or with one of `keys`
 * (both given: effects that match both), a page at a time.
 */
export interface PaymentEffectsQuery {
  /** Effects made at or after this time (ms since the epoch). */
  readonly from?: number;
  /** Effects made before this time (ms since the epoch). */
  readonly to?: number;
  /** Only effects made with one of these idempotency keys. */
  readonly keys?: readonly string[];
  /** At most this many effects in the page (the provider may return fewer, never more). */
  readonly limit: number;
  /** `nextCursor` of the previous page; absent for the first page. */
  readonly cursor?: string;
}

/** One page of effects, oldest first; `nextCursor` is `null` on the last page. */
export interface PaymentEffectsPage {
  readonly effects: readonly PaymentEffect[];
  readonly nextCursor: string | null;
}

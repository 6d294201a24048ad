import type { Money, MoneyJSON } from '../money/money.js';

/** Commission for a listing: a percentage with an optional minimum, or a fixed amount per order. */
export type CommissionRule =
  | {
      readonly kind: 'percentage';
      /** e.g. `'12.5'` for 12.5 %. */
      readonly percent: string;
      /** Minimum commission in minor units. */
      readonly minimumMinor?: bigint | undefined;
      readonly rounding?: 'halfEven' | 'halfUp' | 'down' | 'up' | undefined;
    }
  | { readonly kind: 'fixed'; readonly amountMinor: bigint };

/** What `listings.create` takes. */
export interface ListingInput {
  /** Client-supplied id; generated when absent. */
  readonly id?: string;
  readonly sellerId: string;
  readonly title: string;
  /**
   * Unit price: a `Money`, or its JSON form (`{ amount: '4000', currency: 'USD' }`, minor units as an integer string,
   * as `Money.toJSON()` writes it and a request body carries it). At most 2^63 - 1 minor units
   * (`AMOUNT_NOT_REPRESENTABLE` beyond).
   */
  readonly price: Money | MoneyJSON;
  /** Units for sale. */
  readonly quantity: number;
  /** Overrides the marketplace's default commission for orders of this listing. */
  readonly commission?: CommissionRule;
  /** Stripe-style idempotency key, scoped to the seller (see {@link KeyOptions}). */
  readonly idempotencyKey?: string;
}

/**
 * An optional idempotency key for a mutating call, with Stripe's semantics: the same key with the same request
 * returns the stored result (or error) without running again; with another request `IDEMPOTENCY_KEY_REUSED`;
 * while the first call runs `IDEMPOTENCY_CONFLICT`. Keys are scoped to the seller for `create`, to the listing
 * for `update` and `reserve`, to the reservation for `markSold`, `release` and `restock`.
 */
export interface KeyOptions {
  readonly idempotencyKey?: string;
}

/** Options of `listings.get`. */
export interface ListingReadOptions {
  /**
   * `eventual` (default): with read replicas, may come from one that lags the primary within the adapter's bound
   * (this instance's own writes included). `primary`: from the primary, for a read that is compared with what the
   * caller holds, e.g. a version before an update (see docs/storage.md, "Read replicas").
   */
  readonly consistency?: 'eventual' | 'primary';
}

/** A listing with its stock counters. `sold + reserved + available = quantity` always holds. */
export interface Listing {
  readonly id: string;
  readonly sellerId: string;
  readonly title: string;
  readonly price: Money;
  readonly quantity: number;
  readonly sold: number;
  readonly reserved: number;
  readonly available: number;
  readonly commission: CommissionRule | null;
  readonly status: 'active' | 'closed';
  /** Optimistic-concurrency version: pass it back as `expectedVersion` to edit. */
  readonly version: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** An edit of a listing, applied only if the listing is still at `expectedVersion`. */
export interface ListingUpdate {
  readonly expectedVersion: number;
  readonly title?: string;
  /** A `Money` or its JSON form, as in {@link ListingInput.price}. */
  readonly price?: Money | MoneyJSON;
  /** New total quantity; may not drop below `sold + reserved`. */
  readonly quantity?: number;
  readonly status?: 'active' | 'closed';
  /** See {@link KeyOptions}. */
  readonly idempotencyKey?: string;
}

/** Units held for an order until sold, released or expired. */
export interface StockReservation {
  readonly id: string;
  readonly listingId: string;
  readonly orderId: string | null;
  readonly quantity: number;
  readonly status: 'active' | 'sold' | 'released' | 'expired';
  readonly expiresAt: number;
}

/** What `listings.reserve` takes. */
export interface ReserveInput {
  readonly listingId: string;
  readonly quantity: number;
  /** How long the hold lasts, in ms (default 15 minutes). */
  readonly ttlMs?: number;
  readonly orderId?: string;
  /** Client-supplied id: reserving again with the same id returns the existing reservation. */
  readonly reservationId?: string;
  /** See {@link KeyOptions}. */
  readonly idempotencyKey?: string;
}

import type { Money } from '../money/money.js';
import type { CustomerAction } from '../payments/payment-provider.js';
import type { ActorRole } from './process/process-definition.js';

/** Who is acting: a role and the id of the user (or `system`). */
export interface Actor {
  readonly role: ActorRole;
  readonly id: string;
}

/** An order as stored. Amounts are in the order's currency. */
export interface Order {
  readonly id: string;
  readonly process: string;
  readonly state: string;
  readonly buyerId: string;
  readonly sellerId: string;
  readonly listingId: string;
  readonly quantity: number;
  readonly amount: Money;
  readonly commission: Money;
  readonly refunded: Money;
  /** Money still held in the order's escrow account. */
  readonly escrowBalance: Money;
  readonly frozen: boolean;
  readonly reservationId: string;
  readonly authorizationId: string | null;
  readonly captureId: string | null;
  /**
   * What the customer must do for the payment to go through (3-D Secure), when the provider asked for it: hand
   * `customerAction.clientSecret` to the payment page (the provider's client library runs the action there). Set
   * from the moment the order entered the customer-action state (`awaitingCustomer`); the state says whether it is
   * still awaited. Absent for payments that needed no action.
   */
  readonly customerAction?: CustomerAction;
  readonly stateEnteredAt: number;
  readonly version: number;
  readonly createdAt: number;
}

/** One entry of `orders.history()`. Never updated or deleted. */
export interface OrderEvent {
  readonly seq: number;
  readonly transition: string;
  readonly from: string | null;
  readonly to: string;
  readonly actor: Actor;
  readonly reason: string | null;
  readonly data: Readonly<Record<string, unknown>> | null;
  readonly at: number;
}

/** What `orders.checkout` takes. */
export interface CheckoutInput {
  /** Client-supplied order id; generated when absent. */
  readonly orderId?: string;
  readonly buyerId: string;
  readonly listingId: string;
  readonly quantity: number;
  /** The payment provider's token for the buyer's payment method. */
  readonly paymentMethod: string;
  /** Stripe-style idempotency key: the same key and request returns the same order. */
  readonly idempotencyKey?: string;
}

/** What `orders.transition` takes besides the order and the transition name. */
export interface TransitionInput {
  readonly actor: Actor;
  readonly reason?: string;
  /** `refundPartial`: how much to refund, in minor units. */
  readonly amountMinor?: bigint;
  /** `resolveSplit`: the buyer's share of escrow in percent (0–100); the rest goes to the seller. */
  readonly buyerPercent?: number;
  /** Stripe-style idempotency key, scoped to the actor and the transition. */
  readonly idempotencyKey?: string;
}

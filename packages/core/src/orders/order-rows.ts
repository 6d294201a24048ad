import type { Selectable } from 'kysely';
import { Money } from '../money/money.js';
import type { CustomerAction } from '../payments/payment-provider.js';
import { toBigInt, toNumber } from '../storage/int64.js';
import type { OrderEventsTable, OrdersTable } from './order-tables.js';
import type { Actor, Order, OrderEvent } from './order-types.js';

export function orderFromRow(r: Selectable<OrdersTable>, escrowMinor: bigint): Order {
  return {
    id: r.id,
    process: r.process,
    state: r.state,
    buyerId: r.buyer_id,
    sellerId: r.seller_id,
    listingId: r.listing_id,
    quantity: toNumber(r.quantity),
    amount: Money.fromMinor(toBigInt(r.amount_minor), r.currency),
    commission: Money.fromMinor(toBigInt(r.commission_minor), r.currency),
    refunded: Money.fromMinor(toBigInt(r.refunded_minor), r.currency),
    escrowBalance: Money.fromMinor(escrowMinor, r.currency),
    frozen: toNumber(r.frozen) !== 0,
    reservationId: r.reservation_id,
    authorizationId: r.authorization_id,
    captureId: r.capture_id,
    ...(r.customer_action == null ? {} : { customerAction: JSON.parse(r.customer_action) as CustomerAction }),
    stateEnteredAt: toNumber(r.state_entered_at),
    version: toNumber(r.version),
    createdAt: toNumber(r.created_at),
  };
}

/** One entry of an order's history from its `order_events` row (the feed reads the same columns). */
export function orderEventFromRow(
  r: Pick<
    Selectable<OrderEventsTable>,
    'transition' | 'from_state' | 'to_state' | 'actor_role' | 'actor_id' | 'reason' | 'data'
  > & { readonly seq: bigint | number | string; readonly at: bigint | number | string },
): OrderEvent {
  return {
    seq: toNumber(r.seq),
    transition: r.transition,
    from: r.from_state,
    to: r.to_state,
    actor: { role: r.actor_role, id: r.actor_id } as Actor,
    reason: r.reason,
    data: r.data === null ? null : (JSON.parse(r.data) as Record<string, unknown>),
    at: toNumber(r.at),
  };
}

import { z } from 'zod';
import type { Clock } from '../clock/clock.js';
import { parseInput } from '../errors/validation-error.js';
import type { Order } from '../orders/order-types.js';
import type { Storage } from '../storage/storage.js';

const ref = z.string().min(1).max(255);

/** The schema of {@link CustomerActionEvent}. */
export const customerActionEventSchema = z
  .strictObject({
    authorizationId: ref.optional(),
    orderId: ref.optional(),
    eventId: ref.optional(),
    type: ref.optional(),
  })
  .refine((e) => (e.authorizationId === undefined) !== (e.orderId === undefined), {
    message: 'name the payment by exactly one of authorizationId and orderId',
  });

/** What `market.payments.customerActionCompleted` is told: that the customer acted on a payment (or may have). */
export interface CustomerActionEvent {
  /** The provider's id of the authorization the event is about (Stripe: the PaymentIntent's id). */
  readonly authorizationId?: string;
  /** Or the order, when the event names it (Stripe: the PaymentIntent's metadata); exactly one of the two. */
  readonly orderId?: string;
  /**
   * The provider's id of the event (a webhook's id): an event handled once is not handled again. Without it (the
   * host's own return page, say) every call wakes the checkout, which is harmless.
   */
  readonly eventId?: string;
  /** The event's type, recorded with its id for operators (`payment_intent.succeeded`); default `customer_action`. */
  readonly type?: string;
}

/** What `market.payments.customerActionCompleted` did. */
export interface CustomerActionOutcome {
  /** True when the event id had been handled already: nothing ran. */
  readonly duplicate: boolean;
  /**
   * The order as it stands after the wake; `null` for a duplicate, or when no order matches (an authorization that is
   * not Marketkit's, or one whose order has not recorded it yet: that checkout asks the provider by itself).
   */
  readonly order: Order | null;
}

/** What {@link handleCustomerAction} needs. @internal */
export interface CustomerActionDeps {
  readonly storage: Storage;
  readonly clock: Clock;
  readonly providerName: () => string;
  readonly wakeCheckout: (
    ref: { readonly orderId: string } | { readonly authorizationId: string },
  ) => Promise<Order | undefined>;
}

/**
 * Records the event by its id (once per provider and id: a duplicate stops here), then wakes the checkout waiting
 * for the customer. The event says nothing the checkout trusts: the saga asks the provider for the authorization's
 * status, so an event late, twice or out of order cannot capture what is not capturable, nor capture twice.
 * @internal
 */
export async function handleCustomerAction(
  d: CustomerActionDeps,
  input: CustomerActionEvent,
): Promise<CustomerActionOutcome> {
  const e = parseInput(customerActionEventSchema, input, 'customer action event');
  const target = e.orderId !== undefined ? { orderId: e.orderId } : { authorizationId: e.authorizationId! };
  if (e.eventId !== undefined) {
    const eventId = e.eventId;
    const inserted = await d.storage.transaction((trx) =>
      trx
        .insertInto('provider_events')
        .values({
          provider: d.providerName(),
          event_id: eventId,
          type: e.type ?? 'customer_action',
          authorization_id: e.authorizationId ?? null,
          order_id: e.orderId ?? null,
          received_at: d.clock.now(),
        })
        .onConflict((oc) => oc.columns(['provider', 'event_id']).doNothing())
        .executeTakeFirst(),
    );
    if (inserted.numInsertedOrUpdatedRows === 0n) return { duplicate: true, order: null };
  }
  const order = await d.wakeCheckout(target);
  return { duplicate: false, order: order ?? null };
}

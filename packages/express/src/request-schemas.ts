import { z } from 'zod';

/**
 * The JSON bodies of the routes. They check the HTTP shape only (strings where JSON cannot carry a bigint);
 * Marketkit checks the values again with its own schemas, so a bad value is `VALIDATION_FAILED` either way.
 */
const minor = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,18})$/, 'an amount in minor units, as an integer string')
  .transform((s) => BigInt(s));

/** `POST /v1/listings`. The seller is the actor. */
export const createListingBody = z.strictObject({
  id: z.string().optional(),
  title: z.string(),
  price: z.strictObject({ amount: z.string(), currency: z.string() }),
  quantity: z.number(),
});

/** `PATCH /v1/listings/:id`. The expected version comes from `If-Match`. */
export const updateListingBody = z.strictObject({
  title: z.string().optional(),
  price: z.strictObject({ amount: z.string(), currency: z.string() }).optional(),
  quantity: z.number().optional(),
  status: z.enum(['active', 'closed']).optional(),
});

/** `POST /v1/checkouts`. The buyer is the actor. */
export const checkoutBody = z.strictObject({
  orderId: z.string().optional(),
  listingId: z.string(),
  quantity: z.number(),
  paymentMethod: z.string(),
});

/** `POST /v1/orders/:id/transitions/:name`. */
export const transitionBody = z.strictObject({
  reason: z.string().optional(),
  amountMinor: minor.optional(),
  buyerPercent: z.number().optional(),
});

/** `POST /v1/payouts`. The seller is the actor. */
export const payoutBody = z.strictObject({
  payoutId: z.string().optional(),
  currency: z.string(),
  amountMinor: minor,
  destination: z.string(),
});

/** `POST /v1/operator/sagas/:id/resolve`. */
export const resolveBody = z.strictObject({ note: z.string() });

/** The object without its `undefined` members, typed so (Marketkit's inputs use exact optional properties). */
export function definedOnly<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

/**
 * A Stripe event (`POST /v1/webhooks/stripe`), for the documentation: the handler verifies the raw body's signature
 * and reads the event with Stripe's own client, not with this schema.
 */
export const stripeEventBody = z
  .looseObject({
    id: z.string().describe('`evt_…`: Marketkit handles each id once'),
    object: z.literal('event'),
    type: z.string().describe('`payment_intent.succeeded`, …'),
    created: z.number().int(),
    livemode: z.boolean(),
    api_version: z.string().nullable().optional(),
    data: z.looseObject({ object: z.looseObject({ id: z.string(), object: z.string() }) }),
  })
  .describe('A Stripe Event (https://docs.stripe.com/api/events/object)');

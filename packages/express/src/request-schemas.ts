import {
  checkoutInputSchema,
  listingInputJsonSchema,
  listingUpdateJsonSchema,
  payoutDestinationInputSchema,
  payoutInputJsonSchema,
  sagaResolutionNoteSchema,
  transitionInputJsonSchema,
} from '@marketkit/core';
import { z } from 'zod';

/**
 * The JSON bodies of the routes: core's own input schemas (their JSON forms, amounts as integer strings and prices
 * as `Money` JSON) without the fields the router fills itself from the actor and the headers, so a body is checked
 * by the same value rules (lengths, ranges, currencies, id formats) Marketkit applies, and the OpenAPI document
 * generated from these schemas shows them.
 */

/** `POST /v1/listings`. The seller is the actor; a listing's commission is the marketplace's, not the seller's. */
export const createListingBody = listingInputJsonSchema.omit({
  sellerId: true,
  commission: true,
  idempotencyKey: true,
});

/** `PATCH /v1/listings/:id`. The expected version comes from `If-Match`. */
export const updateListingBody = listingUpdateJsonSchema.omit({ expectedVersion: true, idempotencyKey: true });

/** `POST /v1/checkouts`. The buyer is the actor. */
export const checkoutBody = checkoutInputSchema.omit({ buyerId: true, idempotencyKey: true });

/** `POST /v1/orders/:id/transitions/:name`. The actor is the caller. */
export const transitionBody = transitionInputJsonSchema.omit({ actor: true, idempotencyKey: true });

/** `POST /v1/payouts`. The seller is the actor; without `destination`, the seller's stored one. */
export const payoutBody = payoutInputJsonSchema.omit({ sellerId: true, idempotencyKey: true });

/** `PUT /v1/payouts/destination`. The seller is the actor. */
export const payoutDestinationBody = payoutDestinationInputSchema.omit({ sellerId: true });

/** `POST /v1/operator/sagas/:id/resolve`. */
export const resolveBody = z.strictObject({ note: sagaResolutionNoteSchema });

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

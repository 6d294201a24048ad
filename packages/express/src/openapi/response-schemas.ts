import { z } from 'zod';

/**
 * The JSON bodies the router answers with, as zod schemas of the wire shape: bigints are decimal strings and
 * `Money` is its `toJSON()` form. They describe the answers for the OpenAPI document; the router does not parse
 * its own answers with them.
 */
const integerString = z.string().regex(/^-?(0|[1-9][0-9]*)$/);
const epochMs = z.number().int().describe('Milliseconds since the epoch.');

/** `Money.toJSON()`: minor units as an integer string and an ISO 4217 code. */
export const moneyJson = z.strictObject({ amount: integerString, currency: z.string().regex(/^[A-Z]{3}$/) });

/** A Marketkit actor. */
export const actorJson = z.strictObject({ role: z.enum(['buyer', 'seller', 'operator', 'system']), id: z.string() });

const commissionJson = z.union([
  z.strictObject({
    kind: z.literal('percentage'),
    percent: z.string(),
    minimumMinor: integerString.optional(),
    rounding: z.enum(['halfEven', 'halfUp', 'down', 'up']).optional(),
  }),
  z.strictObject({ kind: z.literal('fixed'), amountMinor: integerString }),
]);

/** A listing with its stock counters. */
export const listingJson = z.strictObject({
  id: z.string(),
  sellerId: z.string(),
  title: z.string(),
  price: moneyJson,
  quantity: z.number().int(),
  sold: z.number().int(),
  reserved: z.number().int(),
  available: z.number().int(),
  commission: commissionJson.nullable(),
  status: z.enum(['active', 'closed']),
  version: z.number().int(),
  createdAt: epochMs,
  updatedAt: epochMs,
});

/** An order. */
export const orderJson = z.strictObject({
  id: z.string(),
  process: z.string(),
  state: z.string(),
  buyerId: z.string(),
  sellerId: z.string(),
  listingId: z.string(),
  quantity: z.number().int(),
  amount: moneyJson,
  commission: moneyJson,
  refunded: moneyJson,
  escrowBalance: moneyJson,
  frozen: z.boolean(),
  reservationId: z.string(),
  authorizationId: z.string().nullable(),
  captureId: z.string().nullable(),
  customerAction: z
    .object({ clientSecret: z.string(), redirectUrl: z.string().optional() })
    .optional()
    .describe('what the customer must do for the payment to go through (3-D Secure), when the provider asked'),
  stateEnteredAt: epochMs,
  version: z.number().int(),
  createdAt: epochMs,
});

/** One entry of an order's history. */
export const orderEventJson = z.strictObject({
  seq: z.number().int(),
  transition: z.string(),
  from: z.string().nullable(),
  to: z.string(),
  actor: actorJson,
  reason: z.string().nullable(),
  data: z.record(z.string(), z.unknown()).nullable(),
  at: epochMs,
});

/** `GET /v1/orders/:id/history`. */
export const orderHistoryJson = z.strictObject({ events: z.array(orderEventJson) });

/** A payout. */
export const payoutJson = z.strictObject({
  id: z.string(),
  sellerId: z.string(),
  currency: z.string(),
  amountMinor: integerString,
  destination: z.string(),
  status: z.enum(['requested', 'paid', 'failed']),
  providerPayoutId: z.string().nullable(),
  failure: z.string().nullable(),
  createdAt: epochMs,
});

/** `PUT /v1/payouts/destination`: the seller's stored payout destination. */
export const payoutDestinationJson = z.strictObject({
  sellerId: z.string(),
  destination: z.string(),
  updatedAt: epochMs,
});

/** `GET /v1/balances`: the seller's balance in one currency, in minor units. */
export const balanceJson = z.strictObject({
  sellerId: z.string(),
  currency: z.string(),
  posted: integerString,
  pendingDebits: integerString,
  available: integerString,
});

/** A saga instance, for operators. */
export const sagaJson = z.strictObject({
  id: z.string(),
  name: z.string(),
  status: z.enum(['running', 'compensating', 'completed', 'compensated', 'failed', 'resolved']),
  stepIndex: z.number().int(),
  input: z.unknown(),
  outputs: z.record(z.string(), z.unknown()),
  attempts: z.number().int(),
  nextRunAt: epochMs.nullable(),
  leaseOwner: z.string().nullable(),
  leaseExpiresAt: epochMs,
  version: integerString,
  lastError: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }).nullable(),
  resolution: z.string().nullable(),
  createdAt: epochMs,
  updatedAt: epochMs,
});

/** `GET /v1/operator/sagas`. */
export const sagaListJson = z.strictObject({ sagas: z.array(sagaJson) });

/** `GET /healthz`. */
export const statusJson = z.strictObject({ status: z.string() });

/** `GET /readyz`: ready or not, pending migrations, and the age of the oldest undelivered outbox event. */
export const readinessJson = z.strictObject({
  status: z.enum(['ready', 'not ready']),
  pendingMigrations: z.array(z.string()),
  outboxLagMs: z.number().nullable(),
});

/** `POST /v1/webhooks/<provider>`: what was done with the event (`ProviderWebhookOutcome`). */
export const webhookReceiptJson = z.strictObject({
  received: z.literal(true),
  eventId: z.string(),
  type: z.string(),
  handled: z.boolean().describe('false: an event type Marketkit does not follow, acknowledged and ignored'),
  duplicate: z.boolean().describe('true: an event id handled before; nothing ran again'),
  orderId: z.string().nullable(),
  orderState: z.string().nullable(),
});

/** An RFC 9457 problem document (`application/problem+json`). */
export const problemJson = z.strictObject({
  type: z.string().regex(/^urn:marketkit:error:[A-Z_]+$/),
  title: z.string(),
  status: z.number().int().min(400).max(599),
  detail: z.string(),
  code: z.string(),
  details: z.record(z.string(), z.unknown()),
});

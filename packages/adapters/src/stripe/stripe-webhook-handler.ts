import {
  type CustomerActionEvent,
  type CustomerActionOutcome,
  MarketkitError,
  type ProviderWebhookHandler,
  type ProviderWebhookOutcome,
  parseInput,
} from '@marketkit/core';
import { z } from 'zod';
import { STRIPE_METADATA } from './stripe-effects.js';

/** The fields of a Stripe Event the handler reads. */
export interface StripeEventLike {
  readonly id: string;
  readonly type: string;
  readonly data: { readonly object: unknown };
}

/**
 * The part of the official `stripe` client the webhook handler calls: `stripe.webhooks.constructEventAsync`, which
 * checks the `Stripe-Signature` header (HMAC-SHA256 of `t.payload` with the endpoint's secret, within a tolerance).
 */
export interface StripeWebhooksLike {
  readonly webhooks: {
    /** Verifies the signature of `payload` and parses it; throws `StripeSignatureVerificationError` when it fails. */
    constructEventAsync(
      payload: string | Uint8Array,
      header: string,
      secret: string,
      tolerance?: number,
    ): Promise<StripeEventLike>;
  };
}

/** What the handler tells the marketplace: `market.payments.customerActionCompleted`. */
export interface CustomerActionTarget {
  readonly payments: {
    customerActionCompleted(event: CustomerActionEvent): Promise<CustomerActionOutcome>;
  };
}

/** Options of {@link stripeWebhookHandler}. */
export interface StripeWebhookHandlerOptions {
  /** The marketplace the events are for (`createMarketplace(...)`). */
  readonly market: CustomerActionTarget;
  /** A client from the official `stripe` package (`new Stripe(key)`): its `webhooks` verify signatures. */
  readonly stripe: StripeWebhooksLike;
  /** The endpoint's signing secret (`whsec_…`, in the Dashboard's webhook endpoint, or `stripe listen`'s). */
  readonly endpointSecret: string;
  /** How old a signature may be, in seconds (replayed deliveries older than this are refused); default 300. */
  readonly toleranceSec?: number;
}

/** The event types that may mean the customer acted on a PaymentIntent (or that it can no longer be captured). */
export const STRIPE_CUSTOMER_ACTION_EVENTS: readonly string[] = Object.freeze([
  'payment_intent.amount_capturable_updated',
  'payment_intent.succeeded',
  'payment_intent.payment_failed',
  'payment_intent.canceled',
]);

const optionsSchema = z.object({
  market: z.custom<CustomerActionTarget>(
    (v) =>
      typeof (v as { payments?: { customerActionCompleted?: unknown } } | null)?.payments?.customerActionCompleted ===
      'function',
    'must be a marketplace (createMarketplace(...))',
  ),
  stripe: z.custom<StripeWebhooksLike>(
    (v) =>
      typeof (v as { webhooks?: { constructEventAsync?: unknown } } | null)?.webhooks?.constructEventAsync ===
      'function',
    'must be a Stripe client (new Stripe(key))',
  ),
  endpointSecret: z.string().min(1).max(255),
  toleranceSec: z.number().int().positive().max(86_400).optional(),
});

const intentSchema = z.object({
  id: z.string().min(1).max(255),
  object: z.literal('payment_intent'),
  metadata: z.record(z.string(), z.string()).nullish(),
});

/**
 * Stripe's incoming webhooks for Marketkit: verifies each delivery's `Stripe-Signature` with the official client
 * (`stripe.webhooks.constructEventAsync`), then passes the PaymentIntent events that may end a customer's action
 * (3-D Secure) to `market.payments.customerActionCompleted` ({@link STRIPE_CUSTOMER_ACTION_EVENTS}): the order is
 * named by the PaymentIntent's `marketkit_reference` metadata (by the PaymentIntent id for one Marketkit did not tag).
 * Every other event type is acknowledged and ignored.
 *
 * Safe to deliver twice, late or out of order: Marketkit records each event id once (a duplicate does nothing), and
 * an event only wakes the order's checkout, which asks Stripe for the PaymentIntent's status; nothing is captured
 * unless Stripe says it is capturable, and never twice. A bad, missing or too old signature throws
 * `WEBHOOK_SIGNATURE_INVALID` (400; Stripe does not redeliver on its own, nothing changed).
 *
 * @example
 * ```ts
 * import Stripe from 'stripe';
 * import { stripeWebhookHandler } from '@marketkit/adapters/stripe';
 * const stripe = new Stripe(process.env.STRIPE_KEY!, { maxNetworkRetries: 0 });
 * const stripeHooks = stripeWebhookHandler({ market, stripe, endpointSecret: process.env.STRIPE_WEBHOOK_SECRET! });
 * app.use('/api', marketkitRouter(market, { authenticate, providerWebhooks: { stripe: stripeHooks } }));
 * // Stripe Dashboard → Webhooks → endpoint https://shop.example/api/v1/webhooks/stripe
 * ```
 */
export function stripeWebhookHandler(options: StripeWebhookHandlerOptions): ProviderWebhookHandler {
  const o = parseInput(optionsSchema, options, 'stripeWebhookHandler options');
  const tolerance = o.toleranceSec ?? 300;
  return {
    provider: 'stripe',
    async handleProviderWebhook(rawBody, signatureHeader) {
      const event = await verified(options.stripe, rawBody, signatureHeader, o.endpointSecret, tolerance);
      if (!STRIPE_CUSTOMER_ACTION_EVENTS.includes(event.type)) return ignored(event);
      const intent = parseInput(intentSchema, event.data.object, 'Stripe event data.object');
      const orderId = intent.metadata?.[STRIPE_METADATA.reference];
      const outcome = await options.market.payments.customerActionCompleted({
        ...(orderId === undefined ? { authorizationId: intent.id } : { orderId }),
        eventId: event.id,
        type: event.type,
      });
      return {
        eventId: event.id,
        type: event.type,
        handled: true,
        duplicate: outcome.duplicate,
        orderId: outcome.order?.id ?? null,
        orderState: outcome.order?.state ?? null,
      };
    },
  };
}

async function verified(
  stripe: StripeWebhooksLike,
  rawBody: string | Uint8Array,
  header: string | undefined,
  secret: string,
  tolerance: number,
): Promise<StripeEventLike> {
  if (header === undefined || header === '') throw signatureInvalid('no Stripe-Signature header');
  let event: StripeEventLike;
  try {
    event = await stripe.webhooks.constructEventAsync(rawBody, header, secret, tolerance);
  } catch (error) {
    if ((error as { type?: unknown } | null)?.type === 'StripeSignatureVerificationError') {
      throw signatureInvalid(firstLine((error as Error).message), error);
    }
    throw new MarketkitError('VALIDATION_FAILED', {
      message: `Stripe webhook: the signed body is not a JSON event (${String(error)}).`,
      details: { issues: [{ path: [], message: 'a Stripe event (JSON)' }] },
      cause: error,
    });
  }
  const id = (event as { id?: unknown }).id;
  const type = (event as { type?: unknown }).type;
  if (typeof id !== 'string' || typeof type !== 'string' || typeof event.data !== 'object' || event.data === null) {
    throw new MarketkitError('VALIDATION_FAILED', {
      message: 'Stripe webhook: the signed body is not an event (id, type and data expected).',
      details: { issues: [{ path: [], message: 'a Stripe event' }] },
    });
  }
  return event;
}

function ignored(event: StripeEventLike): ProviderWebhookOutcome {
  return { eventId: event.id, type: event.type, handled: false, duplicate: false, orderId: null, orderState: null };
}

function signatureInvalid(reason: string, cause?: unknown): MarketkitError<'WEBHOOK_SIGNATURE_INVALID'> {
  return new MarketkitError('WEBHOOK_SIGNATURE_INVALID', {
    message: `Stripe webhook refused: ${reason}.`,
    details: { provider: 'stripe', reason },
    ...(cause === undefined ? {} : { cause }),
  });
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/\.$/, '').slice(0, 200);
}

import {
  type AuthorizationStatus,
  MarketkitError,
  type PaymentEffect,
  type PaymentEffectsPage,
  type PaymentEffectsQuery,
  parseOrderPaymentKey,
} from '@marketkit/core';
import type {
  StripeClientLike,
  StripeCreatedRange,
  StripePaymentIntentLike,
  StripeRefundLike,
  StripeTransferLike,
} from './stripe-client.js';
import { fromStripeAmount } from './stripe-currencies.js';

/** The metadata keys the provider writes on Stripe objects, and reads back when listing effects. */
export const STRIPE_METADATA = Object.freeze({
  /** The idempotency key an object (PaymentIntent, Refund, Transfer) was created with. */
  key: 'marketkit_key',
  /** The `reference` of an authorization (the order id). */
  reference: 'marketkit_reference',
  /** The idempotency key a PaymentIntent was captured with. */
  captureKey: 'marketkit_capture_key',
});

/**
 * The authorization status of a PaymentIntent: open while it is capturable or waits for the customer's action (3-D
 * Secure). One that failed (`requires_payment_method`: declined, or the action failed) held nothing and is not listed.
 */
const INTENT_EFFECT_STATUS: Readonly<Record<string, AuthorizationStatus | undefined>> = {
  requires_capture: 'open',
  requires_action: 'open',
  processing: 'open',
  succeeded: 'captured',
  canceled: 'voided',
};

const TYPE_ORDER: Record<PaymentEffect['type'], number> = { authorization: 0, capture: 1, refund: 2, payout: 3 };
const PAGE = 100;
/** The most clauses Stripe's search query language takes in one query. */
const SEARCH_CLAUSES = 10;

/**
 * Lists the effects of Marketkit's Stripe objects for {@link PaymentProvider.listEffects}: every matching object is
 * read (Stripe lists by creation second), sorted by time, type and id, and the cursor is the last effect returned,
 * so an effect made while paging sorts after it (or is skipped, when made in an already passed second).
 * @internal
 */
export async function listStripeEffects(
  stripe: StripeClientLike,
  query: PaymentEffectsQuery,
): Promise<PaymentEffectsPage> {
  if (!Number.isInteger(query.limit) || query.limit < 1) {
    throw new MarketkitError('VALIDATION_FAILED', {
      message: 'listEffects: limit must be an integer of 1 or more.',
      details: { issues: [{ path: ['limit'], message: 'an integer of 1 or more' }] },
    });
  }
  const effects =
    query.keys !== undefined && query.from === undefined && query.to === undefined
      ? await keyedEffects(stripe, query.keys)
      : await windowEffects(stripe, query.from, query.to);
  const keys = query.keys === undefined ? undefined : new Set(query.keys);
  const wanted = effects
    .filter(
      (e) =>
        (query.from === undefined || e.createdAt >= query.from) &&
        (query.to === undefined || e.createdAt < query.to) &&
        (keys === undefined || keys.has(e.idempotencyKey)),
    )
    .sort(compareEffects);
  const after = query.cursor === undefined ? -1 : wanted.findLastIndex((e) => cursorOf(e) <= (query.cursor as string));
  const page = wanted.slice(after + 1, after + 1 + query.limit);
  const last = page.at(-1);
  const more = after + 1 + query.limit < wanted.length;
  return { effects: page, nextCursor: more && last !== undefined ? cursorOf(last) : null };
}

/** Every effect of Marketkit's objects created in `[from, to)` (or ever), by Stripe's `created` filter. */
async function windowEffects(stripe: StripeClientLike, from?: number, to?: number): Promise<PaymentEffect[]> {
  const created: StripeCreatedRange = {
    ...(from === undefined ? {} : { gte: Math.floor(from / 1000) }),
    ...(to === undefined ? {} : { lt: Math.ceil(to / 1000) }),
  };
  const params = { limit: PAGE, ...(from === undefined && to === undefined ? {} : { created }) };
  const effects: PaymentEffect[] = [];
  for await (const pi of stripe.paymentIntents.list(params)) effects.push(...intentEffects(pi));
  for await (const refund of stripe.refunds.list(params)) effects.push(...refundEffects(refund));
  for await (const transfer of stripe.transfers.list(params)) effects.push(...transferEffects(transfer));
  return effects;
}

/**
 * The effects that may carry one of `keys`, found without reading the whole account: the PaymentIntents of the
 * orders the keys name (Stripe search on `marketkit_reference`, up to 10 orders a query) and their refunds, and the
 * transfers whose group is a key that names no order (a payout id). A key of another shape is looked for as a
 * transfer group and as `<reference>:<suffix>` (each prefix before a `:` searched as a reference). Stripe's search sees an object within about a
 * minute of a change, so reconcile windows that closed before that.
 */
async function keyedEffects(stripe: StripeClientLike, keys: readonly string[]): Promise<PaymentEffect[]> {
  const orders = new Set<string>();
  const payouts = new Set<string>();
  for (const key of keys) {
    const parsed = parseOrderPaymentKey(key);
    if (parsed !== undefined) {
      orders.add(parsed.orderId);
      continue;
    }
    // A key Marketkit's orders do not derive: a payout id, or a key made from the payment's reference and a suffix
    // (`<reference>:<step>`, the reference possibly holding `:` itself), so every prefix before a `:` may be it.
    payouts.add(key);
    for (let at = key.indexOf(':'); at > 0; at = key.indexOf(':', at + 1)) orders.add(key.slice(0, at));
  }
  const effects: PaymentEffect[] = [];
  const ids = [...orders];
  for (let i = 0; i < ids.length; i += SEARCH_CLAUSES) {
    const query = ids
      .slice(i, i + SEARCH_CLAUSES)
      .map((id) => `metadata['${STRIPE_METADATA.reference}']:'${id.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`)
      .join(' OR ');
    for await (const pi of stripe.paymentIntents.search({ query, limit: PAGE })) {
      effects.push(...intentEffects(pi));
      if (pi.status !== 'succeeded') continue;
      for await (const refund of stripe.refunds.list({ limit: PAGE, payment_intent: pi.id })) {
        effects.push(...refundEffects(refund));
      }
    }
  }
  for (const group of payouts) {
    for await (const transfer of stripe.transfers.list({ limit: PAGE, transfer_group: group })) {
      effects.push(...transferEffects(transfer));
    }
  }
  return effects;
}

/** A cursor that sorts like the effect: time (zero-padded), type, id. */
function cursorOf(e: PaymentEffect): string {
  return `${String(e.createdAt).padStart(16, '0')}.${TYPE_ORDER[e.type]}.${e.id}`;
}

function compareEffects(a: PaymentEffect, b: PaymentEffect): number {
  const x = cursorOf(a);
  const y = cursorOf(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function intentEffects(pi: StripePaymentIntentLike): PaymentEffect[] {
  const key = pi.metadata[STRIPE_METADATA.key];
  const status = INTENT_EFFECT_STATUS[pi.status];
  if (key === undefined || status === undefined) return [];
  const currency = pi.currency.toUpperCase();
  const createdAt = pi.created * 1000;
  const out: PaymentEffect[] = [
    {
      type: 'authorization',
      id: pi.id,
      idempotencyKey: key,
      amountMinor: fromStripeAmount(pi.amount, currency),
      currency,
      createdAt,
      status,
      reference: pi.metadata[STRIPE_METADATA.reference] ?? null,
    },
  ];
  const captureKey = pi.metadata[STRIPE_METADATA.captureKey];
  if (status === 'captured' && captureKey !== undefined) {
    out.push({
      type: 'capture',
      id: pi.id,
      authorizationId: pi.id,
      idempotencyKey: captureKey,
      amountMinor: fromStripeAmount(pi.amount_received, currency),
      currency,
      createdAt,
    });
  }
  return out;
}

function refundEffects(r: StripeRefundLike): PaymentEffect[] {
  const key = r.metadata?.[STRIPE_METADATA.key];
  const intent = typeof r.payment_intent === 'string' ? r.payment_intent : r.payment_intent?.id;
  if (key === undefined || intent === undefined || r.status === 'failed' || r.status === 'canceled') return [];
  const currency = r.currency.toUpperCase();
  return [
    {
      type: 'refund',
      id: r.id,
      captureId: intent,
      idempotencyKey: key,
      amountMinor: fromStripeAmount(r.amount, currency),
      currency,
      createdAt: r.created * 1000,
    },
  ];
}

function transferEffects(t: StripeTransferLike): PaymentEffect[] {
  const key = t.metadata[STRIPE_METADATA.key];
  const destination = typeof t.destination === 'string' ? t.destination : t.destination?.id;
  if (key === undefined || destination === undefined) return [];
  const currency = t.currency.toUpperCase();
  return [
    {
      type: 'payout',
      id: t.id,
      destination,
      idempotencyKey: key,
      amountMinor: fromStripeAmount(t.amount, currency),
      currency,
      createdAt: t.created * 1000,
    },
  ];
}

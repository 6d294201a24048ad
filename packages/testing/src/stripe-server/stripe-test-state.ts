import { randomBytes } from 'node:crypto';
import { param, paramMap, type StripeParams } from './stripe-form.js';
import {
  invalidRequest,
  noSuch,
  type StripeAnswer,
  type StripeEventObject,
  type StripeListObject,
  type StripePaymentIntentObject,
  type StripeRefundObject,
  type StripeTransferObject,
  unexpectedState,
} from './stripe-objects.js';

/** The API version the server reports on events. */
export const STRIPE_TEST_API_VERSION = '2025-01-01.test';

/** Payment methods that are declined, with Stripe's decline code (its documented test payment methods). */
const DECLINES: Readonly<Record<string, string>> = {
  pm_card_chargeDeclined: 'generic_decline',
  pm_card_visa_chargeDeclined: 'generic_decline',
  pm_card_chargeDeclinedInsufficientFunds: 'insufficient_funds',
  pm_card_chargeDeclinedLostCard: 'lost_card',
  pm_card_chargeDeclinedStolenCard: 'stolen_card',
  tok_chargeDeclined: 'generic_decline',
};
/** Payment methods whose payment needs 3-D Secure (customer action). */
const THREE_DS = new Set([
  'pm_card_threeDSecure2Required',
  'pm_card_authenticationRequired',
  'tok_threeDSecure2Required',
]);
const THREE_DECIMAL = new Set(['bhd', 'jod', 'kwd', 'omr', 'tnd']);

/** What a request carries besides its params. */
export interface StripeRequestContext {
  /** `null` for a change no API request made (the customer's 3-D Secure action). */
  readonly requestId: string | null;
  readonly idempotencyKey: string | null;
}

type Listable = { id: string; created: number };

/** The in-memory account behind the test server: objects, their rules, and the events they raise. */
export class StripeTestState {
  readonly intents = new Map<string, StripePaymentIntentObject>();
  readonly refunds = new Map<string, StripeRefundObject>();
  readonly transfers = new Map<string, StripeTransferObject>();
  readonly events: StripeEventObject[] = [];
  readonly #refunded = new Map<string, number>();
  readonly #order = new Map<string, number>();
  readonly #now: () => number;
  readonly #listeners: ((event: StripeEventObject) => void)[] = [];
  #seq = 0;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** Calls `listener` with each event raised from now on (the webhook sender listens). */
  onEvent(listener: (event: StripeEventObject) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * The customer's side of 3-D Secure on a `requires_action` PaymentIntent: `succeeded` authorizes it
   * (`requires_capture` with `payment_intent.amount_capturable_updated` for manual capture, else `succeeded` with
   * `payment_intent.succeeded`); `failed` leaves it `requires_payment_method` with `last_payment_error`
   * (`payment_intent_authentication_failure`) and `payment_intent.payment_failed`, as Stripe does. A PaymentIntent
   * in any other status (canceled meanwhile, say) is left as it is, and no event is raised. Throws for an unknown id.
   */
  completeThreeDSecure(id: string, outcome: 'succeeded' | 'failed'): StripePaymentIntentObject {
    const pi = this.intents.get(id);
    if (pi === undefined) throw new Error(`Stripe test server: no PaymentIntent ${id}.`);
    if (pi.status !== 'requires_action') return structuredClone(pi);
    const ctx: StripeRequestContext = { requestId: null, idempotencyKey: null };
    if (outcome === 'failed') {
      Object.assign(pi, {
        status: 'requires_payment_method',
        next_action: null,
        last_payment_error: {
          type: 'card_error',
          code: 'payment_intent_authentication_failure',
          message:
            'We are unable to authenticate your payment method. Please choose a different payment method and try again.',
        },
      });
      this.#event('payment_intent.payment_failed', pi, ctx);
      return structuredClone(pi);
    }
    this.#authorized(pi, ctx);
    return structuredClone(pi);
  }

  /** A fresh id with Stripe's prefix. */
  id(prefix: string): string {
    this.#seq++;
    const id = `${prefix}_${this.#seq.toString(36).padStart(6, '0')}${randomBytes(8).toString('hex')}`;
    this.#order.set(id, this.#seq);
    return id;
  }

  #created(): number {
    return Math.floor(this.#now() / 1000);
  }

  /** `POST /v1/payment_intents`: creates a PaymentIntent, and confirms it when `confirm=true`. */
  createIntent(p: StripeParams, ctx: StripeRequestContext): StripeAnswer {
    const amount = checkAmount(p);
    if (typeof amount !== 'number') return amount;
    const captureMethod = param(p, 'capture_method') ?? 'automatic_async';
    if (!['automatic', 'automatic_async', 'manual'].includes(captureMethod)) {
      return invalidRequest(`Invalid capture_method: ${captureMethod}`, 'capture_method');
    }
    const id = this.id('pi');
    const pm = param(p, 'payment_method') ?? null;
    const pi: StripePaymentIntentObject = {
      id,
      object: 'payment_intent',
      amount,
      amount_capturable: 0,
      amount_received: 0,
      canceled_at: null,
      cancellation_reason: null,
      capture_method: captureMethod as StripePaymentIntentObject['capture_method'],
      client_secret: `${id}_secret_${randomBytes(12).toString('hex')}`,
      confirmation_method: 'automatic',
      created: this.#created(),
      currency: (param(p, 'currency') as string).toLowerCase(),
      description: param(p, 'description') ?? null,
      last_payment_error: null,
      latest_charge: null,
      livemode: false,
      metadata: paramMap(p, 'metadata'),
      next_action: null,
      payment_method: pm,
      payment_method_types: Array.isArray(p['payment_method_types']) ? p['payment_method_types'] : ['card'],
      status: pm === null ? 'requires_payment_method' : 'requires_confirmation',
      transfer_group: param(p, 'transfer_group') ?? null,
    };
    this.intents.set(id, pi);
    this.#event('payment_intent.created', pi, ctx);
    return param(p, 'confirm') === 'true' ? this.#confirm(pi, ctx) : ok(pi);
  }

  /** `POST /v1/payment_intents/:id/confirm`: declined, 3-D Secure or authorized (captured) by payment method. */
  confirmIntent(id: string, p: StripeParams, ctx: StripeRequestContext): StripeAnswer {
    const pi = this.intents.get(id);
    if (pi === undefined) return noSuch('payment_intent', id, 'intent');
    if (!['requires_payment_method', 'requires_confirmation', 'requires_action'].includes(pi.status)) {
      return unexpectedState(pi, 'confirmed');
    }
    const pm = param(p, 'payment_method');
    if (pm !== undefined) pi.payment_method = pm;
    return this.#confirm(pi, ctx);
  }

  #confirm(pi: StripePaymentIntentObject, ctx: StripeRequestContext): StripeAnswer {
    const pm = pi.payment_method;
    if (pm === null) return invalidRequest('You must provide a payment_method to confirm.', 'payment_method');
    if (!/^(pm|tok|card)_/.test(pm)) return noSuch('PaymentMethod', pm, 'payment_method');
    const decline = DECLINES[pm];
    if (decline !== undefined) {
      const charge = this.id('ch');
      const error = {
        type: 'card_error' as const,
        code: 'card_declined',
        decline_code: decline,
        message: decline === 'insufficient_funds' ? 'Your card has insufficient funds.' : 'Your card was declined.',
        charge,
      };
      Object.assign(pi, { status: 'requires_payment_method', latest_charge: charge, last_payment_error: error });
      this.#event('payment_intent.payment_failed', pi, ctx);
      return { status: 402, body: { error: { ...error, payment_intent: structuredClone(pi) } } };
    }
    if (THREE_DS.has(pm) && pi.status !== 'requires_action') {
      pi.status = 'requires_action';
      pi.next_action = {
        type: 'use_stripe_sdk',
        use_stripe_sdk: { type: 'stripe_3ds2_fingerprint', three_d_secure_2_source: this.id('src') },
      };
      this.#event('payment_intent.requires_action', pi, ctx);
      return ok(pi);
    }
    this.#authorized(pi, ctx);
    return ok(pi);
  }

  /** The payment went through: capturable (manual capture) or captured. */
  #authorized(pi: StripePaymentIntentObject, ctx: StripeRequestContext): void {
    pi.next_action = null;
    pi.last_payment_error = null;
    pi.latest_charge = this.id('ch');
    if (pi.capture_method === 'manual') {
      pi.status = 'requires_capture';
      pi.amount_capturable = pi.amount;
      this.#event('payment_intent.amount_capturable_updated', pi, ctx);
    } else {
      pi.status = 'succeeded';
      pi.amount_received = pi.amount;
      this.#event('payment_intent.succeeded', pi, ctx);
    }
  }

  /** `POST /v1/payment_intents/:id/capture`: captures `amount_to_capture` (default all) of a `requires_capture` one. */
  captureIntent(id: string, p: StripeParams, ctx: StripeRequestContext): StripeAnswer {
    const pi = this.intents.get(id);
    if (pi === undefined) return noSuch('payment_intent', id, 'intent');
    if (pi.status !== 'requires_capture') return unexpectedState(pi, 'captured');
    const raw = param(p, 'amount_to_capture');
    const amount = raw === undefined ? pi.amount_capturable : Number(raw);
    if (!Number.isSafeInteger(amount) || amount <= 0) return invalidRequest('Invalid integer', 'amount_to_capture');
    if (amount > pi.amount_capturable) {
      return invalidRequest(
        `The amount to capture (${amount}) is greater than the amount capturable (${pi.amount_capturable}).`,
        'amount_to_capture',
        'amount_too_large',
      );
    }
    Object.assign(pi.metadata, paramMap(p, 'metadata'));
    pi.status = 'succeeded';
    pi.amount_received = amount;
    pi.amount_capturable = 0;
    this.#event('payment_intent.succeeded', pi, ctx);
    return ok(pi);
  }

  /** `POST /v1/payment_intents/:id/cancel`: cancels one not yet succeeded. */
  cancelIntent(id: string, p: StripeParams, ctx: StripeRequestContext): StripeAnswer {
    const pi = this.intents.get(id);
    if (pi === undefined) return noSuch('payment_intent', id, 'intent');
    const cancelable = ['requires_payment_method', 'requires_confirmation', 'requires_action', 'requires_capture'];
    if (!cancelable.includes(pi.status)) return unexpectedState(pi, 'canceled');
    pi.status = 'canceled';
    pi.canceled_at = this.#created();
    pi.cancellation_reason = param(p, 'cancellation_reason') ?? null;
    pi.amount_capturable = 0;
    pi.next_action = null;
    this.#event('payment_intent.canceled', pi, ctx);
    return ok(pi);
  }

  /** `POST /v1/refunds`: refunds `amount` (default what is left) of a succeeded PaymentIntent. */
  createRefund(p: StripeParams, ctx: StripeRequestContext): StripeAnswer {
    const charge = param(p, 'charge');
    const piId = param(p, 'payment_intent') ?? [...this.intents.values()].find((i) => i.latest_charge === charge)?.id;
    if (piId === undefined) return invalidRequest('One of payment_intent or charge is required.', 'payment_intent');
    const pi = this.intents.get(piId);
    if (pi === undefined) return noSuch('payment_intent', piId, 'payment_intent');
    if (pi.status !== 'succeeded') {
      return invalidRequest(
        `PaymentIntent ${pi.id} has no captured charge to refund.`,
        'payment_intent',
        'charge_not_captured',
      );
    }
    const left = pi.amount_received - (this.#refunded.get(pi.id) ?? 0);
    const raw = param(p, 'amount');
    const amount = raw === undefined ? left : Number(raw);
    if (!Number.isSafeInteger(amount) || amount <= 0) return invalidRequest('Invalid positive integer', 'amount');
    if (amount > left) {
      const code = left === 0 ? 'charge_already_refunded' : 'amount_too_large';
      return invalidRequest(`Refund amount (${amount}) is greater than unrefunded amount (${left}).`, 'amount', code);
    }
    const refund: StripeRefundObject = {
      id: this.id('re'),
      object: 'refund',
      amount,
      charge: pi.latest_charge,
      created: this.#created(),
      currency: pi.currency,
      metadata: paramMap(p, 'metadata'),
      payment_intent: pi.id,
      reason: param(p, 'reason') ?? null,
      status: 'succeeded',
    };
    this.#refunded.set(pi.id, amount + (this.#refunded.get(pi.id) ?? 0));
    this.refunds.set(refund.id, refund);
    this.#event('refund.created', refund, ctx);
    this.#event('charge.refunded', pi, ctx);
    return ok(refund);
  }

  /** `POST /v1/transfers`: a transfer to a connected account (`acct_…`). */
  createTransfer(p: StripeParams, ctx: StripeRequestContext): StripeAnswer {
    const amount = checkAmount(p);
    if (typeof amount !== 'number') return amount;
    const destination = param(p, 'destination');
    if (destination === undefined) return invalidRequest('Missing required param: destination.', 'destination');
    if (!destination.startsWith('acct_')) return noSuch('destination', destination, 'destination');
    const transfer: StripeTransferObject = {
      id: this.id('tr'),
      object: 'transfer',
      amount,
      amount_reversed: 0,
      created: this.#created(),
      currency: (param(p, 'currency') as string).toLowerCase(),
      description: param(p, 'description') ?? null,
      destination,
      livemode: false,
      metadata: paramMap(p, 'metadata'),
      reversals: { object: 'list', data: [], has_more: false, url: '' },
      reversed: false,
      transfer_group: param(p, 'transfer_group') ?? null,
    };
    transfer.reversals.url = `/v1/transfers/${transfer.id}/reversals`;
    this.transfers.set(transfer.id, transfer);
    this.#event('transfer.created', transfer, ctx);
    return ok(transfer);
  }

  /** A list answer, newest first, with Stripe's `limit`, `starting_after`, `ending_before` and `created` filters. */
  list<T extends Listable>(
    url: string,
    all: Iterable<T>,
    q: StripeParams,
    filter: (o: T) => boolean = () => true,
  ): StripeAnswer {
    const limit = Number(param(q, 'limit') ?? 10);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) return invalidRequest('Invalid limit', 'limit');
    const created = q['created'];
    const range = typeof created === 'object' && !Array.isArray(created) ? created : {};
    const bound = (k: string) => (typeof range[k] === 'string' ? Number(range[k]) : undefined);
    const [gt, gte, lt, lte] = ['gt', 'gte', 'lt', 'lte'].map(bound);
    const exact = typeof created === 'string' ? Number(created) : undefined;
    const rows = [...all]
      .filter(
        (o) =>
          filter(o) &&
          (exact === undefined || o.created === exact) &&
          (gt === undefined || o.created > gt) &&
          (gte === undefined || o.created >= gte) &&
          (lt === undefined || o.created < lt) &&
          (lte === undefined || o.created <= lte),
      )
      .sort((a, b) => b.created - a.created || (this.#order.get(b.id) ?? 0) - (this.#order.get(a.id) ?? 0));
    const after = param(q, 'starting_after');
    const before = param(q, 'ending_before');
    let page: T[];
    let hasMore: boolean;
    if (before !== undefined) {
      const end = Math.max(
        rows.findIndex((o) => o.id === before),
        0,
      );
      const start = Math.max(0, end - limit);
      page = rows.slice(start, end);
      hasMore = start > 0;
    } else {
      const start = after === undefined ? 0 : rows.findIndex((o) => o.id === after) + 1;
      page = rows.slice(start, start + limit);
      hasMore = start + limit < rows.length;
    }
    const body: StripeListObject<T> = { object: 'list', data: structuredClone(page), has_more: hasMore, url };
    return { status: 200, body };
  }

  #event(type: string, object: StripeEventObject['data']['object'], ctx: StripeRequestContext): void {
    const event: StripeEventObject = {
      id: this.id('evt'),
      object: 'event',
      api_version: STRIPE_TEST_API_VERSION,
      created: this.#created(),
      data: { object: structuredClone(object) },
      livemode: false,
      pending_webhooks: 0,
      request: { id: ctx.requestId, idempotency_key: ctx.idempotencyKey },
      type,
    };
    this.events.push(event);
    for (const listener of this.#listeners) listener(structuredClone(event));
  }
}

function ok(object: unknown): StripeAnswer {
  return { status: 200, body: structuredClone(object) };
}

/** `amount` and `currency` of a create request, checked as Stripe does, or the error answer. */
function checkAmount(p: StripeParams): number | StripeAnswer {
  const raw = param(p, 'amount');
  const currency = param(p, 'currency');
  if (raw === undefined) return invalidRequest('Missing required param: amount.', 'amount');
  if (currency === undefined || !/^[a-zA-Z]{3}$/.test(currency)) {
    return invalidRequest('Missing or invalid param: currency.', 'currency');
  }
  const amount = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(amount) || amount < 1) {
    return invalidRequest('This value must be greater than or equal to 1.', 'amount', 'parameter_invalid_integer');
  }
  const c = currency.toLowerCase();
  if (c === 'isk' && amount % 100 !== 0) {
    return invalidRequest(
      'Invalid amount. Currency ISK has become effectively zero-decimal and charged amounts must be evenly divisible by 100.',
      'amount',
      'invalid_charge_amount_no_decimal_compatible',
    );
  }
  if (THREE_DECIMAL.has(c) && amount % 10 !== 0) {
    return invalidRequest(
      `Amounts in ${c.toUpperCase()} must end in 0 (a multiple of 10).`,
      'amount',
      'invalid_amount',
    );
  }
  return amount;
}

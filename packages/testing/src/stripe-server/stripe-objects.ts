/*
 * The Stripe API objects the test server keeps and returns, with the fields of Stripe's documented objects that a
 * payment integration reads (https://docs.stripe.com/api): PaymentIntent, Refund, Transfer, Event, list and error.
 */

/** A Stripe metadata map. */
export type StripeMetadata = Record<string, string>;

/** A PaymentIntent as the server returns it. */
export interface StripePaymentIntentObject {
  id: string;
  object: 'payment_intent';
  amount: number;
  amount_capturable: number;
  amount_received: number;
  canceled_at: number | null;
  cancellation_reason: string | null;
  capture_method: 'automatic' | 'automatic_async' | 'manual';
  client_secret: string;
  confirmation_method: 'automatic' | 'manual';
  created: number;
  currency: string;
  description: string | null;
  last_payment_error: StripeErrorBody['error'] | null;
  latest_charge: string | null;
  livemode: false;
  metadata: StripeMetadata;
  next_action: { type: 'use_stripe_sdk'; use_stripe_sdk: { type: string; three_d_secure_2_source: string } } | null;
  payment_method: string | null;
  payment_method_types: string[];
  status:
    | 'requires_payment_method'
    | 'requires_confirmation'
    | 'requires_action'
    | 'processing'
    | 'requires_capture'
    | 'canceled'
    | 'succeeded';
  transfer_group: string | null;
}

/** A Refund as the server returns it. */
export interface StripeRefundObject {
  id: string;
  object: 'refund';
  amount: number;
  charge: string | null;
  created: number;
  currency: string;
  metadata: StripeMetadata;
  payment_intent: string;
  reason: string | null;
  status: 'pending' | 'succeeded' | 'failed' | 'canceled';
}

/** A Transfer (Connect) as the server returns it. */
export interface StripeTransferObject {
  id: string;
  object: 'transfer';
  amount: number;
  amount_reversed: number;
  created: number;
  currency: string;
  description: string | null;
  destination: string;
  livemode: false;
  metadata: StripeMetadata;
  reversals: StripeListObject<never>;
  reversed: boolean;
  transfer_group: string | null;
}

/** Any object the server lists. */
export type StripeObject = StripePaymentIntentObject | StripeRefundObject | StripeTransferObject | StripeEventObject;

/**
 * An Event the server records for each change (`payment_intent.amount_capturable_updated`, `charge.refunded`,
 * `transfer.created`, …), with a snapshot of the object: what a webhook delivery would carry.
 */
export interface StripeEventObject {
  id: string;
  object: 'event';
  api_version: string;
  created: number;
  data: { object: StripePaymentIntentObject | StripeRefundObject | StripeTransferObject };
  livemode: false;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  type: string;
}

/** A page of a list. */
export interface StripeListObject<T> {
  object: 'list';
  data: T[];
  has_more: boolean;
  url: string;
}

/** Stripe's error body. */
export interface StripeErrorBody {
  error: {
    type: 'api_error' | 'card_error' | 'idempotency_error' | 'invalid_request_error';
    message: string;
    code?: string;
    decline_code?: string;
    param?: string;
    payment_intent?: StripePaymentIntentObject;
    charge?: string;
  };
}

/** A status and a JSON body: what one request answers. */
export interface StripeAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** A 400 `invalid_request_error`. */
export function invalidRequest(message: string, param?: string, code?: string): StripeAnswer {
  return {
    status: 400,
    body: {
      error: {
        type: 'invalid_request_error',
        message,
        ...(param === undefined ? {} : { param }),
        ...(code === undefined ? {} : { code }),
      },
    },
  };
}

/** A 404 for an unknown object id. */
export function noSuch(what: string, id: string, param = 'id'): StripeAnswer {
  return {
    status: 404,
    body: {
      error: { type: 'invalid_request_error', code: 'resource_missing', param, message: `No such ${what}: '${id}'` },
    },
  };
}

/** A 400 for an action the PaymentIntent's status does not allow. */
export function unexpectedState(pi: StripePaymentIntentObject, action: string): StripeAnswer {
  return {
    status: 400,
    body: {
      error: {
        type: 'invalid_request_error',
        code: 'payment_intent_unexpected_state',
        message: `This PaymentIntent could not be ${action} because it has a status of ${pi.status}.`,
        payment_intent: structuredClone(pi),
      },
    },
  };
}

import type { ErrorCode } from '@marketkit/core';
import { z } from 'zod';
import {
  checkoutBody,
  createListingBody,
  payoutBody,
  payoutDestinationBody,
  resolveBody,
  stripeEventBody,
  transitionBody,
  updateListingBody,
} from '../request-schemas.js';
import {
  balanceExample,
  listingExample,
  orderExample,
  orderHistoryExample,
  payoutDestinationExample,
  payoutExample,
  sagaExample,
  stripeEventExample,
} from './operation-examples.js';

/** Names of the response schemas in `components.schemas` (see response-schemas.ts). */
export type ResponseSchemaName =
  | 'Listing'
  | 'Order'
  | 'OrderHistory'
  | 'Payout'
  | 'PayoutDestination'
  | 'Balance'
  | 'SagaList'
  | 'Saga'
  | 'Status'
  | 'Readiness'
  | 'WebhookReceipt';

/** A documented query parameter. */
export interface QueryParameterSpec {
  readonly name: string;
  readonly schema: z.ZodType;
  readonly required: boolean;
  readonly description: string;
  readonly example: string;
}

/**
 * One route as the OpenAPI document describes it. `path` is in Express's notation (`/v1/orders/:id`); the test
 * compares this table with the router's own routes, so a route missing here (or documented but not mounted) fails.
 */
export interface OperationSpec {
  readonly method: 'get' | 'post' | 'put' | 'patch';
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly tag: string;
  /** Who may call it: a role, `any` authenticated actor, or `public` (no authentication). */
  readonly access: 'buyer' | 'seller' | 'operator' | 'any' | 'public';
  readonly pathParameters?: Readonly<Record<string, { readonly description: string; readonly example: string }>>;
  readonly query?: readonly QueryParameterSpec[];
  /** Request headers the route reads besides the shared ones (a provider's signature). */
  readonly headers?: readonly Omit<QueryParameterSpec, 'schema'>[];
  readonly idempotencyKey?: 'required' | 'optional';
  readonly ifMatch?: boolean;
  readonly body?: { readonly name: string; readonly schema: z.ZodType; readonly example: unknown };
  readonly response: {
    readonly status: 200 | 201;
    readonly description: string;
    /** A response schema name, or `html` / `openapi` for the two documentation routes. */
    readonly schema: ResponseSchemaName | 'html' | 'openapi' | 'event-stream';
    readonly example?: unknown;
    readonly etag?: boolean;
  };
  /** The Marketkit error codes this route answers with besides the ones every route shares. */
  readonly errors: readonly ErrorCode[];
}

const money = { amount: '4000', currency: 'USD' };
const listingId = { id: { description: 'The listing id.', example: 'lst_01J9Z3' } };
const orderId = { id: { description: 'The order id.', example: 'ord_01J9Z4' } };
const sagaId = { id: { description: 'The saga id.', example: 'payout:po_01J9Z5' } };

/** Every route of `marketkitRouter`, in the order the reference page lists them. */
export const OPERATIONS: readonly OperationSpec[] = [
  {
    method: 'post',
    path: '/v1/listings',
    operationId: 'createListing',
    summary: 'Create a listing (the seller is the actor).',
    tag: 'Listings',
    access: 'seller',
    idempotencyKey: 'optional',
    body: {
      name: 'CreateListingRequest',
      schema: createListingBody,
      example: { title: 'Desk lamp', price: money, quantity: 10 },
    },
    response: { status: 201, description: 'The listing.', schema: 'Listing', example: listingExample, etag: true },
    errors: ['VALIDATION_FAILED', 'UNKNOWN_CURRENCY', 'AMOUNT_NOT_REPRESENTABLE', 'FORBIDDEN', 'UNIQUE_VIOLATION'],
  },
  {
    method: 'get',
    path: '/v1/listings/:id',
    operationId: 'getListing',
    summary: 'Read a listing; its `ETag` is what `If-Match` names to edit it.',
    tag: 'Listings',
    access: 'any',
    pathParameters: listingId,
    response: { status: 200, description: 'The listing.', schema: 'Listing', example: listingExample, etag: true },
    errors: ['NOT_FOUND'],
  },
  {
    method: 'patch',
    path: '/v1/listings/:id',
    operationId: 'updateListing',
    summary: 'Edit a listing at the version named by `If-Match` (its seller or an operator).',
    tag: 'Listings',
    access: 'any',
    pathParameters: listingId,
    idempotencyKey: 'optional',
    ifMatch: true,
    body: { name: 'UpdateListingRequest', schema: updateListingBody, example: { title: 'Brass desk lamp' } },
    response: {
      status: 200,
      description: 'The edited listing.',
      schema: 'Listing',
      example: { ...listingExample, title: 'Brass desk lamp', version: 1 },
      etag: true,
    },
    errors: ['VALIDATION_FAILED', 'UNKNOWN_CURRENCY', 'CURRENCY_MISMATCH', 'FORBIDDEN', 'NOT_FOUND'],
  },
  {
    method: 'post',
    path: '/v1/checkouts',
    operationId: 'checkout',
    summary: 'Buy from a listing: reserves stock and authorizes the payment (the buyer is the actor).',
    tag: 'Orders',
    access: 'buyer',
    idempotencyKey: 'required',
    body: {
      name: 'CheckoutRequest',
      schema: checkoutBody,
      example: { listingId: 'lst_01J9Z3', quantity: 1, paymentMethod: 'tok_visa' },
    },
    response: { status: 201, description: 'The order.', schema: 'Order', example: orderExample },
    errors: [
      'VALIDATION_FAILED',
      'FORBIDDEN',
      'NOT_FOUND',
      'INSUFFICIENT_STOCK',
      'RESERVATION_EXPIRED',
      'IDEMPOTENCY_CONFLICT',
      'IDEMPOTENCY_KEY_REUSED',
      'PAYMENT_DECLINED',
      'CUSTOMER_ACTION_UNSUPPORTED',
      'PROVIDER_ERROR',
      'PROVIDER_TIMEOUT',
      'PROVIDER_UNAVAILABLE',
    ],
  },
  {
    method: 'get',
    path: '/v1/orders/:id',
    operationId: 'getOrder',
    summary: 'Read an order (its buyer, its seller or an operator).',
    tag: 'Orders',
    access: 'any',
    pathParameters: orderId,
    response: { status: 200, description: 'The order.', schema: 'Order', example: orderExample },
    errors: ['FORBIDDEN', 'NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/v1/orders/:id/history',
    operationId: 'getOrderHistory',
    summary: 'Read the transitions of an order, oldest first.',
    tag: 'Orders',
    access: 'any',
    pathParameters: orderId,
    response: { status: 200, description: 'The history.', schema: 'OrderHistory', example: orderHistoryExample },
    errors: ['FORBIDDEN', 'NOT_FOUND'],
  },
  {
    method: 'post',
    path: '/v1/orders/:id/transitions/:name',
    operationId: 'transitionOrder',
    summary: 'Fire a transition of the order’s process (e.g. `ship`, `deliver`, `cancel`, `refund`).',
    tag: 'Orders',
    access: 'any',
    pathParameters: { ...orderId, name: { description: 'The transition name.', example: 'ship' } },
    idempotencyKey: 'optional',
    body: { name: 'TransitionRequest', schema: transitionBody, example: { reason: 'Tracking 1Z999' } },
    response: {
      status: 200,
      description: 'The order after the transition.',
      schema: 'Order',
      example: { ...orderExample, state: 'shipped', version: 3 },
    },
    errors: [
      'VALIDATION_FAILED',
      'FORBIDDEN',
      'NOT_FOUND',
      'INVALID_TRANSITION',
      'CONCURRENCY_CONFLICT',
      'INSUFFICIENT_FUNDS',
      'IDEMPOTENCY_CONFLICT',
      'IDEMPOTENCY_KEY_REUSED',
      'PROVIDER_ERROR',
      'PROVIDER_TIMEOUT',
      'PROVIDER_UNAVAILABLE',
      'PROVIDER_CAPABILITY_MISSING',
    ],
  },
  {
    method: 'post',
    path: '/v1/payouts',
    operationId: 'requestPayout',
    summary:
      'Pay out part of the seller’s available balance (the seller is the actor), to `destination` or, without it, to the seller’s stored destination.',
    tag: 'Payouts',
    access: 'seller',
    idempotencyKey: 'required',
    body: {
      name: 'PayoutRequest',
      schema: payoutBody,
      example: { currency: 'USD', amountMinor: '2500', destination: 'ba_test' },
    },
    response: { status: 201, description: 'The payout.', schema: 'Payout', example: payoutExample },
    errors: [
      'VALIDATION_FAILED',
      'UNKNOWN_CURRENCY',
      'FORBIDDEN',
      'INSUFFICIENT_FUNDS',
      'PAYOUT_DESTINATION_MISSING',
      'IDEMPOTENCY_CONFLICT',
      'IDEMPOTENCY_KEY_REUSED',
      'PROVIDER_ERROR',
      'PROVIDER_TIMEOUT',
      'PROVIDER_UNAVAILABLE',
    ],
  },
  {
    method: 'put',
    path: '/v1/payouts/destination',
    operationId: 'setPayoutDestination',
    summary:
      'Store the seller’s payout destination (the seller is the actor; Stripe Connect: their `acct_…`), used by payouts that name none. Replaces any earlier one; payouts already requested keep theirs.',
    tag: 'Payouts',
    access: 'seller',
    body: {
      name: 'PayoutDestinationRequest',
      schema: payoutDestinationBody,
      example: { destination: 'acct_1Bob' },
    },
    response: {
      status: 200,
      description: 'The stored destination.',
      schema: 'PayoutDestination',
      example: payoutDestinationExample,
    },
    errors: ['VALIDATION_FAILED', 'FORBIDDEN'],
  },
  {
    method: 'get',
    path: '/v1/balances',
    operationId: 'getBalance',
    summary: 'Read the seller’s own balance in one currency, in minor units.',
    tag: 'Payouts',
    access: 'seller',
    query: [
      {
        name: 'currency',
        schema: z.string().regex(/^[A-Z]{3}$/),
        required: true,
        description: 'An ISO 4217 code.',
        example: 'USD',
      },
    ],
    response: { status: 200, description: 'The balance.', schema: 'Balance', example: balanceExample },
    errors: ['VALIDATION_FAILED', 'FORBIDDEN'],
  },
  {
    method: 'get',
    path: '/v1/operator/sagas',
    operationId: 'listFailedSagas',
    summary: 'List parked (failed) sagas, for an operator to retry or resolve.',
    tag: 'Operator',
    access: 'operator',
    query: [
      {
        name: 'status',
        schema: z.literal('failed'),
        required: false,
        description: 'Only `failed` is listed (the default).',
        example: 'failed',
      },
    ],
    response: { status: 200, description: 'The parked sagas.', schema: 'SagaList', example: { sagas: [sagaExample] } },
    errors: ['VALIDATION_FAILED', 'FORBIDDEN'],
  },
  {
    method: 'post',
    path: '/v1/operator/sagas/:id/retry',
    operationId: 'retrySaga',
    summary: 'Run a parked saga again.',
    tag: 'Operator',
    access: 'operator',
    pathParameters: sagaId,
    response: {
      status: 200,
      description: 'The saga.',
      schema: 'Saga',
      example: { ...sagaExample, status: 'running', stepIndex: 0 },
    },
    errors: ['VALIDATION_FAILED', 'FORBIDDEN', 'NOT_FOUND', 'INVALID_TRANSITION'],
  },
  {
    method: 'post',
    path: '/v1/operator/sagas/:id/resolve',
    operationId: 'resolveSaga',
    summary: 'Close a parked saga by hand, with a note of what was done.',
    tag: 'Operator',
    access: 'operator',
    pathParameters: sagaId,
    body: { name: 'ResolveSagaRequest', schema: resolveBody, example: { note: 'Paid out by bank transfer.' } },
    response: {
      status: 200,
      description: 'The saga.',
      schema: 'Saga',
      example: { ...sagaExample, status: 'resolved', resolution: 'Paid out by bank transfer.' },
    },
    errors: ['VALIDATION_FAILED', 'FORBIDDEN', 'NOT_FOUND', 'INVALID_TRANSITION'],
  },
  {
    method: 'get',
    path: '/v1/openapi.json',
    operationId: 'getOpenApiDocument',
    summary: 'This OpenAPI 3.1 document.',
    tag: 'Meta',
    access: 'public',
    response: { status: 200, description: 'The OpenAPI document.', schema: 'openapi' },
    errors: [],
  },
  {
    method: 'get',
    path: '/v1/events',
    operationId: 'streamOrderEvents',
    summary:
      'Live order events (Server-Sent Events) of every order the actor may read; resume with `Last-Event-ID` (or `?lastEventId=` on a first connection). The same stream as a WebSocket is `attachLiveWebSocket` (not in this document: an upgrade, at a path the host chooses; see docs/http.md).',
    tag: 'Orders',
    access: 'any',
    query: [
      {
        name: 'lastEventId',
        schema: z.string().min(1).max(100),
        required: false,
        description: 'The id of the last event received, for a first connection that cannot send `Last-Event-ID`.',
        example: '0-42',
      },
    ],
    response: {
      status: 200,
      description:
        'A `text/event-stream`: `event: ready` with the starting id, then `event: order` per order event (its JSON in `data`), heartbeats as comments.',
      schema: 'event-stream',
    },
    errors: ['VALIDATION_FAILED'],
  },
  {
    method: 'post',
    path: '/v1/webhooks/stripe',
    operationId: 'receiveStripeWebhook',
    summary:
      'Stripe’s webhook endpoint (mounted with `providerWebhooks: { stripe }`): the `Stripe-Signature` is the authentication. PaymentIntent events that may end a customer’s 3-D Secure action wake the order’s checkout, which asks Stripe for the truth; other events are acknowledged. Idempotent per event id; the raw body is verified as sent.',
    tag: 'Webhooks',
    access: 'public',
    headers: [
      {
        name: 'Stripe-Signature',
        required: true,
        description:
          'Stripe’s signature of the raw body: `t=<unix seconds>,v1=<HMAC-SHA256 hex>` (400 when missing or wrong).',
        example: 't=1765000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd',
      },
    ],
    body: { name: 'StripeEvent', schema: stripeEventBody, example: stripeEventExample },
    response: {
      status: 200,
      description: 'The event was received (and handled, or ignored); Stripe does not send it again.',
      schema: 'WebhookReceipt',
      example: {
        received: true,
        eventId: stripeEventExample.id,
        type: stripeEventExample.type,
        handled: true,
        duplicate: false,
        orderId: 'ord_01J9Z4',
        orderState: 'paid',
      },
    },
    errors: ['WEBHOOK_SIGNATURE_INVALID'],
  },
  {
    method: 'get',
    path: '/v1/docs',
    operationId: 'getApiReference',
    summary: 'The API reference page (HTML), rendered from `openapi.json`.',
    tag: 'Meta',
    access: 'public',
    response: { status: 200, description: 'An HTML page.', schema: 'html' },
    errors: [],
  },
  {
    method: 'get',
    path: '/healthz',
    operationId: 'healthz',
    summary: 'Liveness: the process answers.',
    tag: 'Meta',
    access: 'public',
    response: { status: 200, description: 'Alive.', schema: 'Status', example: { status: 'ok' } },
    errors: [],
  },
  {
    method: 'get',
    path: '/readyz',
    operationId: 'readyz',
    summary: 'Readiness: the database is reachable, every migration has run, the outbox lag is under its bound.',
    tag: 'Meta',
    access: 'public',
    response: {
      status: 200,
      description: 'Ready (503 with the same body and `not ready` when migrations are pending or the outbox lags).',
      schema: 'Readiness',
      example: { status: 'ready', pendingMigrations: [], outboxLagMs: null },
    },
    errors: ['CONNECTION_LOST'],
  },
];

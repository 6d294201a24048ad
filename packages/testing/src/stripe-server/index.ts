/**
 * `@marketkit/testing/stripe-server`: a local, in-memory Stripe-compatible server (PaymentIntents, Refunds,
 * Transfers, Events) with Stripe's idempotency and fault injection, to test a Stripe provider without the network.
 * @packageDocumentation
 * @module @marketkit/testing/stripe-server
 */
export { parseStripeForm, type StripeParams } from './stripe-form.js';
export type {
  StripeAnswer,
  StripeErrorBody,
  StripeEventObject,
  StripeListObject,
  StripeMetadata,
  StripeObject,
  StripePaymentIntentObject,
  StripeRefundObject,
  StripeTransferObject,
} from './stripe-objects.js';
export {
  type StripeTestEndpoint,
  type StripeTestFault,
  type StripeTestServer,
  type StripeTestServerOptions,
  startStripeTestServer,
} from './stripe-test-server.js';
export { STRIPE_TEST_API_VERSION, type StripeRequestContext, StripeTestState } from './stripe-test-state.js';
export {
  type StripeWebhookDelivery,
  type StripeWebhookEndpoint,
  type StripeWebhookFault,
  stripeSignatureHeader,
} from './stripe-webhook-sender.js';

/**
 * `@marketkit/adapters/stripe`: a `PaymentProvider` on Stripe through the official `stripe` client
 * (`stripePaymentProvider({ stripe })`), with Stripe's currency rules and error mapping, 3-D Secure, and its incoming
 * webhooks (`stripeWebhookHandler({ market, stripe, endpointSecret })`).
 * @packageDocumentation
 * @module @marketkit/adapters/stripe
 */
export type {
  StripeClientLike,
  StripeCreatedRange,
  StripeListing,
  StripePaymentIntentLike,
  StripeRefundLike,
  StripeRequestOptions,
  StripeTransferLike,
} from './stripe-client.js';
export {
  fromStripeAmount,
  STRIPE_THREE_DECIMAL_CURRENCIES,
  STRIPE_ZERO_DECIMAL_CURRENCIES,
  type StripeCurrencyRule,
  stripeCurrencyRule,
  toStripeAmount,
} from './stripe-currencies.js';
export { STRIPE_METADATA } from './stripe-effects.js';
export { stripeErrorToMarketkit } from './stripe-errors.js';
export { type StripePaymentProviderOptions, stripePaymentProvider } from './stripe-payment-provider.js';
export {
  type CustomerActionTarget,
  STRIPE_CUSTOMER_ACTION_EVENTS,
  type StripeEventLike,
  type StripeWebhookHandlerOptions,
  type StripeWebhooksLike,
  stripeWebhookHandler,
} from './stripe-webhook-handler.js';

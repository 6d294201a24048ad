export {
  type CustomerActionEvent,
  type CustomerActionOutcome,
  customerActionEventSchema,
} from './customer-action-events.js';
export { type OrderPaymentKey, orderPaymentKeys, parseOrderPaymentKey } from './order-payment-keys.js';
export type {
  AuthorizationEffect,
  AuthorizationStatus,
  CaptureEffect,
  PaymentEffect,
  PaymentEffectsPage,
  PaymentEffectsQuery,
  PaymentEffectType,
  PayoutEffect,
  RefundEffect,
} from './payment-effects.js';
export type {
  Authorization,
  AuthorizationState,
  AuthorizeRequest,
  Capture,
  CaptureRequest,
  CustomerAction,
  PaymentOperation,
  PaymentProvider,
  PayoutRequest,
  ProviderPayout,
  Refund,
  RefundRequest,
  VoidRequest,
} from './payment-provider.js';
export {
  PAYMENT_DISCREPANCY_KINDS,
  type PaymentDiscrepancy,
  type PaymentDiscrepancyKind,
  type PaymentReconciliation,
  type PaymentReconciliationCounts,
  type PaymentReconciliationInput,
} from './payment-reconciliation.js';
export { Payments } from './payments.js';
export {
  PROVIDER_BREAKER_DEFAULTS,
  ProviderBreaker,
  type ProviderBreakerEvent,
  type ProviderBreakerEventType,
  type ProviderBreakerOptions,
  type ProviderBreakerState,
} from './provider-breaker.js';
export { classifyProviderError } from './provider-retry.js';
export type { ProviderWebhookHandler, ProviderWebhookOutcome } from './provider-webhook.js';

export { eventTypeMatches } from './event-type-match.js';
export type { WebhooksOptions } from './webhook-options.js';
export { DEFAULT_RETRY_SCHEDULE, nextAttemptAt, type RetrySchedule, retryDelayCap } from './webhook-retry-schedule.js';
export type {
  CreateWebhookEndpointInput,
  ListWebhookDeliveriesInput,
  ListWebhookEndpointsInput,
  UpdateWebhookEndpointInput,
} from './webhook-schemas.js';
export {
  DEFAULT_SIGNATURE_TOLERANCE_SEC,
  signWebhookBody,
  verifyWebhookSignature,
  WEBHOOK_EVENT_ID_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
} from './webhook-signature.js';
export type { TargetRefusal } from './webhook-target-guard.js';
export type {
  WebhookDelivery,
  WebhookDeliveryStatus,
  WebhookEndpoint,
  WebhookEndpointStatus,
  WebhookEndpointWithSecret,
} from './webhook-types.js';
export { Webhooks } from './webhooks.js';

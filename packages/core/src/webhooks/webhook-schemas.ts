import { z } from 'zod';
import { storableText } from '../errors/storable-text.js';

/** Most event types one endpoint lists. */
export const MAX_EVENT_TYPES = 100;

const eventType = z
  .string()
  .max(200)
  .regex(/^(\*|[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*(\.\*)?)$/, "an event type, a prefix such as 'order.*', or '*'");

const url = z
  .url({ protocol: /^https?$/ })
  .max(2000)
  .refine((u) => {
    const parsed = URL.canParse(u) ? new URL(u) : undefined;
    return parsed === undefined || (parsed.username === '' && parsed.password === '');
  }, 'must not carry credentials');

/** Input of `webhooks.create`. */
export const createEndpointSchema = z.strictObject({
  url,
  eventTypes: z.array(eventType).min(1).max(MAX_EVENT_TYPES),
  description: storableText().max(500).optional(),
  sellerId: storableText().min(1).max(200).optional(),
});

/** Input of `webhooks.update`. */
export const updateEndpointSchema = z.strictObject({
  url: url.optional(),
  eventTypes: z.array(eventType).min(1).max(MAX_EVENT_TYPES).optional(),
  description: storableText().max(500).nullable().optional(),
});

/** Input of `webhooks.rotateSecret`. */
export const rotateSecretSchema = z.strictObject({
  overlapMs: z
    .number()
    .int()
    .min(0)
    .max(30 * 86_400_000),
});

/** Input of `webhooks.list`. */
export const listEndpointsSchema = z.strictObject({
  sellerId: storableText().min(1).max(200).optional(),
  status: z.enum(['enabled', 'disabled']).optional(),
});

/** Input of `webhooks.listDeliveries`. */
export const listDeliveriesSchema = z.strictObject({
  endpointId: storableText().min(1).max(200).optional(),
  eventId: storableText().min(1).max(200).optional(),
  status: z.enum(['pending', 'succeeded', 'failed']).optional(),
  /** Deliveries with an id after this one (ids grow with time): the next page. */
  after: storableText().min(1).max(200).optional(),
  limit: z.number().int().min(1).max(500).default(100),
});

/** An id argument. */
export const idSchema = storableText().min(1).max(200);

/** Input of `createWebhookEndpoint` (what the host passes). */
export type CreateWebhookEndpointInput = z.input<typeof createEndpointSchema>;
/** Input of `updateWebhookEndpoint`. */
export type UpdateWebhookEndpointInput = z.input<typeof updateEndpointSchema>;
/** Filters of `listWebhookEndpoints`. */
export type ListWebhookEndpointsInput = z.input<typeof listEndpointsSchema>;
/** Filters and page of `listWebhookDeliveries`. */
export type ListWebhookDeliveriesInput = z.input<typeof listDeliveriesSchema>;

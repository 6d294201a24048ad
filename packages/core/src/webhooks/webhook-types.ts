import type { WebhookDeliveryStatus, WebhookEndpointStatus } from './webhook-tables.js';

export type { WebhookDeliveryStatus, WebhookEndpointStatus };

/**
 * A webhook endpoint as read back: never its secrets (the secret is returned once, by `create` and `rotateSecret`).
 *
 * @example
 * ```ts
 * const endpoint: WebhookEndpoint = await market.webhooks.get('we_01J…');
 * if (endpoint.status === 'disabled') console.log(endpoint.disabledReason); // 'failing' or 'manual'
 * ```
 */
export interface WebhookEndpoint {
  readonly id: string;
  readonly url: string;
  readonly description: string | null;
  /** `'*'` (every event), `'order.*'` (a prefix) or exact types. */
  readonly eventTypes: readonly string[];
  /** Set for a per-seller endpoint: it receives only the order events of this seller's orders. */
  readonly sellerId: string | null;
  readonly status: WebhookEndpointStatus;
  /** `manual` (disabled by `disable`) or `failing` (disabled after failing continuously); null while enabled. */
  readonly disabledReason: 'manual' | 'failing' | null;
  /** Time (ms) of the first failure since the last success; null while the endpoint answers. */
  readonly failingSince: number | null;
  /** Until when (ms) the secret before the last rotation still signs; null when only one secret is active. */
  readonly previousSecretExpiresAt: number | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/**
 * An endpoint with its signing secret: what `create` and `rotateSecret` return, the only times the secret is shown.
 *
 * @example
 * ```ts
 * const { endpoint, secret } = await market.webhooks.create({ url: 'https://shop.example/hooks', eventTypes: ['*'] });
 * await saveSecret(endpoint.id, secret); // whsec_…
 * ```
 */
export interface WebhookEndpointWithSecret {
  readonly endpoint: WebhookEndpoint;
  readonly secret: string;
}

/**
 * One event for one endpoint, with how its delivery went.
 *
 * @example
 * ```ts
 * const [d] = await market.webhooks.listDeliveries({ endpointId, status: 'failed' });
 * console.log(d?.attempts, d?.lastStatusCode, d?.lastError);
 * ```
 */
export interface WebhookDelivery {
  readonly id: string;
  readonly endpointId: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly aggregateType: string;
  readonly aggregateId: string;
  readonly status: WebhookDeliveryStatus;
  /** Attempts made so far (manual redeliveries included). */
  readonly attempts: number;
  /** When the next attempt is due (ms); null once succeeded or failed. */
  readonly nextAttemptAt: number | null;
  /** The HTTP status of the last answer; null when there was none (timeout, refused connection). */
  readonly lastStatusCode: number | null;
  /** What went wrong last: `HTTP 500`, `timeout after 10000 ms`, `ECONNREFUSED`, …; null after a success. */
  readonly lastError: string | null;
  readonly lastAttemptAt: number | null;
  readonly deliveredAt: number | null;
  readonly createdAt: number;
}

import type { ColumnType } from 'kysely';
import type { Int64Column, Int64DefaultColumn } from '../ledger/ledger-tables.js';

/** A nullable 64-bit integer column that starts out null. */
type NullableInt64Column = ColumnType<bigint | null, bigint | number | null | undefined, bigint | number | null>;

/** Whether an endpoint receives deliveries. */
export type WebhookEndpointStatus = 'enabled' | 'disabled';

/** Where a delivery stands: `pending` (due or waiting for a retry), `succeeded` (a 2xx answer), `failed` (gave up). */
export type WebhookDeliveryStatus = 'pending' | 'succeeded' | 'failed';

/**
 * Row shape of `webhook_endpoints`: where events are POSTed, which types, and the signing secrets. `secret` signs
 * every delivery; `previous_secret` signs too until `previous_secret_expires_at` (a rotation's overlap).
 * `failing_since` is the time of the first failure since the last success (null while healthy).
 */
export interface WebhookEndpointsTable {
  id: string;
  url: string;
  description: string | null;
  /** JSON array of event types (`'*'`, `'order.*'` or an exact type). */
  event_types: string;
  seller_id: string | null;
  status: WebhookEndpointStatus;
  /** `manual` or `failing` while disabled. */
  disabled_reason: string | null;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: NullableInt64Column;
  failing_since: NullableInt64Column;
  created_at: Int64Column;
  updated_at: Int64Column;
}

/**
 * Row shape of `webhook_deliveries`: one event for one endpoint, unique by `(event_id, endpoint_id)`. `body` is the
 * JSON sent, frozen when the delivery was created. `next_attempt_at` is the due time while pending, the claim's
 * expiry while a worker sends it, null once done; `fence` goes up on every claim, so only the current holder records
 * the outcome.
 */
export interface WebhookDeliveriesTable {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  aggregate_type: string;
  aggregate_id: string;
  body: string;
  status: WebhookDeliveryStatus;
  attempts: Int64DefaultColumn;
  next_attempt_at: NullableInt64Column;
  fence: Int64DefaultColumn;
  last_error: string | null;
  last_status_code: NullableInt64Column;
  last_attempt_at: NullableInt64Column;
  delivered_at: NullableInt64Column;
  created_at: Int64Column;
  updated_at: Int64Column;
}

/** Tables of the webhooks module, by logical (unprefixed) name. */
export interface WebhookTables {
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
}

/** Logical names of the tables above; the table prefix applies to exactly these. */
export const WEBHOOK_TABLE_NAMES: readonly string[] = ['webhook_endpoints', 'webhook_deliveries'];

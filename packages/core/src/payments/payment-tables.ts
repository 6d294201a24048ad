import type { Int64Column } from '../ledger/ledger-tables.js';

/**
 * Row shape of `provider_events`: each provider event (webhook) that woke a payment, by the provider's event id, so
 * that one delivered twice wakes it once. Append-only.
 */
export interface ProviderEventsTable {
  provider: string;
  event_id: string;
  type: string;
  authorization_id: string | null;
  order_id: string | null;
  received_at: Int64Column;
}

/** Tables of the payments module. */
export interface PaymentTables {
  provider_events: ProviderEventsTable;
}

/** Logical names of the payments module's tables. */
export const PAYMENT_TABLE_NAMES: readonly string[] = ['provider_events'];

import { OUTBOX_TABLE_NAMES, type OutboxTables } from '../events/outbox-tables.js';
import { IDEMPOTENCY_TABLE_NAMES, type IdempotencyTables } from '../idempotency/idempotency-tables.js';
import { JOB_TABLE_NAMES, type JobTables } from '../jobs/job-tables.js';
import type { LedgerTables } from '../ledger/ledger-tables.js';
import { LISTING_TABLE_NAMES, type ListingTables } from '../listings/listing-tables.js';
import { LOCKING_TABLE_NAMES, type LockingTables } from '../locking/locking-tables.js';
import { ORDER_TABLE_NAMES, type OrderTables } from '../orders/order-tables.js';
import { PAYMENT_TABLE_NAMES, type PaymentTables } from '../payments/payment-tables.js';
import { PAYOUT_TABLE_NAMES, type PayoutTables } from '../payouts/payout-tables.js';
import { SAGA_TABLE_NAMES, type SagaTables } from '../sagas/saga-tables.js';
import { WEBHOOK_TABLE_NAMES, type WebhookTables } from '../webhooks/webhook-tables.js';

/** Every table Marketkit owns, by logical name; the physical name carries the configured prefix. */
export interface MarketkitDatabase
  extends LedgerTables,
    OutboxTables,
    LockingTables,
    SagaTables,
    JobTables,
    IdempotencyTables,
    ListingTables,
    OrderTables,
    PayoutTables,
    WebhookTables,
    PaymentTables {}

/** Logical names of every table Marketkit owns (the table prefix applies to exactly these). */
export const MARKETKIT_TABLES: readonly string[] = [
  'accounts',
  'transfers',
  'pending_transfers',
  ...OUTBOX_TABLE_NAMES,
  ...LOCKING_TABLE_NAMES,
  ...SAGA_TABLE_NAMES,
  ...JOB_TABLE_NAMES,
  ...IDEMPOTENCY_TABLE_NAMES,
  ...LISTING_TABLE_NAMES,
  ...ORDER_TABLE_NAMES,
  ...PAYOUT_TABLE_NAMES,
  ...WEBHOOK_TABLE_NAMES,
  ...PAYMENT_TABLE_NAMES,
];

import type { MarketkitMigration } from '../migration-context.js';
import { ledgerMigration } from './0001-ledger.js';
import { outboxMigration } from './0002-outbox.js';
import { lockingMigration } from './0003-locking.js';
import { jobsMigration } from './0004-jobs.js';
import { sagasMigration } from './0005-sagas.js';
import { idempotencyMigration } from './0006-idempotency.js';
import { listingsMigration } from './0007-listings.js';
import { ordersMigration } from './0008-orders.js';
import { payoutsMigration } from './0009-payouts.js';
import { leanSagaIndexesMigration } from './0010-lean-saga-indexes.js';
import { orderFeedMigration } from './0011-order-feed.js';
import { webhooksMigration } from './0012-webhooks.js';
import { customerActionsMigration } from './0013-customer-actions.js';
import { payoutDestinationsMigration } from './0014-payout-destinations.js';
import { tenantsMigration } from './0015-tenants.js';
import { traceContextMigration } from './0016-trace-context.js';

/** Every migration, in the order it runs. Append only: never edit or reorder a released migration. */
export const MIGRATIONS: readonly MarketkitMigration[] = [
  ledgerMigration,
  outboxMigration,
  lockingMigration,
  jobsMigration,
  sagasMigration,
  idempotencyMigration,
  listingsMigration,
  ordersMigration,
  payoutsMigration,
  leanSagaIndexesMigration,
  orderFeedMigration,
  webhooksMigration,
  customerActionsMigration,
  payoutDestinationsMigration,
  tenantsMigration,
  traceContextMigration,
];

/**
 * `@marketkit/core`: the domain and the engine of Marketkit. Talks to storage only through Kysely and the
 * {@link StorageAdapter} port; adapters live in `@marketkit/adapters`.
 * @packageDocumentation
 * @module @marketkit/core
 */
export * from './analytics/index.js';
export { type Clock, systemClock } from './clock/clock.js';
export * from './errors/index.js';
export * from './events/index.js';
export * from './exports/index.js';
export * from './idempotency/index.js';
export * from './jobs/index.js';
export * from './ledger/index.js';
export * from './listings/index.js';
export * from './locking/index.js';
export { consoleLogger, type Logger, silentLogger } from './logging/logger.js';
export {
  createMarketplace,
  type Marketplace,
  type MarketplaceOptions,
  type MetricsOptions,
  type TracingOptions,
} from './marketplace.js';
export * from './money/index.js';
export * from './orders/index.js';
export * from './payments/index.js';
export * from './payouts/index.js';
export * from './sagas/index.js';
export type { MarketkitDatabase } from './schema/database.js';
export type { MigrateResult, MigrationStatus } from './schema/migrate.js';
export { JSON_INPUT_LIMITS } from './storage/json-input.js';
export { retryWhileBusy } from './storage/retry-while-busy.js';
export { STATEMENT_BATCH } from './storage/statement-template.js';
/** @internal the transaction wrapper adapters and the conformance suite exercise; not for application code. */
export {
  type MarketkitTransaction,
  type ReadConsistency,
  Storage,
  type StorageOptions,
  type TransactionOptions,
} from './storage/storage.js';
export type {
  BackupResult,
  RelaxedCommit,
  ReplicaReadConsistency,
  ReplicaReads,
  StorageAdapter,
  StorageCapabilities,
  StorageColumnTypes,
  StorageErrorKind,
  WriteLockWait,
} from './storage/storage-adapter.js';
export { StorageError } from './storage/storage-error.js';
export * from './webhooks/index.js';
export * from './worker/index.js';

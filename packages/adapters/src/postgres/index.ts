/**
 * `@marketkit/adapters/postgres`: The PostgreSQL storage adapter (pg): `postgresAdapter(config)` is what `createMarketplace` takes.
 * @packageDocumentation
 * @module @marketkit/adapters/postgres
 */
export { postgresAdapter } from './postgres-adapter.js';
export type {
  PostgresAdapterConfig,
  PostgresReplicaConfig,
  PostgresReplicaReadsConfig,
} from './postgres-adapter-config.js';
export { classifyPostgresError, isPostgresDriverError } from './postgres-errors.js';
export { createPostgresPool } from './postgres-pool.js';

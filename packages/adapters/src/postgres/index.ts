export { postgresAdapter } from './postgres-adapter.js';
export type { PostgresAdapterConfig } from './postgres-adapter-config.js';
export { classifyPostgresError, isPostgresDriverError } from './postgres-errors.js';
export { createPostgresPool } from './postgres-pool.js';

export { createFreshDatabase, type FreshDatabase, type FreshDatabaseOptions } from './fresh-database.js';
export { MARKETKIT_PG_URL_ENV, postgresUrlFromEnv, requirePostgresUrl } from './postgres-url.js';
export { startThrowawayPostgres, type ThrowawayPostgres, type ThrowawayPostgresOptions } from './throwaway-postgres.js';
export { default as marketkitPostgresGlobalSetup } from './vitest-global-setup.js';

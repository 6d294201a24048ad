import {
  type Logger,
  parseInput,
  type StorageAdapter,
  type StorageCapabilities,
  type StorageColumnTypes,
} from '@marketkit/core';
import { PostgresDialect, type PostgresPool } from 'kysely';
import { withTransactionMigrationLock } from './migration-lock.js';
import { type PostgresAdapterConfig, postgresAdapterConfigSchema } from './postgres-adapter-config.js';
import { classifyPostgresError, isPostgresDriverError } from './postgres-errors.js';
import { createPostgresPool, replanAfterMsOf } from './postgres-pool.js';
import { PreparedStatements } from './prepared-statements.js';

const CAPABILITIES: StorageCapabilities = Object.freeze({
  rowLocks: true,
  skipLocked: true,
  noWait: true,
  concurrentWriters: true,
  schemas: true,
  updateFromValues: true,
  writableCtes: true,
});

const COLUMN_TYPES: StorageColumnTypes = Object.freeze({ int64: 'bigint', json: 'jsonb' });

/**
 * PostgreSQL through a `pg` pool: the production and scale-out backend. Rows are locked with
 * `SELECT … FOR UPDATE [NOWAIT | SKIP LOCKED]`; only transaction-scoped locks are used (`migrate()` too:
 * `pg_advisory_xact_lock`), so it works behind PgBouncer in transaction pooling mode. Hot statements run as named
 * prepared statements (parsed once per connection); behind PgBouncer older than 1.21, or with
 * `max_prepared_statements = 0`, the first name found missing switches the adapter to unnamed statements for good
 * (logged once) and what failed is rerun; `preparedStatements: false` starts that way.
 *
 * @example
 * ```ts
 * import { createMarketplace } from '@marketkit/core';
 * import { postgresAdapter } from '@marketkit/adapters/postgres';
 * const market = createMarketplace({ adapter: postgresAdapter({ connectionString: process.env.DATABASE_URL }) });
 * await market.migrate();
 * ```
 */
export function postgresAdapter(config: PostgresAdapterConfig): StorageAdapter {
  parseInput(postgresAdapterConfigSchema, config, 'postgres adapter options');
  // Validates planCacheMode and replanAfterMs now, not when the first connection opens.
  const replanAfterMs = replanAfterMsOf(config);
  // A given pool is the host's: closing the marketplace leaves it open (the host ends it), so it is lent without `end`.
  const given = config.pool === undefined ? undefined : borrowed(config.pool);
  const prepared = config.preparedStatements === false ? undefined : new PreparedStatements({ replanAfterMs });
  const pool =
    prepared === undefined
      ? (given ?? (() => createPostgresPool(config)))
      : async () => prepared.wrap(given ?? (await createPostgresPool(config)));
  return {
    name: 'postgres',
    capabilities: CAPABILITIES,
    columnTypes: COLUMN_TYPES,
    dialect: new PostgresDialect({ pool }),
    classifyError: classifyPostgresError,
    isDriverError: isPostgresDriverError,
    withMigrationLock: (db, name, fn) => withTransactionMigrationLock(db, name, fn),
    ...(prepared === undefined
      ? {}
      : {
          prepare: (text: string) => prepared.register(text),
          useLogger: (logger: Logger) => prepared.useLogger(logger),
        }),
  };
}

/** `pool` as the adapter uses it when the host gave it: connections handed out as usual, `end` left to the host. */
function borrowed(pool: PostgresPool): PostgresPool {
  return { connect: () => pool.connect(), end: async () => {} };
}

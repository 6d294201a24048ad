import {
  type Logger,
  parseInput,
  type RelaxedCommit,
  type StorageAdapter,
  type StorageCapabilities,
  type StorageColumnTypes,
} from '@marketkit/core';
import { PostgresDialect, type PostgresPool } from 'kysely';
import { withTransactionMigrationLock } from './migration-lock.js';
import { pipelinedClients } from './pipelined-clients.js';
import {
  type PostgresAdapterConfig,
  type PostgresReplicaConfig,
  postgresAdapterConfigSchema,
} from './postgres-adapter-config.js';
import { classifyPostgresError, isPostgresDriverError } from './postgres-errors.js';
import { createPostgresPool, replanAfterMsOf } from './postgres-pool.js';
import { PreparedStatements } from './prepared-statements.js';
import { ReplicaRouter, type RoutedReplica } from './replica-router.js';

const CAPABILITIES: StorageCapabilities = Object.freeze({
  rowLocks: true,
  skipLocked: true,
  noWait: true,
  concurrentWriters: true,
  schemas: true,
  updateFromValues: true,
  writableCtes: true,
  arrayParams: true,
});

const COLUMN_TYPES: StorageColumnTypes = Object.freeze({ int64: 'bigint', json: 'jsonb' });

/**
 * A write that need not wait for the disk turns `synchronous_commit` off for its own transaction (`set_config(…,
 * true)`: the statement runs alone, so that is the statement), in the same statement: no round trip of its own.
 * Its commit returns once the WAL is written, not flushed; the next commit that waits, on any connection, flushes
 * the WAL up to itself, so this one's too, and a crash recovers the WAL as a prefix of its commits. A relaxed commit
 * does not wait for synchronous standbys either: after a failover it may be missing, like after a power cut.
 */
const RELAXED_COMMIT: RelaxedCommit = Object.freeze({
  condition: "set_config('synchronous_commit', 'off', true) = 'off'",
});

/**
 * PostgreSQL through a `pg` pool: the production and scale-out backend. Rows are locked with
 * `SELECT … FOR UPDATE [NOWAIT | SKIP LOCKED]`; only transaction-scoped locks are used (`migrate()` too:
 * `pg_advisory_xact_lock`), so it works behind PgBouncer in transaction pooling mode. Hot statements run as named
 * prepared statements (parsed once per connection); behind PgBouncer older than 1.21, or with
 * `max_prepared_statements = 0`, the first name found missing switches the adapter to unnamed statements for good
 * (logged once) and what failed is rerun; `preparedStatements: false` starts that way.
 *
 * The pool it creates pipelines (`pipeline`, default true): a transaction's BEGIN goes with its first statement and
 * the writes core queues for its commit go with the COMMIT, so a short write transaction costs one or two round
 * trips instead of three or four. A given `pool` pipelines where its clients are in pipeline mode (create it with
 * `new pg.Pool({ pipeline: true, … })`). See docs/storage.md, "Pipelining".
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
  // Innermost, on the clients themselves: whether a client pipelines is its own setting (`client.pipeline`).
  const clients = async () => pipelinedClients(given ?? (await createPostgresPool(config)));
  const pool = once(prepared === undefined ? clients : async () => prepared.wrap(await clients()));
  const replicas = config.replicas ?? [];
  const replicaReads =
    replicas.length === 0
      ? undefined
      : new ReplicaRouter(
          pool,
          replicas.map((r) => replicaPool(config, r, prepared)),
          config.replicaReads,
        );
  return {
    name: 'postgres',
    capabilities: CAPABILITIES,
    columnTypes: COLUMN_TYPES,
    dialect: new PostgresDialect({ pool }),
    classifyError: classifyPostgresError,
    isDriverError: isPostgresDriverError,
    withMigrationLock: (db, name, fn) => withTransactionMigrationLock(db, name, fn),
    relaxedCommit: RELAXED_COMMIT,
    pipelining: true,
    ...(prepared === undefined
      ? {}
      : {
          prepare: (text: string) => prepared.register(text),
          useLogger: (logger: Logger) => prepared.useLogger(logger),
        }),
    ...(replicaReads === undefined ? {} : { replicaReads }),
  };
}

/** `make`, run on the first call only; later calls share its promise. */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => {
    made ??= make();
    return made;
  };
}

/** How the replica router reaches one standby: the host's pool, or one made with the primary's session settings. */
function replicaPool(
  config: PostgresAdapterConfig,
  replica: PostgresReplicaConfig,
  prepared: PreparedStatements | undefined,
): RoutedReplica {
  if (replica.pool !== undefined) {
    const host = borrowed(replica.pool);
    const wrapped = prepared?.wrap(host) ?? host;
    return { pool: async () => wrapped, end: async () => {} };
  }
  const { replicas: _r, replicaReads: _rr, pool: _p, ...session } = config;
  const made = once(() =>
    createPostgresPool({
      ...session,
      ...(replica.connectionString === undefined ? {} : { connectionString: replica.connectionString }),
      ...(replica.max === undefined ? {} : { max: replica.max }),
      connectionTimeoutMs: replica.connectionTimeoutMs ?? 1000,
    }),
  );
  const wrapped = once(async () => prepared?.wrap(await made()) ?? made());
  let opened = false;
  return {
    pool: () => {
      opened = true;
      return wrapped();
    },
    end: async () => {
      if (opened) await (await made().catch(() => undefined))?.end();
    },
  };
}

/** `pool` as the adapter uses it when the host gave it: connections handed out as usual, `end` left to the host. */
function borrowed(pool: PostgresPool): PostgresPool {
  return { connect: () => pool.connect(), end: async () => {} };
}

import { parseInput, ValidationError } from '@marketkit/core';
import type { PostgresPool } from 'kysely';
import { type PostgresAdapterConfig, postgresAdapterConfigSchema } from './postgres-adapter-config.js';
import { HostFailover } from './postgres-host-failover.js';
import { parsePostgresHosts } from './postgres-hosts.js';

const INT8_OID = 20;

/** How long a call waits for a pooled connection by default, in ms (`connectionTimeoutMs`). */
const DEFAULT_CONNECTION_TIMEOUT_MS = 10_000;

const PLAN_CACHE_MODES: ReadonlySet<string> = new Set(['force_custom_plan', 'auto', 'force_generic_plan']);

/**
 * The `plan_cache_mode` the adapter's connections get: `undefined` without prepared statements (nothing to plan).
 * Throws `VALIDATION_FAILED` for a mode PostgreSQL does not have (the value is written into a `SET`).
 */
export function planCacheModeOf(config: PostgresAdapterConfig): PostgresAdapterConfig['planCacheMode'] {
  const mode = config.planCacheMode;
  if (mode !== undefined && !PLAN_CACHE_MODES.has(mode)) {
    throw new ValidationError(
      [{ path: ['planCacheMode'], message: `must be one of ${[...PLAN_CACHE_MODES].join(', ')}` }],
      'Invalid postgres adapter options',
    );
  }
  return config.preparedStatements === false ? undefined : (mode ?? 'auto');
}

/**
 * How long a connection may run prepared statements on plans it cached before the adapter discards them
 * (`replanAfterMs`): 0 when nothing is cached (no prepared statements, or `force_custom_plan` on the adapter's own
 * connections). Throws `VALIDATION_FAILED` for a negative or non-finite value, or a bad `planCacheMode`.
 */
export function replanAfterMsOf(config: PostgresAdapterConfig): number {
  const ms = config.replanAfterMs ?? 10_000;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw new ValidationError(
      [{ path: ['replanAfterMs'], message: 'must be a finite number of milliseconds, 0 or more' }],
      'Invalid postgres adapter options',
    );
  }
  const mode = planCacheModeOf(config);
  if (mode === undefined || (config.pool === undefined && mode === 'force_custom_plan')) return 0;
  return ms;
}

interface PgModule {
  Pool: new (config: Record<string, unknown>) => PostgresPool;
  Client: Parameters<HostFailover['clientClass']>[0];
  types: { getTypeParser(oid: number, format?: string): (value: string) => unknown };
}

/**
 * Creates a `pg.Pool` whose BIGINT columns parse to `bigint`, per pool (the global pg type registry is the
 * host's and is left alone). A connection string naming several hosts (libpq's
 * `postgres://u@h1:5432,h2:5432/db?target_session_attrs=read-write`) gets a pool that connects as libpq does:
 * see `HostFailover` (postgres-host-failover.ts).
 */
export async function createPostgresPool(config: PostgresAdapterConfig): Promise<PostgresPool> {
  parseInput(postgresAdapterConfigSchema, config, 'postgres pool options');
  const mod = (await import('pg')) as unknown as { default?: PgModule } & PgModule;
  const pg = mod.default ?? mod;
  const planCacheMode = planCacheModeOf(config);
  // A server without the setting (before 12) has no plan cache modes to choose from: nothing to do there.
  const setMode =
    planCacheMode !== undefined && planCacheMode !== 'auto' ? `set plan_cache_mode = ${planCacheMode}` : '';
  /** Clients whose mode `onConnect` set (pg-pool awaits it before handing the client out). */
  const configured = new WeakSet<object>();
  const hosts = config.connectionString === undefined ? undefined : parsePostgresHosts(config.connectionString);
  const failover = hosts === undefined ? undefined : new HostFailover(hosts);
  const pool = new pg.Pool({
    connectionString: config.connectionString,
    ...(failover === undefined ? {} : { Client: failover.clientClass(pg.Client) }),
    ...(setMode === '' && failover === undefined
      ? {}
      : {
          onConnect: async (client: Parameters<HostFailover['check']>[0]) => {
            await failover?.check(client);
            if (setMode === '') return;
            await client.query(setMode);
            configured.add(client);
          },
        }),
    // Statements sent without awaiting go out together (see pipelinedClients); refused only for cursors and streams.
    pipeline: config.pipeline !== false,
    max: config.max ?? 10,
    connectionTimeoutMillis: config.connectionTimeoutMs ?? DEFAULT_CONNECTION_TIMEOUT_MS,
    application_name: config.applicationName ?? 'marketkit',
    ...(config.statementTimeoutMs ? { statement_timeout: config.statementTimeoutMs } : {}),
    types: {
      getTypeParser: (oid: number, format?: string) =>
        oid === INT8_OID ? (value: string) => BigInt(value) : pg.types.getTypeParser(oid, format),
    },
  });
  // An idle client's error (server restart, failover, pg_terminate_backend) must not crash the host process:
  // the pool drops that client and the next query gets a fresh connection or a classified error.
  // A checked-out client loses pg-pool's listener, so give every client its own: the failing query still
  // rejects with a classified CONNECTION_LOST, but the emitter's 'error' never becomes an uncaught exception.
  const emitter = pool as unknown as {
    on(event: 'error', listener: (error: Error) => void): void;
    on(
      event: 'connect',
      listener: (client: {
        on(event: 'error', l: (e: Error) => void): void;
        query(text: string): Promise<unknown>;
      }) => void,
    ): void;
  };
  emitter.on('error', () => {});
  emitter.on('connect', (client) => {
    client.on('error', () => {});
    // A pg-pool older than `onConnect` (before pg 8.16): queued before any query the pool hands the client out for.
    if (setMode !== '' && !configured.has(client)) client.query(setMode).catch(() => {});
  });
  return failover === undefined ? pool : failover.wrap(pool);
}

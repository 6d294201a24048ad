import { isStorableText, UNSTORABLE_TEXT_MESSAGE } from '@marketkit/core';
import type { PostgresPool } from 'kysely';
import { z } from 'zod';
import { multiHostProblem, parsePostgresHosts } from './postgres-hosts.js';

/**
 * Options of {@link postgresAdapter}. Give `connectionString` or an existing `pool`, not both. Checked when the
 * adapter is made (`VALIDATION_FAILED`, nothing connected); unknown options are refused.
 */
export interface PostgresAdapterConfig {
  /**
   * e.g. `postgres://user@127.0.0.1:5432/app`: a `postgres:`, `postgresql:` or `socket:` URL, or a socket directory.
   * Several hosts, as libpq takes them, for failover:
   * `postgres://user@db1:5432,db2:5432/app?target_session_attrs=read-write` (`any`, `read-write` or `primary`). A
   * new connection then tries the hosts in order from the last one that answered, and keeps the first that is what
   * `target_session_attrs` asks for (`read-write`: `SHOW transaction_read_only` is `off`; `primary`: not in
   * recovery). While no host is, calls fail with `CONNECTION_LOST` (retryable; see docs/storage.md, Failover).
   */
  readonly connectionString?: string;
  /**
   * An existing `pg.Pool` (typed structurally), shared with the host's own code. The host owns it: its size and
   * session settings are the host's, and `market.close()` leaves it open (end it yourself).
   */
  readonly pool?: PostgresPool;
  /** Pool size when the adapter creates the pool: 1 to 1000. Default 10. */
  readonly max?: number;
  /**
   * The longest a transaction or query waits for a connection, in whole ms (pg's `connectionTimeoutMillis` on the pool
   * the adapter creates; ignored for a given `pool`, whose settings are the host's). Default 10000. When every
   * connection stays busy that long, the call fails with `OVERLOADED` (`{ resource: 'database-connections',
   * retryAfterMs }`, retryable, nothing written; an HTTP API answers 503 with `Retry-After`) instead of queueing
   * without bound. The same bound applies to opening a new connection: a server that does not accept one in time is
   * `CONNECTION_LOST`. 0 waits without bound (pg's default), which is not recommended behind an HTTP API.
   */
  readonly connectionTimeoutMs?: number;
  /** `statement_timeout` for each connection, in whole ms up to 2^31-1; 0 (default) means none. */
  readonly statementTimeoutMs?: number;
  /** `application_name` reported to the server: printable ASCII, at most 63 characters. Default `marketkit`. */
  readonly applicationName?: string;
  /**
   * Run Marketkit's hot statements (its statement templates) as named prepared statements, parsed once per
   * connection. Default true. Behind a pooler that cannot follow prepared statements across server connections
   * (PgBouncer in transaction mode before 1.21, or with `max_prepared_statements = 0`) the adapter notices the first
   * name that went missing, switches to unnamed statements for good (logged once as a warning) and reruns what
   * failed; set false to start unnamed there.
   */
  readonly preparedStatements?: boolean;
  /**
   * How the server plans Marketkit's prepared statements on the connections the adapter opens (PostgreSQL's
   * `plan_cache_mode`; ignored for a given `pool`, whose sessions are the host's). Default `auto`, the server's
   * own: after five runs PostgreSQL may keep a generic plan and skip planning (most of the server time of the
   * checkout's one-statement transactions), while {@link replanAfterMs} keeps such a plan from outliving the table
   * sizes it was made for. `force_custom_plan` plans every run for the tables as they are (parsing still saved).
   */
  readonly planCacheMode?: 'force_custom_plan' | 'auto' | 'force_generic_plan';
  /**
   * The longest a connection runs Marketkit's prepared statements on plans it cached, in ms. Default 10000. When a
   * connection's cached plans are older and it is next handed out, the adapter sends `DISCARD PLANS` first (one
   * round trip), so the next runs are planned for the tables as they are now: a generic plan cached while a table
   * was nearly empty (a new marketplace, before a bulk import) would otherwise keep scanning the whole table until
   * autovacuum next analyzes it. Applies to a given `pool` too (it drops the host's cached plans on those sessions
   * alike; they are re-planned on their next run). 0 turns it off; with `force_custom_plan` nothing is cached and it
   * never runs.
   */
  readonly replanAfterMs?: number;
  /**
   * Put the connections of the pool the adapter creates in node-postgres pipeline mode (`pipeline: true`, pg 8.23+):
   * a transaction's BEGIN then goes with its first statement, and the writes core queues for a commit (outbox
   * events, a saga step's progress) go with the COMMIT, saving round trips on every write transaction. Default
   * true. Ignored for a given `pool`: each client it hands out is looked at instead (`client.pipeline`), so create
   * that pool with `pipeline: true` to get the same. A pipelined client refuses cursors and query streams
   * (`pg-cursor`, `pg-query-stream`); Marketkit uses neither. See docs/storage.md, "Pipelining".
   */
  readonly pipeline?: boolean;
  /**
   * Hot standbys streaming from the primary (PostgreSQL physical replication), at most 16. Reads that core marks
   * replica-safe (listings and orders by id, order history, the order feed, ledger balances and transfer pages) are
   * spread over them, round robin, whenever one has replayed far enough ({@link replicaReads}); every write, every
   * transaction and every read that guards money or stock runs on the primary. A replica that refuses connections
   * or drops one is left out for `replicaReads.retryDownAfterMs`, its reads served by the primary meanwhile: a
   * replica never fails a read. See docs/storage.md, "Read replicas".
   */
  readonly replicas?: readonly PostgresReplicaConfig[];
  /** How stale a replica may be, and how read-your-writes is kept. Only with {@link replicas}. */
  readonly replicaReads?: PostgresReplicaReadsConfig;
}

/** One read replica of {@link PostgresAdapterConfig.replicas}: `connectionString` or `pool`, not both. */
export interface PostgresReplicaConfig {
  /** The standby's URL (same database name as the primary's), as for {@link PostgresAdapterConfig.connectionString}. */
  readonly connectionString?: string;
  /** An existing `pg.Pool` on the standby, the host's (left open by `market.close()`). */
  readonly pool?: PostgresPool;
  /** Pool size when the adapter creates the pool: 1 to 1000. Default: the primary's `max` (10). */
  readonly max?: number;
  /**
   * The longest a read waits to connect to this replica, in whole ms, before the primary serves it (and the replica
   * is left out for `retryDownAfterMs`). Default 1000.
   */
  readonly connectionTimeoutMs?: number;
}

/** Staleness rules of the replica-safe reads ({@link PostgresAdapterConfig.replicaReads}). */
export interface PostgresReplicaReadsConfig {
  /**
   * The most a replica-safe read may lag the primary, in whole ms: a replica is used only once it has replayed the
   * primary's WAL position sampled at most this long ago (`pg_current_wal_insert_lsn()`, sampled at most twice per
   * bound). 1 to 2^31-1; default 10000.
   */
  readonly maxLagMs?: number;
  /**
   * After this marketplace instance wrote, its reads must see the write (read-your-writes): the adapter takes the
   * primary's WAL position after the write (one cheap query, shared by concurrent reads) and reads from a replica
   * that replayed it. `wait` (default): a replica behind it is polled up to `waitTimeoutMs`, then the primary
   * answers. `primary`: the primary answers at once. `off`: no read-your-writes, only `maxLagMs` (for a process
   * that only reads). Applies to reads of other instances' writes only through `maxLagMs`.
   */
  readonly readYourWrites?: 'wait' | 'primary' | 'off';
  /** How long a read waits for a replica to catch up before the primary answers, in whole ms: 0 to 60000, default 100. */
  readonly waitTimeoutMs?: number;
  /** How long a replica that refused or dropped a connection is left out, in whole ms: 0 to 3600000, default 5000. */
  readonly retryDownAfterMs?: number;
}

/** Longest wait a timer can take in Node, and PostgreSQL's largest `statement_timeout` (2^31-1 ms). */
const MAX_MS = 2 ** 31 - 1;

/**
 * Whether pg can read `text` as a connection string, as pg-connection-string does: a socket directory path
 * (`/var/run/postgresql db`), or a `postgres:`, `postgresql:` or `socket:` URL (an empty host, `user@/db`, allowed).
 * Checked when the adapter is made, so a typo fails at once with `VALIDATION_FAILED` instead of at the first query.
 */
function isConnectionString(text: string): boolean {
  if (text.startsWith('/')) return true;
  // pg encodes a string with spaces or stray `%` before parsing it; so does this check.
  const url = / |%[^a-f0-9]|%[a-f0-9][^a-f0-9]/i.test(text) ? encodeURI(text).replace(/%25(\d\d)/g, '%$1') : text;
  const protocol = protocolOf(url) ?? protocolOf(url.replace('@/', '@___DUMMY___/'));
  return protocol === 'postgres:' || protocol === 'postgresql:' || protocol === 'socket:';
}

function protocolOf(url: string): string | undefined {
  try {
    return new URL(url).protocol;
  } catch {
    return undefined;
  }
}

const connectionStringSchema = z
  .string()
  .min(1)
  .refine(isStorableText, UNSTORABLE_TEXT_MESSAGE)
  .refine(
    (text) => isConnectionString(text) || parsePostgresHosts(text) !== undefined,
    'must be a postgres:// (or postgresql://, socket:) URL or a socket directory path',
  )
  .superRefine((text, ctx) => {
    const problem = multiHostProblem(text);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });

const poolSchema = z.custom<PostgresPool>(
  (v) => typeof (v as PostgresPool | null)?.connect === 'function',
  'must be a pg.Pool',
);

const replicaSchema = z
  .strictObject({
    connectionString: connectionStringSchema.optional(),
    pool: poolSchema.optional(),
    max: z.number().int().min(1).max(1000).optional(),
    connectionTimeoutMs: z.number().int().min(0).max(MAX_MS).optional(),
  })
  .refine((c) => (c.connectionString === undefined) !== (c.pool === undefined), {
    error: 'give exactly one of connectionString and pool',
    path: ['connectionString'],
  });

const replicaReadsSchema = z.strictObject({
  maxLagMs: z.number().int().min(1).max(MAX_MS).optional(),
  readYourWrites: z.enum(['wait', 'primary', 'off']).optional(),
  waitTimeoutMs: z.number().int().min(0).max(60_000).optional(),
  retryDownAfterMs: z.number().int().min(0).max(3_600_000).optional(),
});

/**
 * Checks {@link PostgresAdapterConfig} when the adapter is made, before any connection (`VALIDATION_FAILED`):
 * exactly one of `connectionString` and `pool`, a pool size from 1 to 1000, timeouts that are whole milliseconds,
 * `application_name` as PostgreSQL takes it (printable ASCII, at most 63 characters). Unknown options are refused,
 * so a misspelt one is not ignored. The messages never repeat the connection string (it may hold a password).
 * @internal
 */
export const postgresAdapterConfigSchema = z
  .strictObject({
    connectionString: connectionStringSchema.optional(),
    pool: poolSchema.optional(),
    max: z.number().int().min(1).max(1000).optional(),
    connectionTimeoutMs: z.number().int().min(0).max(MAX_MS).optional(),
    statementTimeoutMs: z.number().int().min(0).max(MAX_MS).optional(),
    applicationName: z
      .string()
      .max(63)
      .regex(/^[\x20-\x7e]*$/, 'must be printable ASCII')
      .optional(),
    preparedStatements: z.boolean().optional(),
    planCacheMode: z.enum(['force_custom_plan', 'auto', 'force_generic_plan']).optional(),
    replanAfterMs: z.number().min(0).max(MAX_MS).optional(),
    pipeline: z.boolean().optional(),
    replicas: z.array(replicaSchema).max(16).optional(),
    replicaReads: replicaReadsSchema.optional(),
  })
  .refine((c) => (c.connectionString === undefined) !== (c.pool === undefined), {
    error: 'give exactly one of connectionString and pool',
    path: ['connectionString'],
  })
  .refine((c) => c.replicaReads === undefined || (c.replicas?.length ?? 0) > 0, {
    error: 'replicaReads needs at least one of replicas',
    path: ['replicaReads'],
  });

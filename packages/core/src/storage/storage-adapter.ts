import type { Dialect, Kysely } from 'kysely';
import type { Logger } from '../logging/logger.js';

/** What a driver error means, independent of the database that raised it. */
export type StorageErrorKind =
  | 'uniqueViolation'
  | 'foreignKeyViolation'
  | 'checkViolation'
  | 'serializationFailure'
  | 'deadlock'
  | 'lockNotAvailable'
  | 'connectionLost'
  /**
   * A named prepared statement the connection believed it had (or had not) prepared was missing (or already there)
   * on the server: a pooler (PgBouncer in transaction mode) moved the session to another server connection. The
   * statement failed before it ran, and so did its transaction: rerunning the transaction is safe. Surfaces as
   * `SERIALIZATION_FAILURE` (retryable), which `Storage` reruns.
   */
  | 'preparedStatementLost'
  /**
   * The pool's bounded wait for a free connection ran out (every connection busy): the database is up but at its
   * capacity, so this is `OVERLOADED` (retry later), not `CONNECTION_LOST`. Nothing was sent to the database.
   */
  | 'connectionWaitTimeout';

/**
 * What a backend can do. Core branches on these flags, never on the adapter's name
 * (the pattern of kysely's `DialectAdapter.supportsReturning`).
 */
export interface StorageCapabilities {
  /** `SELECT … FOR UPDATE` locks single rows. False where a write transaction locks the whole database. */
  readonly rowLocks: boolean;
  /** `FOR UPDATE SKIP LOCKED` is available. */
  readonly skipLocked: boolean;
  /** `FOR UPDATE NOWAIT` is available. */
  readonly noWait: boolean;
  /** Several write transactions can run at once (PostgreSQL); false when writers serialize (SQLite). */
  readonly concurrentWriters: boolean;
  /** Tables can live in a named schema. */
  readonly schemas: boolean;
  /** `UPDATE … FROM (VALUES …)` updates many rows with different values in one statement. */
  readonly updateFromValues: boolean;
  /** `WITH x AS (INSERT/UPDATE … RETURNING …) INSERT …`: several writes in one statement (one round trip). */
  readonly writableCtes: boolean;
  /**
   * A JS array binds as one parameter (`id = any($1)`, `unnest($1::text[], …)`), so a statement over many rows
   * carries one parameter per column rather than one per value (PostgreSQL). Absent means false.
   */
  readonly arrayParams?: boolean;
  /**
   * A statement bound for several rows (`StatementTemplate.bindMany`, parameters marked with `STATEMENT_BATCH`) runs
   * once per row within one `executeQuery` call, so a batch's per-row statements cost one pass through the driver
   * stack instead of one each (SQLite, where a statement has no round trip). Absent means false.
   */
  readonly statementBatches?: boolean;
}

/** The column types the shared migrations ask for, spelled in the backend's SQL. */
export interface StorageColumnTypes {
  /** A signed 64-bit integer (minor units, timestamps in ms, versions). */
  readonly int64: 'bigint' | 'integer';
  /** A JSON document. */
  readonly json: 'jsonb' | 'text';
}

/**
 * The port every database backend fills in. Core writes its queries once in Kysely; an adapter
 * supplies only what differs between databases. See `@marketkit/adapters/sqlite` for the smallest
 * complete implementation, and run `runAdapterConformance` from `@marketkit/testing` against a new one.
 *
 * Contract:
 * - Integer columns MUST come back from the driver as `bigint` (never a lossy `number`).
 * - A transaction started by `db.transaction()` MUST take the write lock it needs up front or lock rows
 *   with `FOR UPDATE` when `capabilities.rowLocks` is true.
 */
export interface StorageAdapter {
  /** A short name for logs and test titles, e.g. `sqlite` or `postgres`. */
  readonly name: string;
  readonly capabilities: StorageCapabilities;
  readonly columnTypes: StorageColumnTypes;
  /** The Kysely dialect, already configured (pool, pragmas, begin mode). */
  readonly dialect: Dialect;
  /** Maps a driver error to what it means, or `undefined` when it is none of the known kinds. */
  classifyError(error: unknown): StorageErrorKind | undefined;
  /**
   * True when `error` was raised by the database driver (and so should surface as a `StorageError`); any other
   * error thrown inside a transaction (the host's own, a bug) passes through unchanged.
   */
  isDriverError(error: unknown): boolean;
  /**
   * Runs `fn` (Kysely's `Migrator` over the `db` it is given) so that schema migrations serialize across processes.
   * Backends whose migration transaction already serializes (SQLite `BEGIN IMMEDIATE`) just call `fn`. A backend may
   * instead hand `fn` a `db` whose every transaction takes a transaction-scoped lock first (PostgreSQL:
   * `pg_advisory_xact_lock`, so it works through PgBouncer in transaction mode and no lock outlives a transaction);
   * core runs each schema change of `migrate()` inside a transaction of that `db`.
   */
  withMigrationLock<T>(db: Kysely<unknown>, name: string, fn: (db: Kysely<unknown>) => Promise<T>): Promise<T>;
  /**
   * Optional. Tells the adapter that `sql` is a statement template's text: it will run many times with new values,
   * so the adapter may prepare it once per connection (PostgreSQL: a named prepared statement). Texts not
   * registered run as before.
   */
  prepare?(sql: string): void;
  /**
   * Optional. Gives the adapter the marketplace's logger (`createMarketplace` calls it once), for what the adapter
   * decides by itself and an operator should hear of: PostgreSQL's switch to unnamed statements behind a pooler.
   * An adapter shared by several marketplaces logs to the last one's logger.
   */
  useLogger?(logger: Logger): void;
  /**
   * Optional. The statement that opens a write transaction, as the dialect's driver begins one (default `begin`);
   * SQLite's adapter says `begin immediate`, taking the write lock up front. Used where Marketkit runs a
   * transaction's statements on one connection itself (`Storage.templateTransaction`).
   */
  readonly beginWrite?: string;
  /**
   * Optional, read each time it is used. How a commit that need not wait for the disk is made: two statements around
   * it, `relax` before and `restore` after (SQLite's adapter, while its file is in WAL mode with `synchronous = FULL`:
   * `pragma synchronous = NORMAL`, then `FULL` again), or a `condition` the write itself evaluates (PostgreSQL's:
   * `set_config('synchronous_commit', 'off', true)` for the statement's own transaction, no round trip of its own).
   * Core relaxes only writes that recovery rebuilds if a power cut loses them (`Storage.runRelaxed`). Absent, such
   * writes commit like any other.
   */
  readonly relaxedCommit?: RelaxedCommit | undefined;
  /**
   * Optional, for a database that does not queue writers itself (SQLite: a writer that finds the file's write lock
   * held fails with `SQLITE_BUSY`): how a writer waits for its turn. Core reruns the statement that takes the lock
   * (a transaction's begin, `beginWrite`, or one autocommit write) while `isBusy` says the lock was held, after an
   * asynchronous, jittered backoff, until `timeoutMs` has passed (`retryWhileBusy`); then the busy error surfaces as
   * `LOCK_NOT_AVAILABLE`. The adapter makes that statement give up at once or after a few ms (a short busy timeout),
   * so the event loop keeps running while the writer waits. Absent (PostgreSQL, whose server queues lock waits),
   * every statement runs once.
   */
  readonly writeLockWait?: WriteLockWait | undefined;
  /**
   * Optional. True when the statements of one transaction may be sent without waiting for each other's answers
   * (PostgreSQL): the adapter's connections pipeline them where the driver can (node-postgres clients in pipeline
   * mode: all sent at once, one round trip) and run them one after the other otherwise, and a statement that fails
   * aborts the transaction, so every later one fails too and its COMMIT answers ROLLBACK. Core then sends the writes
   * queued with `Storage.onCommit` together with the transaction's COMMIT. Absent (SQLite, where a statement costs no
   * round trip and a failed one leaves the transaction open), `Storage.onCommit` runs a write at once.
   */
  readonly pipelining?: boolean;
  /**
   * Optional: read replicas. Core sends the reads it marks replica-safe (they may be stale: see
   * {@link ReplicaReadConsistency}) through {@link ReplicaReads.dialect}; every write, every transaction and every
   * read that guards money or stock stays on {@link dialect} (the primary). Absent, every read goes to the primary.
   */
  readonly replicaReads?: ReplicaReads | undefined;
  /**
   * Optional: an online copy of the whole database to the file `destination`, consistent as of one commit, taken
   * while the marketplace keeps reading and writing (SQLite: better-sqlite3's `backup()`, the SQLite online backup
   * API). Refuses (`VALIDATION_FAILED`) a destination that is the live database's own file. `Marketplace.backup`
   * calls it after checking the path; absent (PostgreSQL: use `pg_dump` or PITR), `market.backup` throws
   * `BACKUP_UNSUPPORTED`.
   */
  backup?(destination: string): Promise<BackupResult>;
}

/** What {@link StorageAdapter.backup} copied. */
export interface BackupResult {
  /** The file written (the path given, trimmed). */
  readonly destination: string;
  /** Pages of the database copied (the database's size in pages when the copy finished). */
  readonly totalPages: number;
}

/**
 * How fresh a replica-safe read must be:
 * - `eventual`: may lag the primary by the adapter's bound (PostgreSQL: `replicaReads.maxLagMs`), but sees every
 *   write this marketplace instance (this process) made before the read began (read-your-writes, where the adapter
 *   is configured for it).
 * - `latest`: sees every transaction committed on the primary before the read began, from any process (a reader
 *   woken by a commit's notification must find that commit).
 */
export type ReplicaReadConsistency = 'eventual' | 'latest';

/**
 * The read-replica side of a {@link StorageAdapter}. The adapter decides per read which server answers: a replica
 * that has replayed far enough for the read's {@link ReplicaReadConsistency}, else (after a bounded wait, or when
 * no replica answers) the primary, so a read never fails or goes stale beyond its bound because of a replica.
 */
export interface ReplicaReads {
  /**
   * A Kysely dialect whose connections serve reads of `consistency`: each connection comes from a replica fresh
   * enough for it or from the primary. Core makes one Kysely instance per consistency and sends only single reads
   * outside transactions through it. Destroying it ends the replicas' pools, never the primary's.
   */
  dialect(consistency: ReplicaReadConsistency): Dialect;
  /**
   * Called by core after each statement or transaction it ran on the primary that may have written (committed or
   * not): the adapter's next `eventual` read makes sure it reads at or after that point.
   */
  noteWrite(): void;
}

/** The wait of {@link StorageAdapter.writeLockWait}. */
export interface WriteLockWait {
  /** True when `error` means that another connection held the write lock and the statement changed nothing. */
  isBusy(error: unknown): boolean;
  /** How long a writer keeps trying, in ms from its first refusal, before the busy error is thrown. */
  readonly timeoutMs: number;
}

/**
 * How {@link StorageAdapter.relaxedCommit} relaxes a commit: statements around it, or a condition inside the write.
 *
 * @example
 * ```ts
 * // SQLite in WAL mode: around the write, on its connection.
 * const sqlite: RelaxedCommit = { relax: 'pragma synchronous = NORMAL', restore: 'pragma synchronous = FULL' };
 * // PostgreSQL: inside the write (a statement sent alone is its own transaction).
 * const postgres: RelaxedCommit = { condition: "set_config('synchronous_commit', 'off', true) = 'off'" };
 * ```
 */
export type RelaxedCommit =
  | {
      /** Run before the write: its commit returns without waiting for the disk. */
      readonly relax: string;
      /** Run after it, also when it failed: commits wait as configured again. */
      readonly restore: string;
    }
  | {
      /**
       * A boolean SQL condition, always true, that makes the commit of the statement evaluating it (a write sent
       * alone, its own transaction) return without waiting for the disk. Core adds it to the write's `where`
       * (`Storage.relaxedCondition`), so the write must change rows only where it evaluated the condition.
       */
      readonly condition: string;
    };

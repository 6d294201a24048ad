import { resolve } from 'node:path';
import {
  type BackupResult,
  parseInput,
  type RelaxedCommit,
  retryWhileBusy,
  type StorageAdapter,
  type StorageCapabilities,
  type StorageColumnTypes,
  ValidationError,
  type WriteLockWait,
} from '@marketkit/core';
import { type Kysely, type SqliteDatabase, sql } from 'kysely';
import {
  type BetterSqliteDatabase,
  type SqliteAdapterConfig,
  sqliteAdapterConfigSchema,
} from './sqlite-adapter-config.js';
import { BEGIN_IMMEDIATE, ImmediateSqliteDialect } from './sqlite-driver.js';
import { classifySqliteError, isSqliteBusy, isSqliteDriverError } from './sqlite-errors.js';
import { withStatementCache } from './sqlite-statement-cache.js';

const CAPABILITIES: StorageCapabilities = Object.freeze({
  rowLocks: false,
  skipLocked: false,
  noWait: false,
  concurrentWriters: false,
  schemas: false,
  updateFromValues: true,
  writableCtes: false,
  arrayParams: false,
  statementBatches: true,
});

const COLUMN_TYPES: StorageColumnTypes = Object.freeze({ int64: 'integer', json: 'text' });

/** Default of `busyTimeoutMs`: how long a writer waits for the write lock, asynchronously. */
const DEFAULT_BUSY_TIMEOUT_MS = 30_000;
/**
 * SQLite's own busy timeout on the connection, in ms (at most `busyTimeoutMs`): how long one statement may sleep
 * inside the driver, blocking the event loop, before Marketkit's asynchronous retry takes over.
 */
const BLOCKING_BUSY_TIMEOUT_MS = 2;

/**
 * The embedded default: SQLite through better-sqlite3, in WAL mode with foreign keys on. Write transactions begin
 * `IMMEDIATE`, so they serialize across processes sharing the file; a writer that finds the lock held waits its
 * turn without blocking the event loop, for up to `busyTimeoutMs` (default 30 s). Integers come back as
 * `bigint`, so amounts beyond 2^53 stay exact.
 *
 * @example
 * ```ts
 * import { createMarketplace } from '@marketkit/core';
 * import { sqliteAdapter } from '@marketkit/adapters/sqlite';
 * const market = createMarketplace({ adapter: sqliteAdapter({ filename: 'market.db' }) });
 * await market.migrate();
 * ```
 */
export function sqliteAdapter(options: SqliteAdapterConfig = {}): StorageAdapter {
  const config = parseInput(sqliteAdapterConfigSchema, options, 'sqlite adapter options');
  const writeLockWait: WriteLockWait = Object.freeze({
    isBusy: isSqliteBusy,
    timeoutMs: config.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
  });
  let relaxedCommit: RelaxedCommit | undefined;
  let opened: BetterSqliteDatabase | undefined;
  const open = async (): Promise<SqliteDatabase> => {
    const db = config.database ?? (await openFile(config.filename ?? ':memory:'));
    opened = db;
    relaxedCommit = configure(db, config.synchronous ?? 'FULL', writeLockWait.timeoutMs) ? RELAXED_COMMIT : undefined;
    return withStatementCache(db);
  };
  return {
    get relaxedCommit() {
      return relaxedCommit;
    },
    name: 'sqlite',
    capabilities: CAPABILITIES,
    columnTypes: COLUMN_TYPES,
    dialect: new ImmediateSqliteDialect({ database: open }),
    classifyError: classifySqliteError,
    isDriverError: isSqliteDriverError,
    withMigrationLock: (db, _name, fn) => immediateMigrationLock(db, fn, writeLockWait),
    beginWrite: BEGIN_IMMEDIATE,
    writeLockWait,
    backup: (destination) => onlineBackup(opened ?? config.database, destination),
  };
}

/**
 * The adapter's `backup`: better-sqlite3's online backup of the open connection. The copy runs in steps on the
 * event loop; writes of this connection between steps go into the copy too, and a write of another connection
 * (process) restarts it, so the file is one consistent state either way.
 */
async function onlineBackup(db: BetterSqliteDatabase | undefined, destination: string): Promise<BackupResult> {
  if (db === undefined) throw new Error('sqlite adapter: backup before the database was opened');
  if (!db.memory && resolve(db.name) === resolve(destination)) {
    const message = 'the backup destination is the live database’s own file';
    throw new ValidationError([{ path: [], message }], `Invalid backup path: ${message}`);
  }
  const { totalPages } = await db.backup(destination);
  return { destination, totalPages };
}

/**
 * Kysely runs SQLite migrations outside a transaction (no transactional DDL flag), so concurrent `migrate()`
 * calls would race; running them on one connection inside `BEGIN IMMEDIATE` makes the others wait for the write
 * lock, as every write does (`retryWhileBusy`), and then find nothing left to do.
 */
async function immediateMigrationLock<T>(
  db: Kysely<unknown>,
  fn: (db: Kysely<unknown>) => Promise<T>,
  wait: WriteLockWait,
): Promise<T> {
  return db.connection().execute(async (conn) => {
    const begin = () => sql.raw(BEGIN_IMMEDIATE).execute(conn);
    try {
      await begin();
    } catch (error) {
      await retryWhileBusy(begin, error, wait);
    }
    try {
      const result = await fn(conn);
      await sql`commit`.execute(conn);
      return result;
    } catch (error) {
      await sql`rollback`.execute(conn);
      throw error;
    }
  });
}

async function openFile(filename: string): Promise<BetterSqliteDatabase> {
  const mod = (await import('better-sqlite3')) as unknown as { default: new (f: string) => BetterSqliteDatabase };
  return new mod.default(filename);
}

/**
 * Sets the adapter's pragmas. True when a commit may skip its fsync safely, one at a time
 * ({@link RELAXED_COMMIT}): the file is in WAL mode (recovered as a prefix of its commits, never corrupted by a
 * commit that did not sync) and commits otherwise sync (`FULL`).
 */
function configure(db: BetterSqliteDatabase, synchronous: 'FULL' | 'NORMAL', busyTimeoutMs: number): boolean {
  db.defaultSafeIntegers(true);
  const wal = !db.memory && db.pragma('journal_mode = WAL', { simple: true }) === 'wal';
  db.pragma(`busy_timeout = ${Math.min(busyTimeoutMs, BLOCKING_BUSY_TIMEOUT_MS)}`);
  db.pragma('foreign_keys = ON');
  db.pragma(`synchronous = ${synchronous}`);
  return wal && synchronous === 'FULL';
}

/** A commit that returns before the WAL reaches the disk; the next `FULL` commit syncs both. */
const RELAXED_COMMIT: RelaxedCommit = Object.freeze({
  relax: 'pragma synchronous = NORMAL',
  restore: 'pragma synchronous = FULL',
});

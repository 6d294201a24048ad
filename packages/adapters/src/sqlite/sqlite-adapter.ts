import type { RelaxedCommit, StorageAdapter, StorageCapabilities, StorageColumnTypes } from '@marketkit/core';
import { type Kysely, type SqliteDatabase, sql } from 'kysely';
import type { BetterSqliteDatabase, SqliteAdapterConfig } from './sqlite-adapter-config.js';
import { BEGIN_IMMEDIATE, ImmediateSqliteDialect } from './sqlite-driver.js';
import { classifySqliteError, isSqliteDriverError } from './sqlite-errors.js';
import { withStatementCache } from './sqlite-statement-cache.js';

const CAPABILITIES: StorageCapabilities = Object.freeze({
  rowLocks: false,
  skipLocked: false,
  noWait: false,
  concurrentWriters: false,
  schemas: false,
  updateFromValues: true,
  writableCtes: false,
});

const COLUMN_TYPES: StorageColumnTypes = Object.freeze({ int64: 'integer', json: 'text' });

/**
 * The embedded default: SQLite through better-sqlite3, in WAL mode with a busy timeout and foreign keys on.
 * Write transactions begin `IMMEDIATE`, so they serialize across processes sharing the file. Integers come
 * back as `bigint`, so amounts beyond 2^53 stay exact.
 *
 * @example
 * ```ts
 * import { createMarketplace } from '@marketkit/core';
 * import { sqliteAdapter } from '@marketkit/adapters/sqlite';
 * const market = createMarketplace({ adapter: sqliteAdapter({ filename: 'market.db' }) });
 * await market.migrate();
 * ```
 */
export function sqliteAdapter(config: SqliteAdapterConfig = {}): StorageAdapter {
  let relaxedCommit: RelaxedCommit | undefined;
  const open = async (): Promise<SqliteDatabase> => {
    const db = config.database ?? (await openFile(config.filename ?? ':memory:'));
    relaxedCommit = configure(db, config) ? RELAXED_COMMIT : undefined;
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
    withMigrationLock: immediateMigrationLock,
    beginWrite: BEGIN_IMMEDIATE,
  };
}

/**
 * Kysely runs SQLite migrations outside a transaction (no transactional DDL flag), so concurrent `migrate()`
 * calls would race; running them on one connection inside `BEGIN IMMEDIATE` makes the others wait (busy
 * timeout) and then find nothing left to do.
 */
async function immediateMigrationLock<T>(db: Kysely<unknown>, _name: string, fn: (db: Kysely<unknown>) => Promise<T>) {
  return db.connection().execute(async (conn) => {
    await beginImmediateWithoutBlocking(conn);
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

/**
 * `BEGIN IMMEDIATE` that waits for another writer asynchronously: better-sqlite3's busy timeout would block the
 * event loop, so a second adapter in the same process could never let the first one finish.
 */
async function beginImmediateWithoutBlocking(conn: Kysely<unknown>, maxWaitMs = 30_000): Promise<void> {
  const started = Date.now();
  const previous = await sql<{ timeout: bigint }>`pragma busy_timeout`.execute(conn);
  await sql`pragma busy_timeout = 0`.execute(conn);
  try {
    for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
      try {
        await sql`begin immediate`.execute(conn);
        return;
      } catch (error) {
        if (classifySqliteError(error) !== 'lockNotAvailable' || Date.now() - started > maxWaitMs) throw error;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  } finally {
    const ms = Number(previous.rows[0]?.timeout ?? 5000);
    await sql`pragma busy_timeout = ${sql.raw(String(Math.trunc(ms)))}`.execute(conn);
  }
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
function configure(db: BetterSqliteDatabase, config: SqliteAdapterConfig): boolean {
  db.defaultSafeIntegers(true);
  const wal = !db.memory && db.pragma('journal_mode = WAL', { simple: true }) === 'wal';
  db.pragma(`busy_timeout = ${Math.trunc(config.busyTimeoutMs ?? 5000)}`);
  db.pragma('foreign_keys = ON');
  const synchronous = config.synchronous ?? 'FULL';
  db.pragma(`synchronous = ${synchronous}`);
  return wal && synchronous === 'FULL';
}

/** A commit that returns before the WAL reaches the disk; the next `FULL` commit syncs both. */
const RELAXED_COMMIT: RelaxedCommit = Object.freeze({
  relax: 'pragma synchronous = NORMAL',
  restore: 'pragma synchronous = FULL',
});

import type { SqliteDatabase } from 'kysely';

/** The few methods of a better-sqlite3 `Database` the adapter calls (typed structurally; no import needed). */
export interface BetterSqliteDatabase extends SqliteDatabase {
  /** Runs a PRAGMA (the adapter sets WAL, busy timeout, foreign keys and `synchronous` with it). */
  pragma(source: string, options?: { simple?: boolean }): unknown;
  /** Makes integers come back as bigint, so int64 amounts never lose precision. */
  defaultSafeIntegers(toggleState?: boolean): unknown;
  readonly memory: boolean;
}

/** Options of {@link sqliteAdapter}. */
export interface SqliteAdapterConfig {
  /** Path of the database file; `:memory:` (the default) for a private in-memory database. */
  readonly filename?: string;
  /** An open better-sqlite3 database to use instead of `filename`; the adapter sets its pragmas. */
  readonly database?: BetterSqliteDatabase;
  /**
   * How long a writer waits for the write lock that another connection or process holds, in ms, before it fails
   * with `LOCK_NOT_AVAILABLE`. Default 30000. The wait does not block the event loop: SQLite's own busy timeout
   * (which sleeps inside the driver, blocking the process) is kept to a few ms, and Marketkit retries the refused
   * begin (or single write) asynchronously with jittered backoff until this deadline. A small value is SQLite's
   * `NOWAIT`. Reads never wait for writers in WAL mode.
   */
  readonly busyTimeoutMs?: number;
  /** `FULL` (default) survives power loss; `NORMAL` is faster in WAL mode and can lose the last commits. */
  readonly synchronous?: 'FULL' | 'NORMAL';
}

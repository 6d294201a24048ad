import { isStorableText, UNSTORABLE_TEXT_MESSAGE } from '@marketkit/core';
import type { SqliteDatabase } from 'kysely';
import { z } from 'zod';

/** The few methods of a better-sqlite3 `Database` the adapter calls (typed structurally; no import needed). */
export interface BetterSqliteDatabase extends SqliteDatabase {
  /** Runs a PRAGMA (the adapter sets WAL, busy timeout, foreign keys and `synchronous` with it). */
  pragma(source: string, options?: { simple?: boolean }): unknown;
  /** Makes integers come back as bigint, so int64 amounts never lose precision. */
  defaultSafeIntegers(toggleState?: boolean): unknown;
  readonly memory: boolean;
  /** The database's file name as opened (`:memory:` for an in-memory database). */
  readonly name: string;
  /** SQLite's online backup into the file `destination`, in steps between which the connection keeps working. */
  backup(destination: string): Promise<{ totalPages: number; remainingPages: number }>;
}

/**
 * Options of {@link sqliteAdapter}, checked when the adapter is made (`VALIDATION_FAILED`, nothing opened): unknown
 * options are refused, and `filename` and `database` are not both given.
 */
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
   * `NOWAIT`. Reads never wait for writers in WAL mode. A whole number from 0 to 2^31-1.
   */
  readonly busyTimeoutMs?: number;
  /**
   * `FULL` (default) survives power loss; `NORMAL` is faster in WAL mode and can lose the last commits. Exactly one
   * of the two, upper-case: any other value (`'full'`, `'OFF'`) is refused, never passed to SQLite.
   */
  readonly synchronous?: 'FULL' | 'NORMAL';
}

/** Longest wait a timer can take in Node (2^31-1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Checks {@link SqliteAdapterConfig} when the adapter is made, before anything is opened (`VALIDATION_FAILED`).
 * `synchronous` is one of the two documented values, exactly as written (it becomes part of a `PRAGMA`; `'full'`
 * or `'OFF'` are refused, not guessed at). Unknown options are refused too, so a misspelt one is not ignored.
 * @internal
 */
export const sqliteAdapterConfigSchema = z
  .strictObject({
    filename: z.string().min(1).refine(isStorableText, UNSTORABLE_TEXT_MESSAGE).optional(),
    database: z
      .custom<BetterSqliteDatabase>(
        (v) => typeof (v as BetterSqliteDatabase | null)?.pragma === 'function',
        'must be an open better-sqlite3 Database',
      )
      .optional(),
    busyTimeoutMs: z.number().int().min(0).max(MAX_TIMER_MS).optional(),
    synchronous: z.enum(['FULL', 'NORMAL']).optional(),
  })
  .refine((c) => c.filename === undefined || c.database === undefined, {
    error: 'give filename or database, not both',
    path: ['database'],
  });

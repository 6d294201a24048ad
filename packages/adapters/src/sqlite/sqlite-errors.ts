import type { StorageErrorKind } from '@marketkit/core';

/** Maps a better-sqlite3 error to what it means. */
export function classifySqliteError(error: unknown): StorageErrorKind | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return 'uniqueViolation';
    if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return 'foreignKeyViolation';
    if (code === 'SQLITE_CONSTRAINT_CHECK') return 'checkViolation';
    if (code === 'SQLITE_BUSY_SNAPSHOT') return 'serializationFailure';
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'lockNotAvailable';
    if (code.startsWith('SQLITE_IOERR') || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_NOTADB')
      return 'connectionLost';
  }
  if (error instanceof TypeError && /database connection is not open/i.test(error.message)) return 'connectionLost';
  return undefined;
}

/** True for errors better-sqlite3 raised. */
export function isSqliteDriverError(error: unknown): boolean {
  return (error instanceof Error && error.name === 'SqliteError') || classifySqliteError(error) !== undefined;
}

/**
 * True when better-sqlite3 refused a statement because another connection held the lock it needs (`SQLITE_BUSY`,
 * after the connection's busy timeout): the statement changed nothing and can run again. Not
 * `SQLITE_BUSY_SNAPSHOT`, a stale read snapshot that only a new transaction can fix.
 */
export function isSqliteBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_BUSY_RECOVERY' || code === 'SQLITE_BUSY_TIMEOUT';
}

import type { StorageErrorKind } from '@marketkit/core';
import { isPreparedStatementLost } from './prepared-statements.js';

const BY_SQLSTATE: Readonly<Record<string, StorageErrorKind>> = {
  '23505': 'uniqueViolation',
  '23503': 'foreignKeyViolation',
  '23514': 'checkViolation',
  '40001': 'serializationFailure',
  '40P01': 'deadlock',
  '55P03': 'lockNotAvailable',
  '57P01': 'connectionLost',
  '57P02': 'connectionLost',
  '57P03': 'connectionLost',
};

const NODE_CONNECTION_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
]);

/**
 * Maps a pg (node-postgres) error to what it means. pg-pool's "timeout exceeded when trying to connect" (every
 * connection busy for longer than `connectionTimeoutMillis`) is `connectionWaitTimeout`: the database is up but the
 * pool is at capacity. A new connection that the server does not accept in time ("Connection terminated due to
 * connection timeout") or refuses stays `connectionLost`: the database is down or unreachable. A named statement
 * that a pooler's server connection did not have, inside a transaction, is `preparedStatementLost` (rerun it).
 */
export function classifyPostgresError(error: unknown): StorageErrorKind | undefined {
  if (error instanceof Error && error.message === 'timeout exceeded when trying to connect') {
    return 'connectionWaitTimeout';
  }
  if (isPreparedStatementLost(error)) return 'preparedStatementLost';
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    const kind = BY_SQLSTATE[code];
    if (kind !== undefined) return kind;
    if (code.startsWith('08') || NODE_CONNECTION_CODES.has(code)) return 'connectionLost';
  }
  if (
    error instanceof Error &&
    /Connection terminated|Client has encountered a connection error/i.test(error.message)
  ) {
    return 'connectionLost';
  }
  return undefined;
}

/** True for errors pg raised: server errors (with a SQLSTATE and severity) and connection failures. */
export function isPostgresDriverError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const e = error as Error & { code?: unknown; severity?: unknown };
  if (typeof e.severity === 'string' && typeof e.code === 'string') return true;
  return classifyPostgresError(error) !== undefined;
}

import {
  AbortedTransactionError,
  type CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  isAbortedTransactionError,
  type QueryResult,
} from 'kysely';
import { MarketkitError } from '../errors/marketkit-error.js';
import { forwardingDriver, withDriver } from './wrapped-driver.js';

/**
 * A write queued for a transaction's commit (`Storage.onCommit`): a statement whose result nobody reads. It must
 * raise an error itself when it cannot do what it is for (a fenced update that matches no row, say), since its
 * row count is never looked at.
 */
export interface CommitWrite {
  readonly query: CompiledQuery;
  /**
   * The error the transaction fails with when this write fails, from the driver's (say `LEASE_LOST` for a
   * fence's check). Default: the driver's error, classified as any other (a serialization failure is retried).
   */
  readonly error?: (error: unknown) => unknown;
}

/**
 * The writes queued on each connection for its open transaction. A connection is open from its transaction's
 * begin to its commit or rollback; a write queued on a connection that is not open is refused (`INTERNAL`: the
 * caller queued it outside a transaction, or after the commit began, where it would leak into the next one).
 * @internal
 */
export class CommitWrites {
  readonly #queued = new WeakMap<DatabaseConnection, CommitWrite[]>();

  /** `conn` began a transaction: writes may be queued on it. */
  open(conn: DatabaseConnection): void {
    this.#queued.set(conn, []);
  }

  /** Queues `write` for the commit of `conn`'s open transaction. */
  add(conn: DatabaseConnection, write: CommitWrite): void {
    const queued = this.#queued.get(conn);
    if (queued === undefined) {
      throw new MarketkitError('INTERNAL', { message: 'a write queued for commit outside an open transaction' });
    }
    queued.push(write);
  }

  /** The writes queued on `conn`, which is closed: its transaction commits or rolls back now. */
  take(conn: DatabaseConnection): readonly CommitWrite[] {
    const queued = this.#queued.get(conn) ?? [];
    this.#queued.delete(conn);
    return queued;
  }
}

type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/** `start()`'s outcome, whether it throws at once or rejects later. */
function settle<T>(start: () => Promise<T>): Promise<Settled<T>> {
  try {
    return start().then(
      (value) => ({ ok: true, value }),
      (error: unknown) => ({ ok: false, error }),
    );
  } catch (error) {
    return Promise.resolve({ ok: false, error });
  }
}

/**
 * Sends `writes` and then the commit (`commit`, which must throw when the transaction did not commit) on `conn`
 * without waiting between them, so a pipelining connection sends them all in one round trip; then waits for every
 * answer. A write that failed aborted the transaction, so the COMMIT answered ROLLBACK: the first such write's error
 * is thrown (mapped by its `error`), never the commit's; `rolledBack` is called first, as the transaction is over
 * and needs no ROLLBACK. Nothing is left in flight on `conn` when this returns.
 * @internal
 */
export async function commitWithWrites(
  conn: DatabaseConnection,
  writes: readonly CommitWrite[],
  commit: () => Promise<void>,
  rolledBack: () => void = () => {},
): Promise<void> {
  if (writes.length === 0) return commit();
  const sent = writes.map((w) => settle(() => conn.executeQuery(w.query)));
  const committed = await settle(commit);
  const answers = await Promise.all(sent);
  for (const [i, answer] of answers.entries()) {
    if (answer.ok) continue;
    const write = writes[i]!;
    const error = write.error === undefined ? answer.error : write.error(answer.error);
    if (!committed.ok) {
      if (isAbortedTransactionError(committed.error)) rolledBack();
      throw error;
    }
    // The write failed in the client before it reached the server, and the COMMIT went through without it.
    throw new MarketkitError('INTERNAL', {
      message: 'a write queued for commit failed, but the transaction committed without it',
      cause: error,
    });
  }
  if (!committed.ok) throw committed.error;
}

/**
 * A COMMIT's answer: throws Kysely's `AbortedTransactionError` (as its drivers do) when PostgreSQL completed it as
 * ROLLBACK, an earlier statement having aborted the transaction.
 */
export function checkCommitted(result: QueryResult<unknown>): void {
  const command = (result.rows[0] as { command?: unknown } | undefined)?.command;
  if (command === 'ROLLBACK') throw new AbortedTransactionError();
}

/**
 * `dialect`, except that every transaction its driver begins may queue writes for its commit in `writes`: the
 * commit sends them with the COMMIT ({@link commitWithWrites}); a rollback drops them.
 * @internal
 */
export function commitWritesDialect(dialect: Dialect, writes: CommitWrites): Dialect {
  /** Connections whose COMMIT was answered ROLLBACK for a failed queued write: no ROLLBACK to send. */
  const over = new WeakSet<DatabaseConnection>();
  return withDriver(dialect, (driver) =>
    forwardingDriver(driver, {
      async beginTransaction(conn, settings) {
        await driver.beginTransaction(conn, settings);
        writes.open(conn);
      },
      commitTransaction(conn) {
        const commit = () => driver.commitTransaction(conn);
        return commitWithWrites(conn, writes.take(conn), commit, () => over.add(conn));
      },
      async rollbackTransaction(conn) {
        writes.take(conn);
        if (over.delete(conn)) return;
        await driver.rollbackTransaction(conn);
      },
      releaseConnection(conn) {
        writes.take(conn);
        over.delete(conn);
        return driver.releaseConnection(conn);
      },
    }),
  );
}

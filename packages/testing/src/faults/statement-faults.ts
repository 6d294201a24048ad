import type { StorageAdapter } from '@marketkit/core';
import type { CompiledQuery, DatabaseConnection, Dialect, Driver, QueryResult, TransactionSettings } from 'kysely';

/** The error an armed {@link StatementFaults} raises: a driver error the adapter does not know, so `STORAGE_ERROR`. */
export class InjectedStatementFault extends Error {
  constructor(
    readonly statement: number,
    readonly sql: string,
  ) {
    super(`Injected storage fault at statement ${statement}: ${sql.slice(0, 120)}`);
    this.name = 'InjectedStatementFault';
  }
}

const BEGIN = /^\s*begin\b/i;

/** Whether an injected fault stops the statement before the database sees it, or after it ran. */
export type FaultTiming = 'before' | 'after';

/**
 * A storage adapter whose statements can be made to fail one at a time, for tests that force a storage error at
 * every statement of an operation (as a connection pooler that loses prepared statements does). Every statement
 * counts, `begin` and `commit` included, on every connection the adapter hands out.
 */
export interface StatementFaults {
  /** The wrapped adapter: pass it to `createMarketplace`. */
  readonly adapter: StorageAdapter;
  /** Statements run through the adapter so far. */
  readonly count: number;
  /**
   * Arms a fault: the `n`th statement from now (1 = the next one) fails with {@link InjectedStatementFault}, either
   * `before` it reaches the database (nothing happened) or `after` it ran (it took effect, the caller hears an
   * error; a `begin` always fails before it runs). Only one fault is armed at a time; it fires once.
   */
  failNth(n: number, timing?: FaultTiming): void;
  /** Drops an armed fault that has not fired. */
  disarm(): void;
  /** The statement the last fault hit (its SQL), or `undefined` if none fired since the last `failNth`. */
  readonly lastFault: InjectedStatementFault | undefined;
}

/**
 * Wraps `inner` so that tests can fail its `n`th statement on demand ({@link StatementFaults.failNth}). The wrapped
 * adapter is the same database, capabilities and error classification; an injected fault is classified as an
 * unknown driver error (`STORAGE_ERROR`).
 *
 * @example
 * ```ts
 * const faults = withStatementFaults(sqliteAdapter({ filename: 'test.db' }));
 * const market = createMarketplace({ adapter: faults.adapter, payments: psp });
 * faults.failNth(3); // the third statement from now fails before it runs
 * ```
 */
export function withStatementFaults(inner: StorageAdapter): StatementFaults {
  let count = 0;
  let armed: { at: number; timing: FaultTiming } | undefined;
  let lastFault: InjectedStatementFault | undefined;
  const run = async <R>(query: CompiledQuery, execute: () => Promise<QueryResult<R>>): Promise<QueryResult<R>> => {
    count++;
    const fault = armed !== undefined && armed.at === count ? armed : undefined;
    if (fault === undefined) return execute();
    armed = undefined;
    lastFault = new InjectedStatementFault(count, query.sql);
    // A `begin` that ran and then failed would leave the connection inside a transaction that no caller knows of,
    // which no driver reports (a lost connection is gone with its transaction): it fails before it runs.
    if (fault.timing === 'after' && !BEGIN.test(query.sql)) await execute();
    throw lastFault;
  };
  const adapter: StorageAdapter = Object.create(inner, {
    dialect: { value: faultyDialect(inner.dialect, run), enumerable: true },
    isDriverError: { value: (e: unknown) => e instanceof InjectedStatementFault || inner.isDriverError(e) },
  }) as StorageAdapter;
  return {
    adapter,
    get count() {
      return count;
    },
    get lastFault() {
      return lastFault;
    },
    failNth(n: number, timing: FaultTiming = 'before') {
      if (!Number.isInteger(n) || n < 1) throw new RangeError('failNth: n must be a positive integer');
      armed = { at: count + n, timing };
      lastFault = undefined;
    },
    disarm() {
      armed = undefined;
    },
  };
}

type Run = <R>(query: CompiledQuery, execute: () => Promise<QueryResult<R>>) => Promise<QueryResult<R>>;

function faultyDialect(inner: Dialect, run: Run): Dialect {
  return {
    createAdapter: () => inner.createAdapter(),
    createDriver: () => faultyDriver(inner.createDriver(), run),
    createQueryCompiler: () => inner.createQueryCompiler(),
    createIntrospector: (db) => inner.createIntrospector(db),
  };
}

function faultyDriver(inner: Driver, run: Run): Driver {
  const originals = new WeakMap<DatabaseConnection, DatabaseConnection>();
  const wrap = (connection: DatabaseConnection): DatabaseConnection => {
    const wrapped = new Proxy(connection, {
      get(target, prop) {
        if (prop === 'executeQuery') return <R>(q: CompiledQuery) => run<R>(q, () => target.executeQuery<R>(q));
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    originals.set(wrapped, connection);
    return wrapped;
  };
  const original = (c: DatabaseConnection) => originals.get(c) ?? c;
  const driver: Driver = {
    init: () => inner.init(),
    acquireConnection: async () => wrap(await inner.acquireConnection()),
    // The inner driver begins, commits and rolls back through the wrapped connection, so those statements count.
    beginTransaction: (c: DatabaseConnection, settings: TransactionSettings) => inner.beginTransaction(c, settings),
    commitTransaction: (c: DatabaseConnection) => inner.commitTransaction(c),
    rollbackTransaction: (c: DatabaseConnection) => inner.rollbackTransaction(c),
    releaseConnection: (c: DatabaseConnection) => inner.releaseConnection(original(c)),
    destroy: () => inner.destroy(),
  };
  return driver;
}

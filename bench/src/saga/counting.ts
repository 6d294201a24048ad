/**
 * Round-trip counters for the saga bench: a Kysely dialect wrapper that counts every statement a connection
 * sends (BEGIN and COMMIT included), and a pg pool whose clients count theirs (for DBOS's system database).
 */
import type { StorageAdapter } from '@marketkit/core';
import type { CompiledQuery, DatabaseConnection, Dialect, Driver } from 'kysely';
import pg from 'pg';

/** A running count of statements sent. */
export interface Counter {
  count: number;
}

function countingConnection(c: DatabaseConnection, counter: Counter): DatabaseConnection {
  return {
    executeQuery(q: CompiledQuery) {
      counter.count++;
      return c.executeQuery(q);
    },
    streamQuery: (q, chunkSize) => c.streamQuery(q, chunkSize),
  };
}

/** `adapter` with a dialect whose connections count every statement into `counter`. */
export function countingAdapter(adapter: StorageAdapter, counter: Counter): StorageAdapter {
  const inner = adapter.dialect;
  const dialect: Dialect = {
    createAdapter: () => inner.createAdapter(),
    createIntrospector: (db) => inner.createIntrospector(db),
    createQueryCompiler: () => inner.createQueryCompiler(),
    createDriver: (): Driver => {
      const driver = inner.createDriver();
      const wrapped = new WeakMap<DatabaseConnection, DatabaseConnection>();
      const original = new WeakMap<DatabaseConnection, DatabaseConnection>();
      return {
        init: () => driver.init(),
        acquireConnection: async () => {
          const c = await driver.acquireConnection();
          let w = wrapped.get(c);
          if (w === undefined) {
            w = countingConnection(c, counter);
            wrapped.set(c, w);
            original.set(w, c);
          }
          return w;
        },
        beginTransaction: (c, settings) => driver.beginTransaction(c, settings),
        commitTransaction: (c) => driver.commitTransaction(c),
        rollbackTransaction: (c) => driver.rollbackTransaction(c),
        releaseConnection: (c) => driver.releaseConnection(original.get(c) ?? c),
        destroy: () => driver.destroy(),
      };
    },
  };
  return { ...adapter, dialect };
}

/** A pg pool whose clients count every query they send into `counter`. */
export function countingPgPool(connectionString: string, max: number, counter: Counter): pg.Pool {
  const pool = new pg.Pool({ connectionString, max });
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      counter.count++;
      return query(...args);
    };
  });
  pool.on('error', () => {});
  return pool;
}

import type { PaymentProvider, StorageAdapter } from '@marketkit/core';
import type { CompiledQuery, DatabaseConnection, Dialect, Driver, QueryResult, TransactionSettings } from 'kysely';

/** What a crashed virtual worker's statements and provider calls fail with: its process is gone. */
export class SimulatedCrash extends Error {
  constructor(readonly worker: string) {
    super(`virtual worker ${worker} crashed (simulated)`);
    this.name = 'SimulatedCrash';
  }
}

const ROLLBACK = /^\s*rollback\b/i;

/**
 * The life of one virtual worker process: it dies at an armed step boundary (a statement or a provider call), and
 * from then on every statement and provider call it makes fails before it reaches the database or the provider.
 * A rollback still runs, so a transaction cut short leaves nothing behind, as a dropped connection does.
 * @internal
 */
export class ProcessLife {
  #dead = false;
  #fuel: number | undefined;
  constructor(readonly name: string) {}

  /** True once the process died. */
  get dead(): boolean {
    return this.#dead;
  }

  /** Dies at the `points`th boundary from now (0: at the next one). */
  arm(points: number): void {
    this.#fuel = points;
  }

  /** Drops an armed crash that has not happened. */
  disarm(): void {
    this.#fuel = undefined;
  }

  /** Called at each boundary: throws once the process is dead. */
  pass(): void {
    if (!this.#dead && this.#fuel !== undefined) {
      if (this.#fuel <= 0) this.#dead = true;
      else this.#fuel--;
    }
    if (this.#dead) throw new SimulatedCrash(this.name);
  }

  /** `inner` seen from this process: its statements are boundaries, and fail once the process died. */
  adapter(inner: StorageAdapter): StorageAdapter {
    const run = <R>(query: CompiledQuery, execute: () => Promise<QueryResult<R>>): Promise<QueryResult<R>> => {
      if (!ROLLBACK.test(query.sql)) this.pass();
      return execute();
    };
    return Object.create(inner, {
      dialect: { value: lifeDialect(inner.dialect, run), enumerable: true },
      isDriverError: { value: (e: unknown) => e instanceof SimulatedCrash || inner.isDriverError(e) },
    }) as StorageAdapter;
  }

  /** `inner` seen from this process: each call is a boundary, and fails before it is made once the process died. */
  provider(inner: PaymentProvider): PaymentProvider {
    return new Proxy(inner, {
      get: (target, prop) => {
        const value: unknown = Reflect.get(target, prop, target);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          try {
            this.pass();
          } catch (error) {
            return Promise.reject(error);
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  }
}

type Run = <R>(query: CompiledQuery, execute: () => Promise<QueryResult<R>>) => Promise<QueryResult<R>>;

function lifeDialect(inner: Dialect, run: Run): Dialect {
  return {
    createAdapter: () => inner.createAdapter(),
    createDriver: () => lifeDriver(inner.createDriver(), run),
    createQueryCompiler: () => inner.createQueryCompiler(),
    createIntrospector: (db) => inner.createIntrospector(db),
  };
}

function lifeDriver(inner: Driver, run: Run): Driver {
  const originals = new WeakMap<DatabaseConnection, DatabaseConnection>();
  const wrap = (connection: DatabaseConnection): DatabaseConnection => {
    const wrapped: DatabaseConnection = {
      executeQuery: <R>(q: CompiledQuery) => run<R>(q, () => connection.executeQuery<R>(q)),
      streamQuery: <R>(q: CompiledQuery, chunkSize?: number) => connection.streamQuery<R>(q, chunkSize),
    };
    originals.set(wrapped, connection);
    return wrapped;
  };
  return {
    init: () => inner.init(),
    acquireConnection: async () => wrap(await inner.acquireConnection()),
    beginTransaction: (c: DatabaseConnection, settings: TransactionSettings) => inner.beginTransaction(c, settings),
    commitTransaction: (c: DatabaseConnection) => inner.commitTransaction(c),
    rollbackTransaction: (c: DatabaseConnection) => inner.rollbackTransaction(c),
    releaseConnection: (c: DatabaseConnection) => inner.releaseConnection(originals.get(c) ?? c),
    destroy: () => inner.destroy(),
  };
}

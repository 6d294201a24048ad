import type { DatabaseConnection, Dialect, Driver, TransactionSettings } from 'kysely';
import { retryWhileBusy } from './retry-while-busy.js';
import type { WriteLockWait } from './storage-adapter.js';

/**
 * `dialect`, except that its driver's `beginTransaction` waits for the write lock as {@link retryWhileBusy} does:
 * every Kysely transaction Storage opens (`transaction`, `snapshot`) waits its turn instead of failing busy. Core's
 * wrapper around the adapter's driver, as kysely wraps every driver in its own runtime driver.
 */
export function waitingDialect(dialect: Dialect, wait: WriteLockWait): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createDriver: () => waitingDriver(dialect.createDriver(), wait),
  };
}

function waitingDriver(driver: Driver, wait: WriteLockWait): Driver {
  return {
    init: () => driver.init(),
    acquireConnection: () => driver.acquireConnection(),
    async beginTransaction(conn: DatabaseConnection, settings: TransactionSettings) {
      const begin = () => driver.beginTransaction(conn, settings);
      try {
        await begin();
      } catch (error) {
        await retryWhileBusy(begin, error, wait);
      }
    },
    commitTransaction: (conn) => driver.commitTransaction(conn),
    rollbackTransaction: (conn) => driver.rollbackTransaction(conn),
    releaseConnection: (conn) => driver.releaseConnection(conn),
    destroy: () => driver.destroy(),
    ...(driver.savepoint === undefined ? {} : { savepoint: driver.savepoint.bind(driver) }),
    ...(driver.rollbackToSavepoint === undefined
      ? {}
      : { rollbackToSavepoint: driver.rollbackToSavepoint.bind(driver) }),
    ...(driver.releaseSavepoint === undefined ? {} : { releaseSavepoint: driver.releaseSavepoint.bind(driver) }),
  };
}

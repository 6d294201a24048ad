import type { Dialect, Driver } from 'kysely';

/**
 * `dialect`, except that the time its driver's `acquireConnection` takes (a pool's wait for a free connection;
 * SQLite's wait for its one connection) goes to `record`, in seconds. Used only when metrics are on.
 */
export function timedDialect(dialect: Dialect, record: (seconds: number) => void): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createDriver: () => timedDriver(dialect.createDriver(), record),
  };
}

function timedDriver(driver: Driver, record: (seconds: number) => void): Driver {
  return {
    init: () => driver.init(),
    async acquireConnection() {
      const started = performance.now();
      const conn = await driver.acquireConnection();
      record((performance.now() - started) / 1000);
      return conn;
    },
    beginTransaction: (conn, settings) => driver.beginTransaction(conn, settings),
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

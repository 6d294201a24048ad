import type { Dialect, Driver } from 'kysely';

/** `dialect`, with every driver it creates passed through `wrap`. */
export function withDriver(dialect: Dialect, wrap: (driver: Driver) => Driver): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createDriver: () => wrap(dialect.createDriver()),
  };
}

/** A driver that forwards every call to `driver`, except the ones `overrides` replaces. */
export function forwardingDriver(driver: Driver, overrides: Partial<Driver>): Driver {
  return {
    init: () => driver.init(),
    acquireConnection: () => driver.acquireConnection(),
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
    ...overrides,
  };
}

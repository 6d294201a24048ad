import type { Dialect } from 'kysely';
import { forwardingDriver, withDriver } from './wrapped-driver.js';

/**
 * `dialect`, except that the time its driver's `acquireConnection` takes (a pool's wait for a free connection;
 * SQLite's wait for its one connection) goes to `record`, in seconds. Used only when metrics are on.
 */
export function timedDialect(dialect: Dialect, record: (seconds: number) => void): Dialect {
  return withDriver(dialect, (driver) =>
    forwardingDriver(driver, {
      async acquireConnection() {
        const started = performance.now();
        const conn = await driver.acquireConnection();
        record((performance.now() - started) / 1000);
        return conn;
      },
    }),
  );
}

import type { Dialect } from 'kysely';
import { retryWhileBusy } from './retry-while-busy.js';
import type { WriteLockWait } from './storage-adapter.js';
import { forwardingDriver, withDriver } from './wrapped-driver.js';

/**
 * `dialect`, except that its driver's `beginTransaction` waits for the write lock as {@link retryWhileBusy} does:
 * every Kysely transaction Storage opens (`transaction`, `snapshot`) waits its turn instead of failing busy. Core's
 * wrapper around the adapter's driver, as kysely wraps every driver in its own runtime driver.
 */
export function waitingDialect(dialect: Dialect, wait: WriteLockWait): Dialect {
  return withDriver(dialect, (driver) =>
    forwardingDriver(driver, {
      async beginTransaction(conn, settings) {
        const begin = () => driver.beginTransaction(conn, settings);
        try {
          await begin();
        } catch (error) {
          await retryWhileBusy(begin, error, wait);
        }
      },
    }),
  );
}

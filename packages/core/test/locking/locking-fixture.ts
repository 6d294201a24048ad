import type { TestDatabase } from '@marketkit/testing';
import { migrate } from '../../src/schema/migrate.js';
import { ledgerMigration } from '../../src/schema/migrations/0001-ledger.js';
import { lockingMigration } from '../../src/schema/migrations/0003-locking.js';
import { tenantsMigration } from '../../src/schema/migrations/0015-tenants.js';
import { Storage } from '../../src/storage/storage.js';

/**
 * Opens `count` independent storages (own pool or own SQLite connection) on `database`, with the ledger's and the
 * locking module's tables. Only those two migrations run, so these tests do not depend on other modules' tables.
 */
export async function openStorages(database: TestDatabase, count: number, max = 4): Promise<Storage[]> {
  const storages = Array.from({ length: count }, () => new Storage(database.adapter({ max })));
  const first = storages[0];
  if (first === undefined) throw new Error('count must be at least 1');
  await migrate(first, [ledgerMigration, lockingMigration, tenantsMigration]);
  return storages;
}

/** Inserts bare accounts (balance columns used as counters by these tests). */
export async function insertAccounts(storage: Storage, ids: readonly string[]): Promise<void> {
  await storage.transaction((trx) =>
    trx
      .insertInto('accounts')
      .values(ids.map((id) => ({ id, code: 1, currency: 'USD', flags: 0, created_at: 0 })))
      .execute(),
  );
}

/** A one-shot barrier: the returned function resolves once `parties` callers have reached it. */
export function barrier(parties: number, timeoutMs = 10_000): () => Promise<void> {
  let arrived = 0;
  let open = (): void => {};
  const opened = new Promise<void>((resolve, reject) => {
    open = resolve;
    setTimeout(() => reject(new Error(`barrier: ${arrived} of ${parties} arrived`)), timeoutMs).unref();
  });
  opened.catch(() => {});
  return async () => {
    arrived += 1;
    if (arrived >= parties) open();
    await opened;
  };
}

/** A promise with its resolve function outside. */
export function deferred(): { readonly promise: Promise<void>; readonly resolve: () => void } {
  let resolve = (): void => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Resolves to true if `promise` settles within `ms`. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = promise.then(
    () => true,
    () => true,
  );
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Closes every storage, then lets the connections finish closing. pg-pool's `end()` resolves before its clients'
 * sockets close, and `drop()` (`DROP DATABASE … WITH (FORCE)`) would then terminate them; with no `error` listener
 * on the adapter's pool that surfaces as an unhandled 57P01 error in whichever test file runs next.
 */
export async function closeAll(storages: readonly Storage[] | undefined): Promise<void> {
  await Promise.all((storages ?? []).map((s) => s.destroy()));
  await new Promise((resolve) => setTimeout(resolve, 100));
}

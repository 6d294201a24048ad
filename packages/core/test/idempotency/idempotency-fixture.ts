import { randomUUID } from 'node:crypto';
import type { Clock } from '@marketkit/core';
import type { TestDatabase } from '@marketkit/testing';
import { Idempotency } from '../../src/idempotency/idempotency.js';
import type { IdempotencyOptions } from '../../src/idempotency/idempotency-types.js';
import { migrate } from '../../src/schema/migrate.js';
import { ledgerMigration } from '../../src/schema/migrations/0001-ledger.js';
import { idempotencyMigration } from '../../src/schema/migrations/0006-idempotency.js';
import { tenantsMigration } from '../../src/schema/migrations/0015-tenants.js';
import { type MarketkitTransaction, Storage } from '../../src/storage/storage.js';

/**
 * Opens a storage on `database` with only the ledger's and the idempotency module's tables, so these tests do not
 * depend on other modules' migrations. The `transfers` table serves as the business table: each run of an
 * idempotent function inserts one row whose `reference` is the key, so a count shows how often it committed.
 */
export async function openStorage(database: TestDatabase, max = 4): Promise<Storage> {
  const storage = new Storage(database.adapter({ max }));
  await migrate(storage, [ledgerMigration, idempotencyMigration, tenantsMigration]);
  return storage;
}

/** An idempotency module on `storage`. */
export function idempotencyOn(storage: Storage, clock: Clock, options: IdempotencyOptions = {}): Idempotency {
  return new Idempotency(storage, clock, options);
}

/** The business write of the tests: one `transfers` row tagged with `reference`. */
export async function insertEffect(trx: MarketkitTransaction, reference: string): Promise<string> {
  const id = `fx_${randomUUID()}`;
  await trx
    .insertInto('transfers')
    .values({
      id,
      debit_account_id: 'a',
      credit_account_id: 'b',
      amount: 1n,
      currency: 'USD',
      code: 1,
      reference,
      flags: 0,
      created_at: 0,
    })
    .execute();
  return id;
}

/** How many business writes tagged `reference` committed. */
export async function countEffects(storage: Storage, reference: string): Promise<number> {
  const row = await storage.run((db) =>
    db
      .selectFrom('transfers')
      .select((eb) => eb.fn.countAll<bigint | number | string>().as('n'))
      .where('reference', '=', reference)
      .executeTakeFirstOrThrow(),
  );
  return Number(row.n);
}

/** Settles `promise` into its value or the code of the Marketkit error it threw (`error:<name>` otherwise). */
export async function outcome<T>(promise: Promise<T>): Promise<{ ok: T } | { code: string }> {
  try {
    return { ok: await promise };
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    return { code: typeof code === 'string' ? code : `error:${(e as Error).name}` };
  }
}

/** Closes storages and lets pg-pool's sockets finish closing before the database is dropped. */
export async function closeAll(storages: readonly (Storage | undefined)[]): Promise<void> {
  await Promise.all(storages.map((s) => s?.destroy()));
  await new Promise((resolve) => setTimeout(resolve, 100));
}

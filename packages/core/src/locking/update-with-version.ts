import { type Kysely, type Selectable, type SelectType, sql, type Transaction, type UpdateObject } from 'kysely';
import { MarketkitError } from '../errors/marketkit-error.js';

/** Names of the tables of `DB` that carry a `version` column (a 64-bit integer bumped on every update). */
export type VersionedTableName<DB> = {
  [T in keyof DB & string]: 'version' extends keyof DB[T] ? T : never;
}[keyof DB & string];

/** The assignments {@link updateWithVersion} applies: any column but `version`, which it bumps itself. */
export type VersionedUpdate<DB, T extends keyof DB> = Omit<UpdateObject<DB, T>, 'version'>;

/** The loose view the helper queries through; the public signature keeps the caller's types. */
type LooseDatabase = Record<string, Record<string, LooseValue>>;
type LooseValue = string | number | bigint | boolean | null;

/**
 * Optimistic concurrency control: updates the row whose `keyColumn` is `key` only if its `version` is still
 * `expectedVersion`, sets `version = version + 1` in the same statement, and returns the updated row.
 *
 * Concurrency contract: of any number of concurrent callers passing the same `expectedVersion` for one row, at
 * most one MUST succeed (exactly one when the row has that version and nothing else writes it); every other
 * caller MUST get a `MarketkitError` with code `CONCURRENCY_CONFLICT` (retryable) and MUST NOT change the row.
 * A missing row also gives `CONCURRENCY_CONFLICT` (`details.actualVersion` is then `null`). Under PostgreSQL's
 * default READ COMMITTED the loser waits for the winner's row lock, re-checks the version and matches nothing;
 * under REPEATABLE READ or SERIALIZABLE it gets a serialization failure, which `storage.transaction` reruns.
 *
 * `db` is a transaction (usually) or the Kysely instance (a single autocommitted statement).
 * Read the row (and its version) in one transaction or outside any, decide, then write with this helper;
 * wrap the whole read-decide-write in {@link withOptimisticRetry} to reload and retry on a conflict.
 *
 * @example
 * ```ts
 * await withOptimisticRetry(async () => {
 *   const row = await storage.run((db) =>
 *     db.selectFrom('accounts').selectAll().where('id', '=', 'seller-1').executeTakeFirstOrThrow(),
 *   );
 *   const note = decideSomething(row); // outside any transaction: nothing is locked meanwhile
 *   await storage.transaction((trx) =>
 *     updateWithVersion(trx, 'accounts', 'id', 'seller-1', row.version, { user_data: note }),
 *   );
 * });
 * ```
 */
export async function updateWithVersion<DB, T extends VersionedTableName<DB>, K extends keyof DB[T] & string>(
  db: Transaction<DB> | Kysely<DB>,
  table: T,
  keyColumn: K,
  key: NoInfer<SelectType<DB[T][K]>>,
  expectedVersion: bigint | number,
  set: NoInfer<VersionedUpdate<DB, T>>,
): Promise<Selectable<DB[T]>> {
  const loose = db as unknown as Kysely<LooseDatabase>;
  const [name, column, value]: [string, string, LooseValue] = [table, keyColumn, key as LooseValue];
  const row = await loose
    .updateTable(name)
    .set({ ...(set as Record<string, LooseValue>), version: sql`${sql.ref('version')} + 1` })
    .where(column, '=', value)
    .where('version', '=', expectedVersion)
    .returningAll()
    .executeTakeFirst();
  if (row !== undefined) return row as Selectable<DB[T]>;
  const current = await loose.selectFrom(name).select('version').where(column, '=', value).executeTakeFirst();
  throw new MarketkitError('CONCURRENCY_CONFLICT', {
    message: `The ${name} row ${String(key)} is no longer at version ${String(expectedVersion)}; reload and retry.`,
    details: {
      reason: 'version',
      resource: name,
      id: String(key),
      expectedVersion: String(expectedVersion),
      actualVersion: current === undefined ? null : String(current['version']),
    },
  });
}

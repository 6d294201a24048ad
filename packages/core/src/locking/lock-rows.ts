import type { Selectable, SelectType, Transaction } from 'kysely';
import { z } from 'zod';
import { parseInput, ValidationError } from '../errors/validation-error.js';
import type { StorageCapabilities } from '../storage/storage-adapter.js';
import { LOCKING_LIMITS } from './locking-limits.js';

/**
 * How {@link lockRows} treats a row another transaction has locked:
 * - `wait` (default): block until that transaction ends, then lock the row as it is now;
 * - `nowait`: fail at once with `LOCK_NOT_AVAILABLE` (PostgreSQL `FOR UPDATE NOWAIT`);
 * - `skipLocked`: leave the row out of the result (PostgreSQL `FOR UPDATE SKIP LOCKED`), for work queues.
 */
export type LockMode = 'wait' | 'nowait' | 'skipLocked';

/** Options of {@link lockRows}. */
export interface LockRowsOptions {
  /** Default `wait`. */
  readonly mode?: LockMode;
}

const optionsSchema = z.strictObject({ mode: z.enum(['wait', 'nowait', 'skipLocked']).default('wait') });

/** The loose view the helper queries through; the public signature keeps the caller's types. */
type LooseDatabase = Record<string, Record<string, LooseValue>>;
type LooseValue = string | number | bigint | boolean | null;

/**
 * Pessimistic locking: selects the rows of `table` whose `keyColumn` is in `keys` and locks them until `trx`
 * ends. Returns the rows in key order (the database's order of `keyColumn`); missing keys (and, with
 * `skipLocked`, rows other transactions hold) are left out. At most `LOCKING_LIMITS.maxLockKeys` keys.
 *
 * Concurrency contract:
 * - Until `trx` ends, any other transaction that locks or updates a returned row MUST wait for it (or, with
 *   `nowait` / `skipLocked`, fail or skip the row).
 * - Rows are locked in key order in one statement, so any number of concurrent callers locking overlapping key
 *   sets with one call each MUST NOT deadlock one another. Lock everything a transaction needs in one call; a
 *   second call is deadlock-free only if all its keys sort after the first call's.
 * - `nowait`: if any row is held elsewhere the call MUST fail without waiting. On PostgreSQL that aborts the
 *   transaction, so let the error propagate: it surfaces from `storage.transaction` as `LOCK_NOT_AVAILABLE`
 *   (retryable, but not retried automatically: the caller decides whether to come back later).
 * - `skipLocked`: the call MUST NOT wait and MUST NOT return a row another transaction holds, so concurrent
 *   claimers get disjoint rows.
 *
 * Backends without row locks (`capabilities.rowLocks` false: SQLite, whose write transactions begin
 * `IMMEDIATE` and so hold the one database write lock for their whole life) select the rows without a lock
 * clause: no other writer can hold any row, so `skipLocked` never skips and `wait`/`nowait` never wait here.
 * The waiting happens at `BEGIN IMMEDIATE` instead, for at most the adapter's deadline
 * (`sqliteAdapter({ busyTimeoutMs })`, 30 s by default); a short one is SQLite's `nowait`, and running out of it
 * surfaces as `LOCK_NOT_AVAILABLE` too. Where row locks exist but the requested variant does not
 * (`capabilities.noWait` or `capabilities.skipLocked` false), the call throws `VALIDATION_FAILED` rather than
 * silently waiting.
 *
 * @example
 * ```ts
 * await storage.transaction(async (trx) => {
 *   const [from, to] = await lockRows(trx, storage.adapter.capabilities, 'accounts', 'id', ['a', 'b']);
 *   // both rows are ours until commit, whichever order other transactions ask for them in
 * });
 * ```
 */
export async function lockRows<DB, T extends keyof DB & string, K extends keyof DB[T] & string>(
  trx: Transaction<DB>,
  caps: StorageCapabilities,
  table: T,
  keyColumn: K,
  keys: readonly NoInfer<SelectType<DB[T][K]>>[],
  options: LockRowsOptions = {},
): Promise<Selectable<DB[T]>[]> {
  const { mode } = parseInput(optionsSchema, options, 'lock options');
  if (keys.length > LOCKING_LIMITS.maxLockKeys) {
    throw new ValidationError([{ path: ['keys'], message: `at most ${LOCKING_LIMITS.maxLockKeys} keys per call` }]);
  }
  const unique = [...new Set(keys)];
  if (unique.length === 0) return [];
  const column: string = keyColumn;
  let query = (trx as unknown as Transaction<LooseDatabase>)
    .selectFrom(table as string)
    .selectAll()
    .where(column, 'in', unique as LooseValue[])
    .orderBy(column);
  if (caps.rowLocks) {
    query = query.forUpdate();
    if (mode === 'nowait') query = caps.noWait ? query.noWait() : unsupported('noWait');
    if (mode === 'skipLocked') query = caps.skipLocked ? query.skipLocked() : unsupported('skipLocked');
  }
  return (await query.execute()) as Selectable<DB[T]>[];
}

function unsupported(capability: 'noWait' | 'skipLocked'): never {
  throw new ValidationError([
    {
      path: ['mode'],
      message: `the backend locks rows but has no ${capability} (capabilities.${capability} is false)`,
    },
  ]);
}

import { type Kysely, type Selectable, sql } from 'kysely';
import type { MarketkitDatabase } from '../schema/database.js';
import type { StatementTemplates } from './statement-template.js';
import type { StorageCapabilities } from './storage-adapter.js';

/** Tables whose rows are claimed by workers under a lease: `next_run_at` is due time, then lease expiry. */
export type LeasedTable = 'jobs' | 'saga_instances';

/**
 * Claims up to `limit` due rows of `table` (or rows whose lease expired) for `owner` until `now + leaseMs`, bumping
 * each one's fencing token (`version`), and returns the claimed rows. `FOR UPDATE SKIP LOCKED` where the backend has it,
 * so concurrent claimers take disjoint rows without waiting; elsewhere the `next_run_at <= now` guard of the one
 * `UPDATE` (under the database write lock) makes the claim exclusive.
 *
 * One statement, so callers run it in autocommit (`Storage.autocommit`): a transaction around it would only add
 * the `BEGIN` and `COMMIT` round trips (a worker claims every time a saga or job of its own finishes).
 *
 * Concurrency contract: a row is claimed by at most one caller per expiry of its lease.
 */
export async function claimLeased<T extends LeasedTable>(
  executor: Kysely<MarketkitDatabase>,
  templates: StatementTemplates,
  caps: StorageCapabilities,
  table: T,
  owner: string,
  limit: number,
  now: number,
  leaseMs: number,
): Promise<Selectable<MarketkitDatabase[T]>[]> {
  // Compiled once per table (a statement template: no query building or plugin pass per claim, which cost more CPU
  // than the claim's round trip), then bound.
  const claim = templates.get(`lease-claim:${table}:${caps.skipLocked}`, (built, p) => {
    // Both tables share the lease columns; type the statement against one of them.
    const db = built as unknown as Kysely<Pick<MarketkitDatabase, 'jobs'>>;
    const name = table as 'jobs';
    let due = db
      .selectFrom(name)
      .select('id')
      .where('next_run_at', '<=', p('now'))
      .orderBy('next_run_at')
      .limit(p('limit'));
    if (caps.skipLocked) due = due.forUpdate().skipLocked();
    // The batch as a CTE, run once (a CTE that locks rows is never folded into the query): as `IN (subquery)` the
    // planner may rescan it per candidate row, and a rescan of `LIMIT … SKIP LOCKED` can claim more than `limit`.
    return db
      .with('due', () => due)
      .updateTable(name)
      .set({
        lease_owner: p('owner'),
        lease_expires_at: p('until'),
        next_run_at: p('until'),
        version: sql`version + 1`,
        updated_at: p('now'),
      })
      .where('id', 'in', (eb) => eb.selectFrom('due').select('due.id'))
      .where('next_run_at', '<=', p('now'))
      .returningAll();
  });
  const result = await executor.executeQuery(claim.bind({ owner, limit, now, until: now + leaseMs }));
  return result.rows as unknown as Selectable<MarketkitDatabase[T]>[];
}

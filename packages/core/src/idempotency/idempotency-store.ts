import { type ExpressionBuilder, type Kysely, sql } from 'kysely';
import { MarketkitError } from '../errors/marketkit-error.js';
import type { MarketkitDatabase } from '../schema/database.js';
import { toNumber } from '../storage/int64.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import type { StorageCapabilities } from '../storage/storage-adapter.js';
import type { IdempotencyStatus } from './idempotency-tables.js';
import type { IdempotencyRecord, IdempotencyScope } from './idempotency-types.js';
import { markReplayed } from './replay-mark.js';
import { decodeError } from './result-encoding.js';

/** A key's scope with its request's fingerprint. */
export interface FingerprintedScope extends IdempotencyScope {
  readonly fingerprint: string;
}

/** The record a claim writes. */
export interface ClaimValues {
  readonly now: number;
  readonly status: IdempotencyStatus;
  readonly result: string | null;
  readonly lockToken: string | null;
  readonly lockedUntil: number | null;
  readonly expiresAt: number;
}

/**
 * Claims the key in one statement: inserts the record, or replaces one that expired, or takes over an in-progress
 * record of the same request whose lock expired. Returns the claim's attempt number, or `undefined` when the key is
 * someone else's (then read it with {@link readRecord} in the same transaction).
 *
 * On PostgreSQL a concurrent claim of the same key waits here until the transaction that inserted or updated the
 * row ends, then sees its outcome; the statement locks the conflicting row even when it does not update it, so the
 * record cannot change before the caller reads it.
 */
export async function claimKey(
  trx: Kysely<MarketkitDatabase>,
  scope: FingerprintedScope,
  v: ClaimValues,
): Promise<number | undefined> {
  const row = await claimKeyQuery(trx, scope, claimColumns(v)).executeTakeFirst();
  return row === undefined ? undefined : toNumber(row.attempt);
}

/** The column values of a claim, as {@link claimKeyQuery} binds them. */
export interface ClaimColumns {
  readonly now: bigint;
  readonly status: IdempotencyStatus;
  readonly result: string | null;
  readonly lockToken: string | null;
  readonly lockedUntil: number | null;
  readonly attempt: number;
  readonly completedAt: number | null;
  readonly expiresAt: number;
}

/** The columns a claim writes. */
export function claimColumns(v: ClaimValues): ClaimColumns {
  return {
    now: BigInt(v.now),
    status: v.status,
    result: v.result,
    lockToken: v.lockToken,
    lockedUntil: v.lockedUntil,
    attempt: 1,
    completedAt: v.status === 'in_progress' ? null : v.now,
    expiresAt: v.expiresAt,
  };
}

/**
 * The statement of {@link claimKey}, not yet run: every value comes from `scope` and `c`, so it can also be built
 * once as a statement template with placeholders.
 */
export function claimKeyQuery(db: Kysely<MarketkitDatabase>, scope: FingerprintedScope, c: ClaimColumns) {
  return insertKeyQuery(db, scope, c)
    .onConflict((oc) =>
      oc
        .columns(['actor', 'operation', 'idempotency_key'])
        .doUpdateSet((eb) => ({
          fingerprint: eb.ref('excluded.fingerprint'),
          status: eb.ref('excluded.status'),
          result: eb.ref('excluded.result'),
          lock_token: eb.ref('excluded.lock_token'),
          locked_until: eb.ref('excluded.locked_until'),
          attempt: sql<bigint>`case when ${sql.ref('idempotency_keys.expires_at')} <= ${c.now} then 1
            else ${sql.ref('idempotency_keys.attempt')} + 1 end`,
          created_at: eb.ref('excluded.created_at'),
          completed_at: eb.ref('excluded.completed_at'),
          expires_at: eb.ref('excluded.expires_at'),
        }))
        .where((eb) =>
          eb.or([
            eb('idempotency_keys.expires_at', '<=', c.now),
            eb.and([
              eb('idempotency_keys.status', '=', sql.lit('in_progress')),
              eb('idempotency_keys.locked_until', '<=', c.now),
              eb('idempotency_keys.fingerprint', '=', eb.ref('excluded.fingerprint')),
            ]),
          ]),
        ),
    )
    .returning('attempt');
}

/**
 * The insert of a claim alone, for a key that is free (never used or swept): `ON CONFLICT DO NOTHING`, so it
 * returns no row, and changes nothing, when the key has a record (then claim it with {@link claimKey}, which also
 * replaces an expired record or takes over an abandoned one).
 */
export function insertNewKeyQuery(db: Kysely<MarketkitDatabase>, scope: FingerprintedScope, c: ClaimColumns) {
  return insertKeyQuery(db, scope, c)
    .onConflict((oc) => oc.columns(['actor', 'operation', 'idempotency_key']).doNothing())
    .returning('attempt');
}

function insertKeyQuery(db: Kysely<MarketkitDatabase>, scope: FingerprintedScope, c: ClaimColumns) {
  return db.insertInto('idempotency_keys').values({
    actor: scope.actor,
    operation: scope.operation,
    idempotency_key: scope.key,
    fingerprint: scope.fingerprint,
    status: c.status,
    result: c.result,
    lock_token: c.lockToken,
    locked_until: c.lockedUntil,
    attempt: c.attempt,
    created_at: c.now,
    completed_at: c.completedAt,
    expires_at: c.expiresAt,
  });
}

/** The stored record of a key, or `undefined`. */
export async function readRecord(
  db: Kysely<MarketkitDatabase>,
  scope: IdempotencyScope,
  now: number,
): Promise<(IdempotencyRecord & { readonly result: string | null }) | undefined> {
  const row = await db
    .selectFrom('idempotency_keys')
    .selectAll()
    .where('actor', '=', scope.actor)
    .where('operation', '=', scope.operation)
    .where('idempotency_key', '=', scope.key)
    .executeTakeFirst();
  if (row === undefined) return undefined;
  const expiresAt = toNumber(row.expires_at);
  return Object.freeze({
    key: row.idempotency_key,
    actor: row.actor,
    operation: row.operation,
    fingerprint: row.fingerprint,
    status: row.status,
    attempt: toNumber(row.attempt),
    createdAt: toNumber(row.created_at),
    completedAt: row.completed_at === null ? null : toNumber(row.completed_at),
    lockedUntil: row.locked_until === null ? null : toNumber(row.locked_until),
    expiresAt,
    expired: expiresAt <= now,
    result: row.result,
  });
}

/**
 * Decides what a request finds when its key is someone else's: the stored success (returned as its encoded text),
 * or a thrown error: `IDEMPOTENCY_KEY_REUSED` for another request, the stored error replayed, or
 * `IDEMPOTENCY_CONFLICT` while the first request is still in progress.
 */
export async function resolveExisting(
  trx: MarketkitTransaction,
  scope: FingerprintedScope,
  now: number,
): Promise<string> {
  const record = await readRecord(trx, scope, now);
  const where = { key: scope.key, actor: scope.actor, operation: scope.operation };
  if (record === undefined) {
    throw new MarketkitError('IDEMPOTENCY_CONFLICT', {
      message: `The idempotency key ${scope.key} changed hands while it was read; retry.`,
      details: where,
    });
  }
  if (record.fingerprint !== scope.fingerprint) {
    throw new MarketkitError('IDEMPOTENCY_KEY_REUSED', {
      message: `The idempotency key ${scope.key} was already used for ${scope.operation} with a different request.`,
      details: where,
    });
  }
  // A stored error is thrown again as it was, marked as a replay (`isReplayed`).
  if (record.status === 'failed') throw markReplayed(decodeError(record.result ?? '{}'));
  if (record.status === 'succeeded') return record.result ?? '{"$undefined":true}';
  const lockedUntil = record.lockedUntil ?? now;
  throw new MarketkitError('IDEMPOTENCY_CONFLICT', {
    message: `A request with the idempotency key ${scope.key} is still in progress; retry later.`,
    details: { ...where, retryAfterMs: Math.max(0, lockedUntil - now) },
  });
}

/** The outcome of a request, as stored. */
export interface StoredOutcome {
  readonly status: 'succeeded' | 'failed';
  readonly result: string;
  readonly now: number;
}

/**
 * Stores the outcome of an in-progress claim. With `token`, only that `begin` holder's claim, and the key's expiry
 * goes back to `ttlMs` after the request started (a lock may have pushed it further), but not before now; without
 * a token, the caller's own claim made in this same transaction. Returns false when the claim is no longer there.
 */
export async function storeOutcome(
  trx: MarketkitTransaction,
  scope: IdempotencyScope,
  outcome: StoredOutcome,
  holder: { readonly token: string; readonly ttlMs: number } | null,
): Promise<boolean> {
  const stored = { ...outcome, now: BigInt(outcome.now) };
  const by = holder === null ? null : { token: holder.token, ttlMs: BigInt(holder.ttlMs) };
  const result = await storeOutcomeQuery(trx, scope, stored, by).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/**
 * The update {@link storeOutcome} runs, not yet executed (to embed in a larger statement); `now` and `ttlMs` as
 * 64-bit integers.
 */
export function storeOutcomeQuery(
  db: Kysely<MarketkitDatabase>,
  scope: IdempotencyScope,
  outcome: { readonly status: StoredOutcome['status']; readonly result: string; readonly now: bigint },
  holder: { readonly token: string; readonly ttlMs: bigint } | null,
) {
  const now = outcome.now;
  const natural = sql<bigint>`${sql.ref('created_at')} + ${holder?.ttlMs ?? 0n}`;
  let q = db
    .updateTable('idempotency_keys')
    .set({
      status: outcome.status,
      result: outcome.result,
      completed_at: now,
      // Constants as SQL literals, so the query also serves as a statement template (values only through `p`).
      lock_token: sql<null>`null`,
      locked_until: sql<null>`null`,
      ...(holder === null
        ? {}
        : { expires_at: sql<bigint>`case when ${natural} > ${now} then ${natural} else ${now} end` }),
    })
    .where('actor', '=', scope.actor)
    .where('operation', '=', scope.operation)
    .where('idempotency_key', '=', scope.key)
    .where('status', '=', sql.lit('in_progress'));
  if (holder !== null) q = q.where('lock_token', '=', holder.token);
  return q;
}

/** The in-progress record of `scope` while the `begin` holder with `token` still holds it. */
function heldBy(eb: ExpressionBuilder<MarketkitDatabase, 'idempotency_keys'>, scope: IdempotencyScope, token: string) {
  return eb.and([
    eb('actor', '=', scope.actor),
    eb('operation', '=', scope.operation),
    eb('idempotency_key', '=', scope.key),
    eb('status', '=', 'in_progress'),
    eb('lock_token', '=', token),
  ]);
}

/** Deletes a `begin` holder's in-progress record so the key is free again. False when it is no longer theirs. */
export async function releaseKey(trx: MarketkitTransaction, scope: IdempotencyScope, token: string): Promise<boolean> {
  const result = await trx
    .deleteFrom('idempotency_keys')
    .where((eb) => heldBy(eb, scope, token))
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/** Moves a `begin` holder's lock to `lockedUntil` (and the key's expiry with it, if needed). False when lost. */
export async function extendLock(
  trx: MarketkitTransaction,
  scope: IdempotencyScope,
  token: string,
  lockedUntil: number,
): Promise<boolean> {
  const until = BigInt(lockedUntil);
  const result = await trx
    .updateTable('idempotency_keys')
    .set({
      locked_until: until,
      expires_at: sql<bigint>`case when ${sql.ref('expires_at')} < ${until} then ${until} else ${sql.ref('expires_at')} end`,
    })
    .where((eb) => heldBy(eb, scope, token))
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/**
 * Deletes up to `limit` records that expired by `now`, oldest first. On PostgreSQL rows another transaction holds
 * (a request reusing the key right now) are skipped, so concurrent sweepers and requests never wait on each other.
 */
export async function deleteExpired(
  trx: MarketkitTransaction,
  caps: StorageCapabilities,
  now: number,
  limit: number,
): Promise<number> {
  const cutoff = BigInt(now);
  let due = trx
    .selectFrom('idempotency_keys')
    .select(['actor', 'operation', 'idempotency_key'])
    .where('expires_at', '<=', cutoff)
    .orderBy('expires_at')
    .limit(limit);
  if (caps.skipLocked) due = due.forUpdate().skipLocked();
  // The batch as a CTE, which PostgreSQL runs once (a CTE that locks rows is never folded into the query): as an
  // `IN (subquery)` the planner may rescan it once per candidate row (a nested-loop semi join), and a rescan of
  // `LIMIT … SKIP LOCKED` can return other rows, deleting more than `limit`.
  const result = await trx
    .with('due', () => due)
    .deleteFrom('idempotency_keys')
    .where((eb) =>
      eb(
        eb.refTuple('actor', 'operation', 'idempotency_key'),
        'in',
        eb
          .selectFrom('due')
          .select(['due.actor', 'due.operation', 'due.idempotency_key'])
          .$asTuple('actor', 'operation', 'idempotency_key'),
      ),
    )
    .where('expires_at', '<=', cutoff)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

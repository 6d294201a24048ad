import { type Kysely, sql } from 'kysely';
import { MarketkitError } from '../errors/marketkit-error.js';
import type { MarketkitDatabase } from '../schema/database.js';
import { toNumber } from '../storage/int64.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import type { StorageCapabilities } from '../storage/storage-adapter.js';
import type { IdempotencyStatus } from './idempotency-tables.js';
import type { IdempotencyRecord, IdempotencyScope } from './idempotency-types.js';
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
  trx: MarketkitTransaction,
  scope: FingerprintedScope,
  v: ClaimValues,
): Promise<number | undefined> {
  const now = BigInt(v.now);
  const row = await trx
    .insertInto('idempotency_keys')
    .values({
      actor: scope.actor,
      operation: scope.operation,
      idempotency_key: scope.key,
      fingerprint: scope.fingerprint,
      status: v.status,
      result: v.result,
      lock_token: v.lockToken,
      locked_until: v.lockedUntil,
      attempt: 1,
      created_at: v.now,
      completed_at: v.status === 'in_progress' ? null : v.now,
      expires_at: v.expiresAt,
    })
    .onConflict((oc) =>
      oc
        .columns(['actor', 'operation', 'idempotency_key'])
        .doUpdateSet((eb) => ({
          fingerprint: eb.ref('excluded.fingerprint'),
          status: eb.ref('excluded.status'),
          result: eb.ref('excluded.result'),
          lock_token: eb.ref('excluded.lock_token'),
          locked_until: eb.ref('excluded.locked_until'),
          attempt: sql<bigint>`case when ${sql.ref('idempotency_keys.expires_at')} <= ${now} then 1
            else ${sql.ref('idempotency_keys.attempt')} + 1 end`,
          created_at: eb.ref('excluded.created_at'),
          completed_at: eb.ref('excluded.completed_at'),
          expires_at: eb.ref('excluded.expires_at'),
        }))
        .where((eb) =>
          eb.or([
            eb('idempotency_keys.expires_at', '<=', now),
            eb.and([
              eb('idempotency_keys.status', '=', 'in_progress'),
              eb('idempotency_keys.locked_until', '<=', now),
              eb('idempotency_keys.fingerprint', '=', eb.ref('excluded.fingerprint')),
            ]),
          ]),
        ),
    )
    .returning('attempt')
    .executeTakeFirst();
  return row === undefined ? undefined : toNumber(row.attempt);
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
  if (record.status === 'failed') throw decodeError(record.result ?? '{}');
  if (record.status === 'succeeded') return record.result ?? '{"$undefined":true}';
  const lockedUntil = record.lockedUntil ?? now;
  throw new MarketkitError('IDEMPOTENCY_CONFLICT', {
    message: `A request with the idempotency key ${scope.key} is still in progress; retry later.`,
    details: { ...where, lockedUntil, retryAfterMs: Math.max(0, lockedUntil - now) },
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
  const now = BigInt(outcome.now);
  const natural = sql<bigint>`${sql.ref('created_at')} + ${BigInt(holder?.ttlMs ?? 0)}`;
  let q = trx
    .updateTable('idempotency_keys')
    .set({
      status: outcome.status,
      result: outcome.result,
      completed_at: now,
      lock_token: null,
      locked_until: null,
      ...(holder === null
        ? {}
        : { expires_at: sql<bigint>`case when ${natural} > ${now} then ${natural} else ${now} end` }),
    })
    .where('actor', '=', scope.actor)
    .where('operation', '=', scope.operation)
    .where('idempotency_key', '=', scope.key)
    .where('status', '=', 'in_progress');
  if (holder !== null) q = q.where('lock_token', '=', holder.token);
  const result = await q.executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Deletes a `begin` holder's in-progress record so the key is free again. False when it is no longer theirs. */
export async function releaseKey(trx: MarketkitTransaction, scope: IdempotencyScope, token: string): Promise<boolean> {
  const result = await trx
    .deleteFrom('idempotency_keys')
    .where('actor', '=', scope.actor)
    .where('operation', '=', scope.operation)
    .where('idempotency_key', '=', scope.key)
    .where('status', '=', 'in_progress')
    .where('lock_token', '=', token)
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
    .where('actor', '=', scope.actor)
    .where('operation', '=', scope.operation)
    .where('idempotency_key', '=', scope.key)
    .where('status', '=', 'in_progress')
    .where('lock_token', '=', token)
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
  const result = await trx
    .deleteFrom('idempotency_keys')
    .where((eb) =>
      eb(
        eb.refTuple('actor', 'operation', 'idempotency_key'),
        'in',
        due.$asTuple('actor', 'operation', 'idempotency_key'),
      ),
    )
    .where('expires_at', '<=', cutoff)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

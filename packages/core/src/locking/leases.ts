import { z } from 'zod';
import { type Clock, systemClock } from '../clock/clock.js';
import { MarketkitError } from '../errors/marketkit-error.js';
import { storableText } from '../errors/storable-text.js';
import { parseInput } from '../errors/validation-error.js';
import { toBigInt, toNumber } from '../storage/int64.js';
import type { MarketkitTransaction, Storage } from '../storage/storage.js';
import type { Lease, LeaseStatus } from './lease-types.js';
import { LOCKING_LIMITS } from './locking-limits.js';

const nameSchema = storableText().min(1).max(LOCKING_LIMITS.maxLeaseNameLength);
const ownerSchema = storableText().min(1).max(LOCKING_LIMITS.maxLeaseOwnerLength);
const ttlSchema = z.number().int().min(LOCKING_LIMITS.minLeaseTtlMs).max(LOCKING_LIMITS.maxLeaseTtlMs);
const acquireSchema = z.object({ name: nameSchema, owner: ownerSchema, ttlMs: ttlSchema });
const leaseSchema = z.object({
  name: nameSchema,
  owner: ownerSchema,
  token: z.bigint().positive(),
  expiresAt: z.number().int(),
});
const renewSchema = z.object({ lease: leaseSchema, ttlMs: ttlSchema });

interface LeaseRow {
  readonly name: string;
  readonly owner: string | null;
  readonly token: bigint | number | string;
  readonly expires_at: bigint | number | string;
}

/**
 * Leases with fencing tokens for singleton work (one relay, one sweeper, one worker per saga), kept in the
 * `leases` table so they hold across any number of processes. Time comes from the injected {@link Clock}; safety
 * does not depend on clocks agreeing, because every write made under a lease is fenced by its token
 * ({@link Leases.assertHeld}); clocks only decide when a silent holder may be taken over.
 *
 * @example
 * ```ts
 * const leases = new Leases(storage, clock);
 * const lease = await leases.acquire('outbox-relay', workerId, 30_000);
 * if (lease !== undefined) {
 *   await storage.transaction(async (trx) => {
 *     await leases.assertHeld(trx, lease); // fences off this write if another worker took over
 *     // ... the singleton work's writes ...
 *   });
 *   await leases.release(lease);
 * }
 * ```
 */
export class Leases {
  readonly #storage: Storage;
  readonly #clock: Clock;

  constructor(storage: Storage, clock: Clock = systemClock) {
    this.#storage = storage;
    this.#clock = clock;
  }

  /**
   * Takes the lease `name` for `owner` for `ttlMs`, if nobody holds it: the name is new, was released, or its
   * holder let it expire (then this is a takeover). Returns `undefined` when it is held, also by `owner` itself
   * (not re-entrant: use {@link renew}). Each success issues a token one greater than the last for the name.
   *
   * Concurrency contract: of any number of concurrent callers, in any number of processes, for a free or expired
   * lease, exactly one MUST get the lease and the others MUST get `undefined`. A takeover MUST wait for every open
   * transaction in which the previous holder passed {@link assertHeld}, so those commit before the new token exists.
   * One guarded statement does it: `INSERT … ON CONFLICT (name) DO UPDATE … WHERE owner IS NULL OR expires_at <=
   * now RETURNING …`.
   */
  async acquire(name: string, owner: string, ttlMs: number): Promise<Lease | undefined> {
    parseInput(acquireSchema, { name, owner, ttlMs }, 'lease');
    const now = this.#clock.now();
    const row = await this.#storage.transaction((trx) =>
      trx
        .insertInto('leases')
        .values({ name, owner, token: 1, expires_at: now + ttlMs, acquired_at: now })
        .onConflict((oc) =>
          oc
            .column('name')
            .doUpdateSet((eb) => ({
              owner: eb.ref('excluded.owner'),
              token: eb(eb.ref('leases.token'), '+', 1),
              expires_at: eb.ref('excluded.expires_at'),
              acquired_at: eb.ref('excluded.acquired_at'),
            }))
            .where((eb) => eb.or([eb('leases.owner', 'is', null), eb('leases.expires_at', '<=', BigInt(now))])),
        )
        .returning(['name', 'owner', 'token', 'expires_at'])
        .executeTakeFirst(),
    );
    return row === undefined ? undefined : toLease(row);
  }

  /**
   * Extends a lease to `ttlMs` from now and returns the renewed lease (same token). Also succeeds after the lease
   * expired if nobody took it over meanwhile: no other token was issued, so nothing needs fencing.
   *
   * Concurrency contract: renewing MUST fail with `LEASE_LOST` once another owner has acquired the name (or the
   * lease was released), and MUST NOT change the row then. Do not renew from inside a transaction that called
   * {@link assertHeld} on the same lease: on PostgreSQL the renewal would wait for that transaction's row lock.
   */
  async renew(lease: Lease, ttlMs: number): Promise<Lease> {
    parseInput(renewSchema, { lease, ttlMs }, 'lease renewal');
    const now = this.#clock.now();
    const row = await this.#storage.transaction((trx) =>
      trx
        .updateTable('leases')
        .set({ expires_at: now + ttlMs })
        .where('name', '=', lease.name)
        .where('owner', '=', lease.owner)
        .where('token', '=', lease.token)
        .returning(['name', 'owner', 'token', 'expires_at'])
        .executeTakeFirst(),
    );
    if (row === undefined) throw leaseLost(lease);
    return toLease(row);
  }

  /**
   * Gives the lease up so another owner can acquire it at once (with the next token). Returns false, and changes
   * nothing, when the lease was already lost or released; call it in a `finally` without a try around it.
   *
   * Concurrency contract: releasing MUST only ever affect the holder's own token: a stale holder's release MUST
   * NOT free a lease someone else holds.
   */
  async release(lease: Lease): Promise<boolean> {
    parseInput(leaseSchema, lease, 'lease');
    const now = this.#clock.now();
    const result = await this.#storage.transaction((trx) =>
      trx
        .updateTable('leases')
        .set({ owner: null, expires_at: now })
        .where('name', '=', lease.name)
        .where('owner', '=', lease.owner)
        .where('token', '=', lease.token)
        .executeTakeFirst(),
    );
    return result.numUpdatedRows > 0n;
  }

  /**
   * The fence: call inside the write transaction of work done under `lease`, before it commits. Throws
   * `LEASE_LOST` when another owner has taken the lease over (or it was released); let the error propagate out of
   * `storage.transaction` and the transaction rolls back, so none of the stale holder's writes commit.
   *
   * Concurrency contract: if this returns, no other owner MUST be able to acquire the lease until `trx` ends (the
   * lease row is locked `FOR SHARE` on PostgreSQL; SQLite's write transaction holds the database write lock), so
   * the work commits before any takeover. A holder whose lease expired but was not taken over still passes: no
   * newer token exists. Catching `LEASE_LOST` inside the transaction and committing anyway defeats the fence.
   */
  async assertHeld(trx: MarketkitTransaction, lease: Lease): Promise<void> {
    parseInput(leaseSchema, lease, 'lease');
    let query = trx.selectFrom('leases').select(['owner', 'token']).where('name', '=', lease.name);
    if (this.#storage.adapter.capabilities.rowLocks) query = query.forShare();
    const row = await query.executeTakeFirst();
    if (row === undefined || row.owner !== lease.owner || toBigInt(row.token) !== lease.token) throw leaseLost(lease);
  }

  /** Reads the state of the lease `name` (for operators and tests), or `undefined` if it was never acquired. */
  async inspect(name: string): Promise<LeaseStatus | undefined> {
    parseInput(nameSchema, name, 'lease name');
    const row = await this.#storage.run((db) =>
      db.selectFrom('leases').selectAll().where('name', '=', name).executeTakeFirst(),
    );
    if (row === undefined) return undefined;
    const expiresAt = toNumber(row.expires_at);
    return Object.freeze({
      name: row.name,
      owner: row.owner,
      token: toBigInt(row.token),
      expiresAt,
      acquiredAt: toNumber(row.acquired_at),
      held: row.owner !== null && expiresAt > this.#clock.now(),
    });
  }
}

function toLease(row: LeaseRow): Lease {
  if (row.owner === null) throw new MarketkitError('INTERNAL', { message: 'A held lease has no owner.' });
  return Object.freeze({
    name: row.name,
    owner: row.owner,
    token: toBigInt(row.token),
    expiresAt: toNumber(row.expires_at),
  });
}

function leaseLost(lease: Lease): MarketkitError {
  return new MarketkitError('LEASE_LOST', {
    message: `The lease ${lease.name} (token ${lease.token}) held by ${lease.owner} was taken over or released.`,
    details: { resource: 'lease', id: lease.name, fence: String(lease.token) },
  });
}

import type { StorageCapabilities } from '@marketkit/core';
import { ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lease } from '../../src/locking/lease-types.js';
import { Leases } from '../../src/locking/leases.js';
import { LOCKING_LIMITS } from '../../src/locking/locking-limits.js';
import { migrate } from '../../src/schema/migrate.js';
import { lockingMigration } from '../../src/schema/migrations/0003-locking.js';
import { tenantsMigration } from '../../src/schema/migrations/0015-tenants.js';
import { Storage } from '../../src/storage/storage.js';
import { closeAll, deferred, openStorages, settlesWithin } from './locking-fixture.js';

for (const backend of testBackends()) {
  describe(`leases on ${backend.name}`, () => {
    let database: TestDatabase;
    let storages: Storage[];
    let caps: StorageCapabilities;
    const clock = new ManualClock();
    /** One `Leases` per storage: separate pools stand in for separate processes where writers are concurrent. */
    let leases: Leases[];
    let main: Leases;

    beforeAll(async () => {
      database = await backend.createDatabase();
      caps = database.adapter().capabilities;
      // SQLite connections of one process must not contend (better-sqlite3 blocks the event loop while it waits).
      storages = await openStorages(database, caps.concurrentWriters ? 4 : 1, 8);
      leases = storages.map((s) => new Leases(s, clock));
      main = leases[0] as Leases;
    });
    afterAll(async () => {
      await closeAll(storages);
      await database?.drop();
    });

    const accountExists = async (id: string) =>
      (await storages[0]?.run((db) =>
        db.selectFrom('accounts').select('id').where('id', '=', id).executeTakeFirst(),
      )) !== undefined;
    /** Work under `lease`: writes an account row, then checks the fence before committing. */
    const fencedWrite = (lease: Lease, id: string, storage = storages[0] as Storage, via = main) =>
      storage.transaction(async (trx) => {
        await trx.insertInto('accounts').values({ id, code: 1, currency: 'USD', flags: 0, created_at: 0 }).execute();
        await via.assertHeld(trx, lease);
      });

    it('acquires a free lease with token 1 and refuses it to everyone while held, its holder included', async () => {
      const lease = await main.acquire('free', 'w1', 1000);
      expect(lease).toEqual({ name: 'free', owner: 'w1', token: 1n, expiresAt: clock.now() + 1000 });
      expect(Object.isFrozen(lease)).toBe(true);
      expect(await main.acquire('free', 'w2', 1000)).toBeUndefined();
      expect(await main.acquire('free', 'w1', 1000)).toBeUndefined();
      clock.advance(999);
      expect(await main.acquire('free', 'w2', 1000)).toBeUndefined();
      expect(await main.inspect('free')).toMatchObject({ owner: 'w1', token: 1n, held: true });
      expect(await main.inspect('never')).toBeUndefined();
    });

    it('issues a strictly greater token on every acquisition, after a release or an expiry', async () => {
      const first = await main.acquire('tokens', 'w1', 1000);
      expect(await main.release(first as Lease)).toBe(true);
      expect(await main.inspect('tokens')).toMatchObject({ owner: null, token: 1n, held: false });
      const second = await main.acquire('tokens', 'w2', 1000);
      expect(second?.token).toBe(2n);
      clock.advance(1000); // expiresAt is exclusive: at that instant the lease is free
      const third = await main.acquire('tokens', 'w3', 1000);
      expect(third).toMatchObject({ owner: 'w3', token: 3n });
    });

    it('renews a held lease, and after a takeover fails renewals with LEASE_LOST and ignores stale releases', async () => {
      const lease = (await main.acquire('renew', 'w1', 1000)) as Lease;
      clock.advance(800);
      const renewed = await main.renew(lease, 1000);
      expect(renewed).toEqual({ ...lease, expiresAt: clock.now() + 1000 });
      clock.advance(900);
      expect(await main.acquire('renew', 'w2', 1000)).toBeUndefined(); // the renewal kept it
      clock.advance(100);
      const expiredButUntaken = await main.renew(renewed, 1000); // nobody took over: no newer token, still ours
      expect(expiredButUntaken.token).toBe(1n);
      clock.advance(1000);
      const taken = (await main.acquire('renew', 'w2', 1000)) as Lease;
      expect(taken.token).toBe(2n);
      await expect(main.renew(renewed, 1000)).rejects.toMatchObject({
        code: 'LEASE_LOST',
        retryable: false,
        details: { resource: 'lease', id: 'renew', fence: '1' },
      });
      expect(await main.release(renewed)).toBe(false);
      expect(await main.inspect('renew')).toMatchObject({ owner: 'w2', token: 2n, held: true });
      expect(await main.release(taken)).toBe(true);
      expect(await main.release(taken)).toBe(false);
      await expect(main.renew(taken, 1000)).rejects.toMatchObject({ code: 'LEASE_LOST' });
    });

    it('fences the old lease of an owner that acquired the name again', async () => {
      const first = (await main.acquire('again', 'w1', 1000)) as Lease;
      clock.advance(1000);
      const second = (await main.acquire('again', 'w1', 1000)) as Lease;
      expect(second.token).toBe(2n);
      await expect(fencedWrite(first, 'again-stale')).rejects.toMatchObject({ code: 'LEASE_LOST' });
      await expect(main.renew(first, 1000)).rejects.toMatchObject({ code: 'LEASE_LOST' });
      expect(await main.release(first)).toBe(false);
      expect(await accountExists('again-stale')).toBe(false);
      expect(await main.inspect('again')).toMatchObject({ owner: 'w1', token: 2n, held: true });
    });

    it('frees a released lease at once, even for a process whose clock is behind', async () => {
      const behind = new Leases(storages[1] ?? (storages[0] as Storage), new ManualClock(clock.now() - 60_000));
      const lease = (await main.acquire('skew', 'w1', 1000)) as Lease;
      expect(await behind.acquire('skew', 'w2', 1000)).toBeUndefined();
      expect(await main.release(lease)).toBe(true);
      expect(await behind.acquire('skew', 'w2', 1000)).toMatchObject({ owner: 'w2', token: 2n });
    });

    it('lets exactly one of 32 concurrent acquirers win a free lease, and one of 32 an expired one', async () => {
      for (let round = 0; round < 5; round += 1) {
        const name = `race-${round}`;
        const race = () =>
          Promise.all(
            Array.from({ length: 32 }, (_, i) => (leases[i % leases.length] as Leases).acquire(name, `w${i}`, 500)),
          );
        const won = (await race()).filter((l) => l !== undefined);
        expect(won).toHaveLength(1);
        expect(won[0]?.token).toBe(1n);
        clock.advance(500);
        const takeovers = (await race()).filter((l) => l !== undefined);
        expect(takeovers).toHaveLength(1);
        expect(takeovers[0]?.token).toBe(2n);
        expect((await main.inspect(name))?.owner).toBe(takeovers[0]?.owner);
      }
    });

    it('fences a stale holder: after a takeover its transaction fails with LEASE_LOST and leaves no trace', async () => {
      const old = (await main.acquire('fence', 'w1', 1000)) as Lease;
      await fencedWrite(old, 'fence-ok');
      expect(await accountExists('fence-ok')).toBe(true);
      clock.advance(1000);
      const fresh = (await (leases[1] ?? main).acquire('fence', 'w2', 1000)) as Lease;
      expect(fresh.token).toBeGreaterThan(old.token);
      await expect(fencedWrite(old, 'fence-stale')).rejects.toMatchObject({ code: 'LEASE_LOST' });
      expect(await accountExists('fence-stale')).toBe(false);
      await fencedWrite(fresh, 'fence-new');
      expect(await accountExists('fence-new')).toBe(true);
      expect(await main.release(fresh)).toBe(true);
      await expect(fencedWrite(fresh, 'fence-released')).rejects.toMatchObject({ code: 'LEASE_LOST' });
      expect(await accountExists('fence-released')).toBe(false);
    });

    it('makes a takeover wait for the open transaction in which the holder passed assertHeld', async () => {
      const old = (await main.acquire('ordered', 'w1', 1000)) as Lease;
      const checked = deferred();
      const finish = deferred();
      const work = storages[0]?.transaction(async (trx) => {
        await main.assertHeld(trx, old);
        checked.resolve();
        await finish.promise;
        await trx
          .insertInto('accounts')
          .values({ id: 'ordered-work', code: 1, currency: 'USD', flags: 0, created_at: 0 })
          .execute();
      });
      await checked.promise;
      clock.advance(5000); // long expired by the clock, but the holder's transaction is still open
      const takeover = (leases[1] ?? main).acquire('ordered', 'w2', 1000);
      expect(await settlesWithin(takeover, 200)).toBe(false);
      finish.resolve();
      await work;
      expect(await takeover).toMatchObject({ owner: 'w2', token: 2n });
      expect(await accountExists('ordered-work')).toBe(true); // committed before the new token existed
    });

    it('works under another table prefix and, where the backend has schemas, in a named schema', async () => {
      const other = new Storage(database.adapter(), {
        tablePrefix: 'alt_',
        ...(caps.schemas ? { schema: 'locks' } : {}),
      });
      try {
        await migrate(other, [lockingMigration, tenantsMigration]);
        const scoped = new Leases(other, clock);
        const first = (await scoped.acquire('scoped', 'w1', 1000)) as Lease;
        expect(await scoped.acquire('scoped', 'w2', 1000)).toBeUndefined();
        clock.advance(1000);
        expect(await scoped.acquire('scoped', 'w2', 1000)).toMatchObject({ token: 2n });
        await expect(other.transaction((trx) => scoped.assertHeld(trx, first))).rejects.toMatchObject({
          code: 'LEASE_LOST',
        });
        expect(await main.inspect('scoped')).toBeUndefined(); // the default-prefix table is untouched
      } finally {
        await closeAll([other]);
      }
    });

    it('validates names, owners, time to live and leases at their limits', async () => {
      const longName = 'n'.repeat(LOCKING_LIMITS.maxLeaseNameLength);
      const longOwner = 'o'.repeat(LOCKING_LIMITS.maxLeaseOwnerLength);
      const ok = await main.acquire(longName, longOwner, LOCKING_LIMITS.maxLeaseTtlMs);
      expect(ok?.expiresAt).toBe(clock.now() + LOCKING_LIMITS.maxLeaseTtlMs);
      expect(await main.acquire('min-ttl', 'w', LOCKING_LIMITS.minLeaseTtlMs)).toBeDefined();
      for (const [name, owner, ttl] of [
        ['', 'w', 1000],
        [`${longName}n`, 'w', 1000],
        ['x', '', 1000],
        ['x', `${longOwner}o`, 1000],
        ['x', 'w', LOCKING_LIMITS.minLeaseTtlMs - 1],
        ['x', 'w', LOCKING_LIMITS.maxLeaseTtlMs + 1],
        ['x', 'w', 1.5],
      ] as const) {
        await expect(main.acquire(name, owner, ttl)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      }
      await expect(main.renew(ok as Lease, 0)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      await expect(main.release({ ...(ok as Lease), token: 0n })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      expect(await main.inspect('x')).toBeUndefined();
    });
  });
}

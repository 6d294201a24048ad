import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import type { StorageCapabilities } from '@marketkit/core';
import { type TestDatabase, testBackends } from '@marketkit/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { lockRows } from '../../src/locking/lock-rows.js';
import { LOCKING_LIMITS } from '../../src/locking/locking-limits.js';
import { type MarketkitTransaction, Storage } from '../../src/storage/storage.js';
import { barrier, closeAll, deferred, insertAccounts, openStorages, settlesWithin } from './locking-fixture.js';

const KEYS = ['a', 'b', 'c', 'd', 'e'];

for (const backend of testBackends()) {
  describe(`row locks on ${backend.name}`, () => {
    let database: TestDatabase;
    let storages: Storage[];
    let one: Storage;
    let two: Storage;
    let caps: StorageCapabilities;

    beforeAll(async () => {
      database = await backend.createDatabase();
      caps = database.adapter().capabilities;
      // Two pools = two real connections where writers run concurrently. SQLite connections of one process must not
      // contend (better-sqlite3 blocks the event loop while it waits for the file lock), so it gets one.
      storages = await openStorages(database, caps.concurrentWriters ? 2 : 1);
      one = storages[0] as Storage;
      two = storages[1] ?? one;
      await insertAccounts(one, KEYS);
    });
    beforeEach(async () => {
      await one.transaction((trx) => trx.updateTable('accounts').set({ credits_posted: 0, user_data: null }).execute());
    });
    afterAll(async () => {
      await closeAll(storages);
      await database?.drop();
    });

    const counters = async () => {
      const rows = await one.run((db) => db.selectFrom('accounts').select(['id', 'credits_posted']).execute());
      return Object.fromEntries(rows.map((r) => [r.id, r.credits_posted]));
    };
    const bump = (trx: MarketkitTransaction, ids: readonly string[]) =>
      trx
        .updateTable('accounts')
        .set((eb) => ({ credits_posted: eb('credits_posted', '+', 1n) }))
        .where('id', 'in', ids)
        .execute();

    /** Opens a transaction on `storage` that locks `keys`, runs `write`, and stays open until `release` is called. */
    const holdLocks = async (
      storage: Storage,
      keys: readonly string[],
      write: (trx: MarketkitTransaction) => Promise<unknown> = async () => {},
    ) => {
      const locked = deferred();
      const done = deferred();
      const finished = storage.transaction(async (trx) => {
        await lockRows(trx, caps, 'accounts', 'id', keys);
        await write(trx);
        locked.resolve();
        await done.promise;
      });
      await locked.promise;
      return {
        finished,
        release: async () => {
          done.resolve();
          await finished;
        },
      };
    };

    it('returns the locked rows in key order, without missing keys or duplicates', async () => {
      for (const mode of ['wait', 'nowait', 'skipLocked'] as const) {
        const rows = await one.transaction((trx) =>
          lockRows(trx, caps, 'accounts', 'id', ['d', 'missing', 'b', 'd', 'a'], { mode }),
        );
        expect(rows.map((r) => r.id)).toEqual(['a', 'b', 'd']);
        expect(rows[0]).toMatchObject({ id: 'a', currency: 'USD', version: 0n });
      }
      expect(await one.transaction((trx) => lockRows(trx, caps, 'accounts', 'id', []))).toEqual([]);
    });

    it('takes at most maxLockKeys keys per call', async () => {
      const max = LOCKING_LIMITS.maxLockKeys;
      const keys = Array.from({ length: max }, (_, i) => `k${i}`);
      const rows = await one.transaction((trx) => lockRows(trx, caps, 'accounts', 'id', ['a', ...keys.slice(1)]));
      expect(rows.map((r) => r.id)).toEqual(['a']);
      await expect(
        one.transaction((trx) => lockRows(trx, caps, 'accounts', 'id', [...keys, 'a'])),
      ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      const typeChecks = (trx: MarketkitTransaction) => [
        // @ts-expect-error the keys have the key column's type
        lockRows(trx, caps, 'accounts', 'id', [5]),
        // @ts-expect-error no such column
        lockRows(trx, caps, 'accounts', 'nope', ['a']),
      ];
      expect(typeChecks).toBeTypeOf('function');
      await expect(
        // @ts-expect-error an unknown mode is a type error too
        one.transaction((trx) => lockRows(trx, caps, 'accounts', 'id', ['a'], { mode: 'later' })),
      ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    });

    it('wait: blocks until the holder commits, then sees its write', async (ctx) => {
      ctx.skip(!caps.rowLocks, 'no row locks: the database write lock already serializes transactions');
      const holder = await holdLocks(one, ['a'], (trx) =>
        trx.updateTable('accounts').set({ user_data: 'by holder' }).where('id', '=', 'a').execute(),
      );
      const waiter = two.transaction(async (trx) => (await lockRows(trx, caps, 'accounts', 'id', ['a']))[0]);
      expect(await settlesWithin(waiter, 150)).toBe(false);
      await holder.release();
      expect(await waiter).toMatchObject({ id: 'a', user_data: 'by holder' });
    });

    it('nowait: fails at once with LOCK_NOT_AVAILABLE while another transaction holds a row', async (ctx) => {
      ctx.skip(!caps.noWait, 'backend has no NOWAIT; see the SQLite busy-timeout test');
      const holder = await holdLocks(one, ['b']);
      const started = Date.now();
      const error = await two
        .transaction((trx) => lockRows(trx, caps, 'accounts', 'id', ['a', 'b', 'c'], { mode: 'nowait' }))
        .catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(1000);
      expect(error).toMatchObject({ code: 'LOCK_NOT_AVAILABLE', retryable: true });
      await holder.release();
      const rows = await two.transaction((trx) => lockRows(trx, caps, 'accounts', 'id', ['b'], { mode: 'nowait' }));
      expect(rows.map((r) => r.id)).toEqual(['b']);
    });

    it('skipLocked: returns only the rows nobody holds, so concurrent claimers get disjoint rows', async (ctx) => {
      ctx.skip(!caps.skipLocked, 'backend has no SKIP LOCKED; see the no-row-locks test');
      const holder = await holdLocks(one, ['a', 'c']);
      const free = await two.transaction((trx) => lockRows(trx, caps, 'accounts', 'id', KEYS, { mode: 'skipLocked' }));
      expect(free.map((r) => r.id)).toEqual(['b', 'd', 'e']);
      await holder.release();

      // Two claimers race for all keys at once: each gets what the other does not hold, and they hold it to the end.
      const claimed: string[][] = [];
      const bothClaimed = barrier(2);
      await Promise.all(
        [one, two].map((s) =>
          s.transaction(async (trx) => {
            const mine = (await lockRows(trx, caps, 'accounts', 'id', KEYS, { mode: 'skipLocked' })).map((r) => r.id);
            if (mine.length > 0) await bump(trx, mine);
            claimed.push(mine);
            await bothClaimed();
          }),
        ),
      );
      const [first = [], second = []] = claimed;
      expect(first.filter((id) => second.includes(id))).toEqual([]);
      expect([...first, ...second].sort()).toEqual(KEYS);
      expect(await counters()).toEqual({ a: 1n, b: 1n, c: 1n, d: 1n, e: 1n });
    });

    it('without row locks, every mode selects the rows under the database write lock: skipLocked never skips', async (ctx) => {
      ctx.skip(caps.rowLocks, 'backend has row locks: covered by the NOWAIT and SKIP LOCKED tests');
      const rows = await one.transaction(async (trx) => {
        await lockRows(trx, caps, 'accounts', 'id', ['a', 'b']);
        return lockRows(trx, caps, 'accounts', 'id', KEYS, { mode: 'skipLocked' });
      });
      expect(rows.map((r) => r.id)).toEqual(KEYS);
    });

    it('SQLite nowait: a short busy timeout fails fast with LOCK_NOT_AVAILABLE while another writer holds the file', async (ctx) => {
      ctx.skip(backend.name !== 'sqlite', 'SQLite-specific: its NOWAIT is the connection busy timeout');
      const holder = await holdLocks(one, ['a']);
      const impatient = new Storage(sqliteAdapter({ filename: database.location, busyTimeoutMs: 20 }));
      try {
        const started = Date.now();
        const error = await impatient
          .transaction((trx) => lockRows(trx, caps, 'accounts', 'id', ['a'], { mode: 'nowait' }))
          .catch((e: unknown) => e);
        expect(Date.now() - started).toBeLessThan(1000);
        expect(error).toMatchObject({ code: 'LOCK_NOT_AVAILABLE', retryable: true });
        await holder.release();
        const rows = await impatient.transaction((trx) => lockRows(trx, caps, 'accounts', 'id', ['a']));
        expect(rows.map((r) => r.id)).toEqual(['a']);
      } finally {
        await holder.release();
        await impatient.destroy();
      }
    });

    it('never deadlocks when each transaction locks its overlapping key set in one call', async () => {
      const shuffled = (seed: number) =>
        [...KEYS].sort((x, y) => ((x.charCodeAt(0) * seed) % 7) - ((y.charCodeAt(0) * seed) % 7));
      let attempts = 0;
      // All eight start together where writers are concurrent; on a serial backend a barrier inside a transaction
      // would wait forever for transactions queued behind it.
      const start = barrier(caps.concurrentWriters ? 8 : 1);
      await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          (storages[i % storages.length] as Storage).transaction(
            async (trx) => {
              attempts += 1;
              await start();
              const rows = await lockRows(trx, caps, 'accounts', 'id', shuffled(i + 1));
              await bump(
                trx,
                rows.map((r) => r.id),
              );
            },
            { maxAttempts: 1 }, // a deadlock would fail the test instead of being retried
          ),
        ),
      );
      expect(attempts).toBe(8);
      expect(await counters()).toEqual({ a: 8n, b: 8n, c: 8n, d: 8n, e: 8n });
    });

    it('resolves a deadlock-prone interleaving (A,B against B,A) by rerunning the victim transaction', async (ctx) => {
      ctx.skip(!(caps.rowLocks && caps.concurrentWriters), 'writers serialize on this backend: no deadlock possible');
      const attempts = { ab: 0, ba: 0 };
      const bothHoldFirst = barrier(2);
      const run = (storage: Storage, name: keyof typeof attempts, first: string, second: string) =>
        storage.transaction(async (trx) => {
          attempts[name] += 1;
          await lockRows(trx, caps, 'accounts', 'id', [first]);
          if (attempts[name] === 1) await bothHoldFirst(); // each holds its first row before asking for the second
          await lockRows(trx, caps, 'accounts', 'id', [second]);
          await bump(trx, [first, second]);
        });
      await Promise.all([run(one, 'ab', 'a', 'b'), run(two, 'ba', 'b', 'a')]);
      // At least one victim, rerun once. Usually exactly one: PostgreSQL's detector aborts the backend that found the
      // cycle. On a starved machine the other backend's deadlock_timeout can expire before the victim's abort has
      // released its row, and it finds the same cycle: both are victims, each rerun once (seen in CI at load ~10).
      expect(attempts.ab + attempts.ba).toBeGreaterThanOrEqual(3);
      expect(attempts.ab).toBeLessThanOrEqual(2);
      expect(attempts.ba).toBeLessThanOrEqual(2);
      expect(await counters()).toMatchObject({ a: 2n, b: 2n, c: 0n });
    });

    it('reruns a transaction that fails serialization under SERIALIZABLE until it succeeds', async (ctx) => {
      ctx.skip(!caps.concurrentWriters, 'transactions run one at a time on this backend: always serializable');
      const attempts = [0, 0];
      const bothRead = barrier(2);
      // Write skew: each sets its own row only if both rows are still 0. Serially, exactly one of them writes.
      const run = (storage: Storage, i: 0 | 1, mine: string) =>
        storage.transaction(async (trx) => {
          attempts[i] = (attempts[i] ?? 0) + 1;
          await sql`set transaction isolation level serializable`.execute(trx);
          const rows = await trx
            .selectFrom('accounts')
            .select('credits_posted')
            .where('id', 'in', ['d', 'e'])
            .execute();
          const total = rows.reduce((sum, r) => sum + r.credits_posted, 0n);
          if (attempts[i] === 1) await bothRead();
          if (total === 0n) await bump(trx, [mine]);
        });
      await Promise.all([run(one, 0, 'd'), run(two, 1, 'e')]);
      expect((attempts[0] ?? 0) + (attempts[1] ?? 0)).toBe(3);
      const { d = 0n, e = 0n } = await counters();
      expect(d + e).toBe(1n);
    });
  });
}

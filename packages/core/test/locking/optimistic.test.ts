import { hasErrorCode, MarketkitError } from '@marketkit/core';
import { type TestDatabase, testBackends } from '@marketkit/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCKING_LIMITS } from '../../src/locking/locking-limits.js';
import { updateWithVersion } from '../../src/locking/update-with-version.js';
import { withOptimisticRetry } from '../../src/locking/with-optimistic-retry.js';
import type { MarketkitTransaction, Storage } from '../../src/storage/storage.js';
import { barrier, closeAll, insertAccounts, openStorages } from './locking-fixture.js';

const conflict = () =>
  new MarketkitError('CONCURRENCY_CONFLICT', {
    details: { reason: 'version', resource: 'accounts', id: 'v1', expectedVersion: '0', actualVersion: '1' },
  });

for (const backend of testBackends()) {
  describe(`optimistic locking on ${backend.name}`, () => {
    let database: TestDatabase;
    let storages: Storage[];
    let storage: Storage;

    beforeAll(async () => {
      database = await backend.createDatabase();
      // Several pools make real concurrent writers where the backend has them. SQLite connections of one process
      // must not contend (better-sqlite3 blocks the event loop while it waits), so it gets one.
      const probe = database.adapter();
      storages = await openStorages(database, probe.capabilities.concurrentWriters ? 4 : 1, 5);
      storage = storages[0] as Storage;
      await insertAccounts(storage, ['v1', 'v2', 'counter']);
    });
    afterAll(async () => {
      await closeAll(storages);
      await database?.drop();
    });

    const read = (id: string) =>
      storage.run((db) => db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirstOrThrow());

    it('bumps the version and returns the updated row', async () => {
      const updated = await storage.transaction((trx) =>
        updateWithVersion(trx, 'accounts', 'id', 'v1', 0n, {
          user_data: 'first',
          credits_posted: sql`credits_posted + 5`,
        }),
      );
      expect(updated).toMatchObject({ id: 'v1', user_data: 'first', version: 1n, credits_posted: 5n });
      expect(await read('v1')).toMatchObject({ version: 1n, credits_posted: 5n });
    });

    it('rejects a stale version with CONCURRENCY_CONFLICT and changes nothing', async () => {
      await storage.transaction((trx) => updateWithVersion(trx, 'accounts', 'id', 'v2', 0, { user_data: 'a' }));
      const error = await storage
        .transaction((trx) => updateWithVersion(trx, 'accounts', 'id', 'v2', 0, { user_data: 'b' }))
        .catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: 'CONCURRENCY_CONFLICT',
        retryable: true,
        details: { reason: 'version', resource: 'accounts', id: 'v2', expectedVersion: '0', actualVersion: '1' },
      });
      expect(await read('v2')).toMatchObject({ version: 1n, user_data: 'a' });
    });

    it('reports a missing row as a conflict with actualVersion null', async () => {
      await expect(
        storage.transaction((trx) => updateWithVersion(trx, 'accounts', 'id', 'nope', 0, { user_data: 'x' })),
      ).rejects.toMatchObject({ code: 'CONCURRENCY_CONFLICT', details: { actualVersion: null } });
    });

    it('is typed: versioned tables only, real columns only, and never `version` itself', () => {
      const typeChecks = (trx: MarketkitTransaction) => [
        // @ts-expect-error transfers have no version column
        updateWithVersion(trx, 'transfers', 'id', 't', 0, {}),
        // @ts-expect-error no such column
        updateWithVersion(trx, 'accounts', 'id', 'a', 0, { nope: 1 }),
        // @ts-expect-error the helper bumps the version itself
        updateWithVersion(trx, 'accounts', 'id', 'a', 0, { version: 5 }),
        // @ts-expect-error the key has the key column's type
        updateWithVersion(trx, 'accounts', 'id', 5, 0, { user_data: 'x' }),
      ];
      expect(typeChecks).toBeTypeOf('function');
    });

    it('lands 16 concurrent version-checked increments exactly once each', async () => {
      const writers = 16;
      const allRead = barrier(writers);
      let conflicts = 0;
      let applied = 0;
      const increment = (s: Storage) =>
        withOptimisticRetry(
          async (attempt) => {
            const row = await s.run((db) =>
              db.selectFrom('accounts').selectAll().where('id', '=', 'counter').executeTakeFirstOrThrow(),
            );
            if (attempt === 1) await allRead(); // every writer holds version 0 before anyone writes
            await s.transaction((trx) =>
              updateWithVersion(trx, 'accounts', 'id', 'counter', row.version, {
                credits_posted: row.credits_posted + 1n,
              }),
            );
            applied += 1;
          },
          { attempts: 40, minTimeoutMs: 1, maxTimeoutMs: 20, onConflict: () => (conflicts += 1) },
        );
      await Promise.all(Array.from({ length: writers }, (_, i) => increment(storages[i % storages.length] as Storage)));
      expect(await read('counter')).toMatchObject({ credits_posted: 16n, version: 16n });
      expect(applied).toBe(writers);
      expect(conflicts).toBeGreaterThanOrEqual(writers - 1); // all but one lose the first round
    });
  });
}

describe('withOptimisticRetry', () => {
  it('reruns on CONCURRENCY_CONFLICT until fn succeeds, reporting each conflict', async () => {
    const seen: number[] = [];
    const result = await withOptimisticRetry(
      async (attempt) => {
        if (attempt < 3) throw conflict();
        return `done on ${attempt}`;
      },
      {
        minTimeoutMs: 0,
        onConflict: (e, attempt) => seen.push(attempt) && expect(e.code).toBe('CONCURRENCY_CONFLICT'),
      },
    );
    expect(result).toBe('done on 3');
    expect(seen).toEqual([1, 2]);
  });

  it('rethrows any other error at once and unchanged, Error or not', async () => {
    for (const thrown of [
      new MarketkitError('DEADLOCK_DETECTED', { details: { kind: 'deadlock' } }),
      new TypeError('bug'),
      'a string',
      undefined,
    ]) {
      let calls = 0;
      const error = await withOptimisticRetry(async () => {
        calls += 1;
        throw thrown;
      }).catch((e: unknown) => e);
      expect(error).toBe(thrown);
      expect(calls).toBe(1);
    }
  });

  it('gives up after `attempts` with the last conflict', async () => {
    let calls = 0;
    const last = conflict();
    const error = await withOptimisticRetry(
      async () => {
        calls += 1;
        throw calls === 4 ? last : conflict();
      },
      { attempts: 4, minTimeoutMs: 0 },
    ).catch((e: unknown) => e);
    expect(calls).toBe(4);
    expect(error).toBe(last);
    expect(hasErrorCode(error, 'CONCURRENCY_CONFLICT')).toBe(true);
  });

  it('stops when the signal aborts', async () => {
    const controller = new AbortController();
    const error = await withOptimisticRetry(
      async () => {
        controller.abort(new Error('shutting down'));
        throw conflict();
      },
      { signal: controller.signal, minTimeoutMs: 50 },
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ message: 'shutting down' });
  });

  it('validates its options at their limits', async () => {
    const ok = async () => 'ok';
    const max = LOCKING_LIMITS.maxOptimisticAttempts;
    await expect(withOptimisticRetry(ok, { attempts: 1 })).resolves.toBe('ok');
    await expect(withOptimisticRetry(ok, { attempts: max })).resolves.toBe('ok');
    await expect(withOptimisticRetry(ok, { maxTimeoutMs: LOCKING_LIMITS.maxRetryTimeoutMs })).resolves.toBe('ok');
    for (const bad of [
      { attempts: 0 },
      { attempts: max + 1 },
      { attempts: 1.5 },
      { minTimeoutMs: -1 },
      { minTimeoutMs: 10, maxTimeoutMs: 5 },
      { maxTimeoutMs: LOCKING_LIMITS.maxRetryTimeoutMs + 1 },
      { factor: 0.5 },
      { retries: 3 } as object,
    ]) {
      await expect(withOptimisticRetry(ok, bad)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    }
  });
});

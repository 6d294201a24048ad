import { isMarketkitError, MarketkitError, Money } from '@marketkit/core';
import { ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Idempotency } from '../../src/idempotency/idempotency.js';
import { IDEMPOTENCY_LIMITS } from '../../src/idempotency/idempotency-limits.js';
import type { IdempotentCall, ResultCodec } from '../../src/idempotency/idempotency-types.js';
import { migrate } from '../../src/schema/migrate.js';
import { ledgerMigration } from '../../src/schema/migrations/0001-ledger.js';
import { idempotencyMigration } from '../../src/schema/migrations/0006-idempotency.js';
import { tenantsMigration } from '../../src/schema/migrations/0015-tenants.js';
import { Storage } from '../../src/storage/storage.js';
import { closeAll, countEffects, idempotencyOn, insertEffect, openStorage } from './idempotency-fixture.js';

const HOUR = 3_600_000;

/** A retryable conflict, as a busy record reports it. */
const BUSY = { reason: 'busy', resource: 'effect', id: 'e1' } as const;

for (const backend of testBackends()) {
  describe(`idempotency keys on ${backend.name}`, () => {
    let database: TestDatabase;
    let storage: Storage;
    let idem: Idempotency;
    const clock = new ManualClock();

    beforeAll(async () => {
      database = await backend.createDatabase();
      storage = await openStorage(database);
      idem = idempotencyOn(storage, clock);
    });
    afterAll(async () => {
      await closeAll([storage]);
      await database?.drop();
    });

    /** A call under `key`; `runs` counts the function's invocations, the effect rows count its commits. */
    const call = (key: string, request: unknown = { amount: 500n }, more: Partial<IdempotentCall> = {}) => ({
      key,
      actor: 'buyer-1',
      operation: 'orders.create',
      request,
      ...more,
    });

    it('replays the identical result without running the function again', async () => {
      let runs = 0;
      const fn = async (trx: Parameters<Parameters<Idempotency['execute']>[1]>[0]) => {
        runs++;
        const id = await insertEffect(trx, 'replay');
        return { id, amount: 2n ** 70n, nested: [{ $tag: 'x' }, undefined, -0, null], note: 'é' };
      };
      const first = await idem.execute(call('replay'), fn);
      const second = await idem.execute(call('replay'), fn);
      expect(second).toStrictEqual(first);
      expect(Object.is(second.nested[2], -0)).toBe(true);
      expect(runs).toBe(1);
      expect(await countEffects(storage, 'replay')).toBe(1);
      expect(await idem.inspect(call('replay'))).toMatchObject({ status: 'succeeded', attempt: 1, expired: false });
    });

    it('replays the same request sent with its keys in another order', async () => {
      let runs = 0;
      const fn = async () => ++runs;
      expect(await idem.execute(call('order', { a: 1, b: { c: 2n, d: [1, 2] } }), fn)).toBe(1);
      expect(await idem.execute(call('order', { b: { d: [1, 2], c: 2n }, a: 1 }), fn)).toBe(1);
      expect(runs).toBe(1);
    });

    it('refuses the same key with a different request (IDEMPOTENCY_KEY_REUSED) and writes nothing', async () => {
      let runs = 0;
      const fn = async (trx: Parameters<Parameters<Idempotency['execute']>[1]>[0]) => {
        runs++;
        await insertEffect(trx, 'reused');
        return 'done';
      };
      await idem.execute(call('reused', { amount: 500n }), fn);
      const error = await idem.execute(call('reused', { amount: 501n }), fn).catch((e: unknown) => e);
      expect(isMarketkitError(error) && error.toJSON()).toMatchObject({
        code: 'IDEMPOTENCY_KEY_REUSED',
        retryable: false,
        details: { key: 'reused', actor: 'buyer-1', operation: 'orders.create' },
      });
      expect(runs).toBe(1);
      expect(await countEffects(storage, 'reused')).toBe(1);
    });

    it('keeps keys of different actors and operations independent', async () => {
      const results = [
        await idem.execute(call('shared', 1), async () => 'buyer-1/create'),
        await idem.execute(call('shared', 2, { actor: 'buyer-2' }), async () => 'buyer-2/create'),
        await idem.execute(call('shared', 3, { operation: 'orders.cancel' }), async () => 'buyer-1/cancel'),
      ];
      expect(results).toEqual(['buyer-1/create', 'buyer-2/create', 'buyer-1/cancel']);
      expect(await idem.execute(call('shared', 2, { actor: 'buyer-2' }), async () => 'again')).toBe('buyer-2/create');
      await expect(idem.execute(call('shared', 2), async () => 'x')).rejects.toMatchObject({
        code: 'IDEMPOTENCY_KEY_REUSED',
      });
    });

    it('stores a deterministic error, rolls back its writes and replays it with the same code, message, details', async () => {
      let runs = 0;
      const fn = async (trx: Parameters<Parameters<Idempotency['execute']>[1]>[0]): Promise<string> => {
        runs++;
        await insertEffect(trx, 'declined');
        throw new MarketkitError('INSUFFICIENT_FUNDS', {
          message: 'Account buyer-1 lacks 500.',
          details: { accountId: 'buyer-1', amountMinor: '500', availableMinor: '0' },
        });
      };
      const first = await idem.execute(call('declined'), fn).catch((e: unknown) => e);
      const second = await idem.execute(call('declined'), fn).catch((e: unknown) => e);
      expect(runs).toBe(1);
      expect(isMarketkitError(second)).toBe(true);
      expect((second as MarketkitError).toJSON()).toStrictEqual((first as MarketkitError).toJSON());
      expect((second as MarketkitError<'INSUFFICIENT_FUNDS'>).details.amountMinor).toBe('500');
      expect(await countEffects(storage, 'declined')).toBe(0);
      expect(await idem.inspect(call('declined'))).toMatchObject({ status: 'failed' });
      // A different request with the key is still refused.
      await expect(idem.execute(call('declined', 1), fn)).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    });

    it('does not store a retryable error, a storage error or a foreign error: the key stays free', async () => {
      const failures: [string, () => Error][] = [
        ['retry-conflict', () => new MarketkitError('CONCURRENCY_CONFLICT', { details: BUSY })],
        ['retry-provider', () => new MarketkitError('PROVIDER_TIMEOUT', { details: { operation: 'capture' } })],
        ['retry-internal', () => new MarketkitError('INTERNAL')],
        ['retry-foreign', () => new TypeError('bug')],
      ];
      for (const [key, make] of failures) {
        let runs = 0;
        const failing = async (trx: Parameters<Parameters<Idempotency['execute']>[1]>[0]): Promise<string> => {
          runs++;
          await insertEffect(trx, key);
          throw make();
        };
        await expect(idem.execute(call(key), failing)).rejects.toBeInstanceOf(Error);
        expect(await idem.inspect(call(key))).toBeUndefined();
        expect(await countEffects(storage, key)).toBe(0);
        await expect(idem.execute(call(key), failing)).rejects.toBeInstanceOf(Error);
        expect(runs).toBe(2);
        expect(await idem.execute(call(key), async (trx) => insertEffect(trx, key).then(() => 'ok'))).toBe('ok');
        expect(await countEffects(storage, key)).toBe(1);
      }
      // A unique violation inside the function is a storage error: not stored either.
      const dup = async (trx: Parameters<Parameters<Idempotency['execute']>[1]>[0]) => {
        await trx
          .insertInto('accounts')
          .values([0, 1].map(() => ({ id: 'dup', code: 1, currency: 'USD', flags: 0, created_at: 0 })))
          .execute();
        return 'never';
      };
      await expect(idem.execute(call('retry-unique'), dup)).rejects.toMatchObject({ code: 'UNIQUE_VIOLATION' });
      expect(await idem.inspect(call('retry-unique'))).toBeUndefined();
    });

    it('refuses a result that is not plain data and stores nothing; a codec maps it', async () => {
      const money = async (trx: Parameters<Parameters<Idempotency['execute']>[1]>[0]) => {
        await insertEffect(trx, 'money');
        return { price: Money.of('12.34', 'USD') };
      };
      await expect(idem.execute(call('money'), money)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      expect(await idem.inspect(call('money'))).toBeUndefined();
      expect(await countEffects(storage, 'money')).toBe(0);

      const codec: ResultCodec<{ price: Money }> = {
        encode: (v) => ({ price: v.price.toJSON() }),
        decode: (s) => ({ price: Money.fromJSON((s as { price: ReturnType<Money['toJSON']> }).price) }),
      };
      const first = await idem.execute(call('money'), money, { codec });
      const replay = await idem.execute(call('money'), money, { codec });
      expect(Money.isMoney(replay.price) && replay.price.equals(first.price)).toBe(true);
      expect(await countEffects(storage, 'money')).toBe(1);
    });

    it('rejects malformed calls with VALIDATION_FAILED before anything runs or is written', async () => {
      const L = IDEMPOTENCY_LIMITS;
      let runs = 0;
      const fn = async () => ++runs;
      const bad: IdempotentCall[] = [
        call(''),
        call('k'.repeat(L.maxKeyLength + 1)),
        call('line\nbreak'),
        call('caf\u00e9'),
        call('v', 1, { actor: '' }),
        call('v', 1, { actor: 'a'.repeat(L.maxActorLength + 1) }),
        call('v', 1, { operation: '' }),
        call('v', 1, { operation: 'o'.repeat(L.maxOperationLength + 1) }),
        call('v', { f: () => 1 }),
        call('v', { m: new Map() }),
        { ...call('v'), extra: 1 } as IdempotentCall,
      ];
      const cyclic: Record<string, unknown> = {};
      cyclic['self'] = cyclic;
      bad.push(call('v', cyclic));
      for (const c of bad) {
        await expect(idem.execute(c, fn), JSON.stringify(c.key)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      }
      expect(runs).toBe(0);
      expect(await idem.inspect(call('v'))).toBeUndefined();
      const edge = call(' ~'.repeat(L.maxKeyLength / 2) + '!', 1, {
        actor: 'a'.repeat(L.maxActorLength),
        operation: 'o'.repeat(L.maxOperationLength),
      });
      expect(await idem.execute(edge, fn)).toBe(1);
      expect(await idem.execute(edge, fn)).toBe(1);
      expect(() => idempotencyOn(storage, clock, { ttlMs: L.minTtlMs - 1 })).toThrow(/ttlMs/);
      expect(() => idempotencyOn(storage, clock, { lockMs: L.maxLockMs + 1 })).toThrow(/lockMs/);
    });

    it('expires a key after 24 hours by default: then it counts as new', async () => {
      let runs = 0;
      const fn = async () => ++runs;
      await idem.execute(call('expiry', 'first'), fn);
      clock.advance(24 * HOUR - 1);
      expect(await idem.execute(call('expiry', 'first'), fn)).toBe(1);
      await expect(idem.execute(call('expiry', 'second'), fn)).rejects.toMatchObject({
        code: 'IDEMPOTENCY_KEY_REUSED',
      });
      clock.advance(1);
      expect(await idem.inspect(call('expiry'))).toMatchObject({ expired: true });
      expect(await idem.execute(call('expiry', 'second'), fn)).toBe(2);
      expect(await idem.execute(call('expiry', 'second'), fn)).toBe(2);
      expect(await idem.inspect(call('expiry'))).toMatchObject({ expired: false, attempt: 1 });
    });

    it('honours a configured window and sweeps expired keys in batches', async () => {
      const short = idempotencyOn(storage, clock, { ttlMs: HOUR });
      expect(short.ttlMs).toBe(HOUR);
      await short.sweepExpired();
      const scope = (i: number) => call(`sweep-${i}`, i, { actor: 'sweeper' });
      for (let i = 0; i < 5; i++) await short.execute(scope(i), async () => i);
      clock.advance(HOUR / 2);
      for (let i = 5; i < 7; i++) await short.execute(scope(i), async () => i);
      clock.advance(HOUR / 2 - 1);
      expect(await short.sweepExpired()).toBe(0);
      clock.advance(1);
      expect(await short.sweepExpired(3)).toBe(3);
      expect(await short.sweepExpired(3)).toBe(2);
      expect(await short.sweepExpired()).toBe(0);
      for (let i = 0; i < 5; i++) expect(await short.inspect(scope(i))).toBeUndefined();
      expect(await short.inspect(scope(5))).toMatchObject({ status: 'succeeded', expired: false });
      clock.advance(HOUR / 2);
      expect(await short.sweepExpired()).toBe(2);
      await expect(short.sweepExpired(0)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    });

    it('works under another table prefix and, where supported, in its own schema', async () => {
      const schemas = database.adapter().capabilities.schemas;
      const other = new Storage(database.adapter(), { tablePrefix: 'idem_', ...(schemas ? { schema: 'idem_s' } : {}) });
      try {
        await migrate(other, [ledgerMigration, idempotencyMigration, tenantsMigration]);
        const scoped = idempotencyOn(other, clock, { ttlMs: HOUR, lockMs: 1000 });
        expect(
          await scoped.execute(call('prefixed'), async (trx) => insertEffect(trx, 'prefixed').then(() => 1n)),
        ).toBe(1n);
        expect(await scoped.execute(call('prefixed'), async () => 2n)).toBe(1n);
        const begun = await scoped.begin(call('prefixed-begin'));
        if (begun.status !== 'started') throw new Error('expected started');
        clock.advance(1000);
        const next = await scoped.begin(call('prefixed-begin'));
        expect(next).toMatchObject({ status: 'started', handle: { attempt: 2 } });
        if (next.status === 'started') await scoped.renew(next.handle, 2000);
        clock.advance(HOUR + 1000);
        expect(await scoped.sweepExpired()).toBe(2);
        expect(await countEffects(other, 'prefixed')).toBe(1);
        expect(await idem.inspect(call('prefixed'))).toBeUndefined();
      } finally {
        await other.destroy();
      }
    });

    describe('begin / complete / fail for work that calls an external service', () => {
      it('holds the key in progress, then completes it with the business writes in one transaction', async () => {
        const begun = await idem.begin(call('saga-1'));
        if (begun.status !== 'started') throw new Error('expected started');
        expect(begun.handle).toMatchObject({ key: 'saga-1', attempt: 1, lockedUntil: clock.now() + 60_000 });
        const busy = await idem.execute(call('saga-1'), async () => 'x').catch((e: unknown) => e);
        expect(busy).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT', retryable: true });
        expect((busy as MarketkitError).details).toMatchObject({ retryAfterMs: 60_000 });
        await expect(idem.begin(call('saga-1'))).rejects.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
        await expect(idem.begin(call('saga-1', 'other'))).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });

        await storage.transaction(async (trx) => {
          await insertEffect(trx, 'saga-1');
          await idem.complete(trx, begun.handle, { captureId: 'cap_1', amount: 500n });
        });
        expect(await idem.begin(call('saga-1'))).toEqual({
          status: 'replayed',
          result: { captureId: 'cap_1', amount: 500n },
        });
        expect(await idem.execute(call('saga-1'), async () => 'x')).toEqual({ captureId: 'cap_1', amount: 500n });
        await expect(storage.transaction((trx) => idem.complete(trx, begun.handle, 'twice'))).rejects.toMatchObject({
          code: 'LEASE_LOST',
        });
        expect(await countEffects(storage, 'saga-1')).toBe(1);
      });

      it('still validates a handle that begin did not give out (a copy, a forgery), and changes nothing', async () => {
        const begun = await idem.begin(call('saga-handle'));
        if (begun.status !== 'started') throw new Error('expected started');
        expect(Object.isFrozen(begun.handle)).toBe(true);
        for (const forged of [
          { ...begun.handle, token: '' },
          { ...begun.handle, fingerprint: 'not-hex' },
          { ...begun.handle, attempt: 0 },
          { ...begun.handle, extra: true },
        ]) {
          const bad = forged as typeof begun.handle;
          await expect(storage.transaction((trx) => idem.complete(trx, bad, 'x'))).rejects.toMatchObject({
            code: 'VALIDATION_FAILED',
          });
          expect(() => idem.completeValues(bad, 'x')).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
          await expect(idem.fail(bad, new Error('boom'))).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
        }
        expect(await idem.inspect(call('saga-handle'))).toMatchObject({ status: 'in_progress', attempt: 1 });
        // A faithful copy is parsed and accepted, like the handle itself.
        await storage.transaction((trx) => idem.complete(trx, { ...begun.handle }, 'done'));
        expect(await idem.inspect(call('saga-handle'))).toMatchObject({ status: 'succeeded' });
      });

      it('stores a deterministic failure and releases the key on a retryable one', async () => {
        const a = await idem.begin(call('saga-2'));
        if (a.status !== 'started') throw new Error('expected started');
        expect(
          await idem.fail(
            a.handle,
            new MarketkitError('PAYMENT_DECLINED', { message: 'card declined', details: { operation: 'capture' } }),
          ),
        ).toBe('stored');
        await expect(idem.begin(call('saga-2'))).rejects.toMatchObject({
          code: 'PAYMENT_DECLINED',
          message: 'card declined',
        });
        expect(await idem.fail(a.handle, new Error('late'))).toBe('lost');

        const b = await idem.begin(call('saga-3'));
        if (b.status !== 'started') throw new Error('expected started');
        expect(
          await idem.fail(b.handle, new MarketkitError('PROVIDER_TIMEOUT', { details: { operation: 'capture' } })),
        ).toBe('released');
        expect(await idem.inspect(call('saga-3'))).toBeUndefined();
        expect(await idem.begin(call('saga-3'))).toMatchObject({ status: 'started', handle: { attempt: 1 } });
      });

      it('lets the same request take over a crashed holder whose lock expired, and fences the old holder off', async () => {
        const old = await idem.begin(call('saga-4'), { lockMs: 1000 });
        if (old.status !== 'started') throw new Error('expected started');
        clock.advance(999);
        await expect(idem.begin(call('saga-4'))).rejects.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
        clock.advance(1);
        await expect(idem.begin(call('saga-4', 'other'))).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
        const next = await idem.begin(call('saga-4'), { lockMs: 1000 });
        if (next.status !== 'started') throw new Error('expected started');
        expect(next.handle.attempt).toBe(2);
        expect(next.handle.token).not.toBe(old.handle.token);

        await expect(
          storage.transaction(async (trx) => {
            await insertEffect(trx, 'saga-4');
            await idem.complete(trx, old.handle, 'stale');
          }),
        ).rejects.toMatchObject({ code: 'LEASE_LOST' });
        await expect(idem.renew(old.handle)).rejects.toMatchObject({ code: 'LEASE_LOST' });
        expect(
          await idem.fail(old.handle, new MarketkitError('PAYMENT_DECLINED', { details: { operation: 'capture' } })),
        ).toBe('lost');
        await storage.transaction(async (trx) => {
          await insertEffect(trx, 'saga-4');
          await idem.complete(trx, next.handle, 'fresh');
        });
        expect(await idem.begin(call('saga-4'))).toEqual({ status: 'replayed', result: 'fresh' });
        expect(await countEffects(storage, 'saga-4')).toBe(1);
      });

      it('renews a lock so a slow holder is not taken over', async () => {
        const a = await idem.begin(call('saga-5'), { lockMs: 1000 });
        if (a.status !== 'started') throw new Error('expected started');
        clock.advance(900);
        const renewed = await idem.renew(a.handle, 1000);
        expect(renewed.lockedUntil).toBe(clock.now() + 1000);
        clock.advance(900);
        await expect(idem.begin(call('saga-5'))).rejects.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
        await storage.transaction((trx) => idem.complete(trx, renewed, 'slow but done'));
        expect(await idem.execute(call('saga-5'), async () => 'x')).toBe('slow but done');
      });

      it('keeps an in-progress key alive at least as long as its lock, then lets it expire', async () => {
        const short = idempotencyOn(storage, clock, { ttlMs: 1000 });
        const a = await short.begin(call('saga-6'), { lockMs: 5000 });
        if (a.status !== 'started') throw new Error('expected started');
        clock.advance(4999);
        await expect(short.begin(call('saga-6'))).rejects.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
        await expect(short.begin(call('saga-6', 'other'))).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
        clock.advance(1);
        expect(await short.begin(call('saga-6', 'other'))).toMatchObject({ status: 'started', handle: { attempt: 1 } });
      });
    });
  });
}

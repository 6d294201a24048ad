import { hasErrorCode } from '@marketkit/core';
import { testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSagaEnv, type SagaEnv } from './fixtures/saga-env.js';
import { CLEARING } from './fixtures/transfer-saga.js';

const steps = async (env: SagaEnv, id: string) =>
  (await env.sagas.history(id)).map((e) => `${e.phase}:${e.stepName}:${e.outcome}`);

for (const backend of testBackends()) {
  describe(`sagas on ${backend.name}`, () => {
    let env: SagaEnv;
    beforeAll(async () => {
      env = await createSagaEnv(backend, { customers: ['alice', 'bob', 'carol'] });
    });
    afterAll(async () => {
      await env?.close();
    });

    it('runs every step once and commits each with its progress', async () => {
      const saga = await env.sagas.start('transfer', { from: 'alice', to: 'bob', amount: 100n }, { id: 'happy' });
      expect(saga.status).toBe('running');
      expect(await env.drive('happy')).toBe('completed');
      const done = await env.sagas.get('happy');
      expect(done?.outputs).toMatchObject({ charge: { chargeId: expect.any(String) } });
      expect(done?.nextRunAt).toBeNull();
      expect(done?.leaseOwner).toBeNull();
      expect(await steps(env, 'happy')).toEqual([
        'run:debit:completed',
        'run:charge:completed',
        'run:credit:completed',
      ]);
      expect(await env.balance('alice')).toBe(9_900n);
      expect(await env.balance('bob')).toBe(10_100n);
      expect(await env.balance(CLEARING)).toBe(0n);
      expect(env.service.netCharged('happy:charge:run')).toBe(100n);
      expect((await env.ledger.verify()).ok).toBe(true);
    });

    it('is idempotent on the saga id and refuses the id with another input', async () => {
      const again = await env.sagas.start('transfer', { from: 'alice', to: 'bob', amount: '100' }, { id: 'happy' });
      expect(again.status).toBe('completed');
      await expect(
        env.sagas.start('transfer', { from: 'alice', to: 'bob', amount: 101n }, { id: 'happy' }),
      ).rejects.toSatisfy((e) => hasErrorCode(e, 'IDEMPOTENCY_KEY_REUSED'));
      await expect(env.sagas.start('transfer', { from: 'alice' })).rejects.toSatisfy((e) =>
        hasErrorCode(e, 'VALIDATION_FAILED'),
      );
    });

    it('retries retryable failures with backoff and applies the external effect once', async () => {
      env.service.injectFault('charge', 'fail');
      env.service.injectFault('charge', 'failAfterApply');
      const before = env.service.effects();
      await env.sagas.start('transfer', { from: 'alice', to: 'carol', amount: 50n }, { id: 'retry' });
      await env.worker('w-retry').runOnce();
      const waiting = await env.sagas.get('retry');
      expect(waiting?.status).toBe('running');
      expect(waiting?.attempts).toBe(1);
      expect(waiting?.lastError?.code).toBe('PROVIDER_ERROR');
      expect(waiting?.nextRunAt).toBeGreaterThan(env.clock.now()); // durable backoff, not due yet
      expect(await env.worker('w-retry').runOnce()).toBe(0);
      expect(await env.drive('retry')).toBe('completed');
      expect(await steps(env, 'retry')).toEqual([
        'run:debit:completed',
        'run:charge:retrying',
        'run:charge:retrying',
        'run:charge:completed',
        'run:credit:completed',
      ]);
      const after = env.service.effects();
      expect(after.charges - before.charges).toBe(1);
      expect(after.calls.charge - before.calls.charge).toBe(3);
      expect(await env.balance('carol')).toBe(10_050n);
    });

    it('compensates completed steps in reverse order on a permanent failure', async () => {
      const aliceBefore = await env.balance('alice');
      await env.sagas.start('transfer', { from: 'alice', to: 'nobody', amount: 70n }, { id: 'perm' });
      expect(await env.drive('perm')).toBe('compensated');
      expect(await steps(env, 'perm')).toEqual([
        'run:debit:completed',
        'run:charge:completed',
        'run:credit:failed',
        'compensate:charge:completed',
        'compensate:debit:completed',
      ]);
      expect(await env.balance('alice')).toBe(aliceBefore);
      expect(await env.balance(CLEARING)).toBe(0n);
      expect(env.service.netCharged('perm:charge:run')).toBe(0n);
      expect((await env.sagas.get('perm'))?.lastError?.code).toBe('NOT_FOUND');
    });

    it('compensates an external step that failed permanently, and the local steps before it', async () => {
      env.service.injectFault('charge', 'decline');
      await env.sagas.start('transfer', { from: 'alice', to: 'bob', amount: 5n }, { id: 'declined' });
      expect(await env.drive('declined')).toBe('compensated');
      expect(await steps(env, 'declined')).toEqual([
        'run:debit:completed',
        'run:charge:failed',
        'compensate:charge:completed',
        'compensate:debit:completed',
      ]);
      expect((await env.sagas.get('declined'))?.outputs).toEqual({ debit: null });
    });

    it('times a slow step out and retries it', async () => {
      const slow = await createSagaEnv(backend, { saga: { chargeTimeoutMs: 10 } });
      try {
        slow.service.injectFault('charge', 'timeout'); // hangs 30 ms
        await slow.sagas.start('transfer', { from: 'alice', to: 'bob', amount: 1n }, { id: 'slow' });
        expect(await slow.drive('slow')).toBe('completed');
        const h = await slow.sagas.history('slow');
        expect(h.find((e) => e.outcome === 'retrying')?.detail).toMatchObject({ code: 'PROVIDER_TIMEOUT' });
      } finally {
        await slow.close();
      }
    });

    it('parks a saga whose compensation keeps failing, for an operator to retry or resolve', async () => {
      env.service.injectFault('refund', 'fail', 4); // every attempt of the refund fails
      await env.sagas.start('transfer', { from: 'alice', to: 'nobody', amount: 9n }, { id: 'parked' });
      expect(await env.drive('parked')).toBe('failed');
      const parked = await env.sagas.get('parked');
      expect(parked?.stepIndex).toBe(1); // the charge's compensation is next
      expect(parked?.nextRunAt).toBeNull();
      expect((await env.sagas.listFailed()).map((s) => s.id)).toContain('parked');
      expect(env.service.netCharged('parked:charge:run')).toBe(9n);
      expect(await env.worker('w-idle').runOnce()).toBe(0); // parked: nobody claims it

      const retried = await env.sagas.retry('parked');
      expect(retried.status).toBe('compensating');
      expect(await env.drive('parked')).toBe('compensated');
      expect(env.service.netCharged('parked:charge:run')).toBe(0n);
      expect((await env.sagas.listFailed()).map((s) => s.id)).not.toContain('parked');
      await expect(env.sagas.retry('parked')).rejects.toSatisfy((e) => hasErrorCode(e, 'INVALID_TRANSITION'));
      await expect(env.sagas.retry('nope')).rejects.toSatisfy((e) => hasErrorCode(e, 'NOT_FOUND'));

      env.service.injectFault('refund', 'decline'); // permanent: parks at once
      await env.sagas.start('transfer', { from: 'alice', to: 'nobody', amount: 3n }, { id: 'parked-2' });
      expect(await env.drive('parked-2')).toBe('failed');
      const resolved = await env.sagas.resolve('parked-2', 'refunded by hand in the provider dashboard');
      expect(resolved.status).toBe('resolved');
      expect(resolved.resolution).toMatch(/by hand/);
      expect(await env.worker('w-idle').runOnce()).toBe(0);
    });

    it('fences off a stale worker whose lease was taken over during an external call', async () => {
      const gate = env.service.arm('after-charge');
      const stale = env.worker('w-stale', { leaseMs: 5_000 });
      const fresh = env.worker('w-fresh', { leaseMs: 5_000 });
      const before = env.service.effects();
      await env.sagas.start('transfer', { from: 'alice', to: 'bob', amount: 11n }, { id: 'stale' });
      const staleRun = stale.runOnce();
      await gate.reached; // the stale worker charged and is stuck before recording it
      env.clock.advance(5_001); // its lease expires
      expect(await env.drive('stale', fresh)).toBe('completed'); // taken over: re-runs the charge (replayed)
      gate.release();
      await staleRun; // its commit hits the fence and writes nothing
      const h = await env.sagas.history('stale');
      expect(h.map((e) => `${e.stepName}:${e.outcome}:${e.worker}`)).toEqual([
        'debit:completed:w-stale',
        'charge:completed:w-fresh',
        'credit:completed:w-fresh',
      ]);
      expect(env.service.effects().charges - before.charges).toBe(1);
      expect((await env.sagas.get('stale'))?.status).toBe('completed');
      expect((await env.ledger.verify()).ok).toBe(true);
    });

    it('runs a saga inline, its start sharing the first step commit, and falls back when that step fails', async () => {
      expect(await env.sagas.run('transfer', { from: 'alice', to: 'bob', amount: 2n }, { id: 'inline' })).toBe(
        'completed',
      );
      expect(await env.sagas.run('transfer', { from: 'alice', to: 'bob', amount: 2n }, { id: 'inline' })).toBe(
        'released',
      );
      expect(await steps(env, 'inline')).toEqual([
        'run:debit:completed',
        'run:charge:completed',
        'run:credit:completed',
      ]);
      const outcome = await env.sagas.run(
        'transfer',
        { from: 'alice', to: 'bob', amount: 10_000_000n },
        { id: 'broke' },
      );
      expect(outcome).toBe('compensated');
      expect(await steps(env, 'broke')).toEqual(['run:debit:failed']);
      expect((await env.sagas.get('broke'))?.lastError?.code).toBe('INSUFFICIENT_FUNDS');
    });

    it('rolls back a local step whose fence no longer holds', async () => {
      await env.sagas.start('transfer', { from: 'alice', to: 'bob', amount: 13n }, { id: 'fenced' });
      const [claimed] = await env.sagas.claim('w-old', 10, 5_000);
      expect(claimed?.id).toBe('fenced');
      // another worker takes over (bumps the fencing token) before the old one runs the step
      await env.storage.db
        .updateTable('saga_instances')
        .set((eb) => ({ version: eb('version', '+', 1n), lease_owner: 'w-new' }))
        .where('id', '=', 'fenced')
        .execute();
      const outcome = await env.sagas.execute(claimed!, { owner: 'w-old', leaseMs: 5_000, isStopping: () => false });
      expect(outcome).toBe('lease-lost');
      expect(
        await env.ledger.listTransfers({ accountId: CLEARING, limit: 100 }).then((p) => p.transfers.map((t) => t.id)),
      ).not.toContain('fenced:debit');
      expect(await env.sagas.history('fenced')).toEqual([]);
    });
  });
}

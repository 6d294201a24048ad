import { hasErrorCode, Ledger } from '@marketkit/core';
import { ManualClock, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  defineJob,
  JobRegistry,
  Jobs,
  LEDGER_EXPIRY_JOB,
  ledgerExpiryJob,
  scheduleLedgerExpiry,
} from '../../src/jobs/index.js';
import { migrate } from '../../src/schema/migrate.js';
import { Storage } from '../../src/storage/storage.js';
import { createWorker } from '../../src/worker/index.js';

for (const backend of testBackends()) {
  describe(`jobs on ${backend.name}`, () => {
    let storage: Storage;
    let drop: () => Promise<void>;
    const clock = new ManualClock();
    let ledger: Ledger;
    let jobs: Jobs;
    const ran: string[] = [];

    const note = defineJob('note', {
      payload: z.object({ text: z.string() }),
      transactional: true,
      run: async ({ trx, payload }) => {
        ran.push(payload.text);
        // a write in the completion transaction: a stale run's write rolls back with its completion
        await trx!
          .insertInto('leases')
          .values({ name: `note:${payload.text}`, owner: null, token: 1, expires_at: 0, acquired_at: 0 })
          .execute();
      },
    });
    const flakyJob = defineJob('flaky', {
      payload: z.object({ failTimes: z.number() }),
      retry: { attempts: 3, minTimeoutMs: 100, maxTimeoutMs: 1000, factor: 2, randomize: false },
      run: async ({ payload, attempt }) => {
        if (attempt <= payload.failTimes) throw new Error(`boom ${attempt}`);
      },
    });

    beforeAll(async () => {
      const database = await backend.createDatabase();
      drop = () => database.drop();
      storage = new Storage(database.adapter());
      await migrate(storage);
      ledger = new Ledger(storage, clock);
      jobs = new Jobs(storage, new JobRegistry([note, flakyJob, ledgerExpiryJob(ledger)]), clock);
    });
    afterAll(async () => {
      await storage?.destroy();
      await drop?.();
    });

    const worker = (owner: string) => createWorker({ storage, clock, jobs, owner, leaseMs: 10_000 });

    it('schedules in the caller transaction and runs at its time, exactly once across racing workers', async () => {
      await expect(
        storage.transaction(async (trx) => {
          await jobs.scheduleJob(trx, { kind: 'note', runAt: clock.now() + 1000, payload: { text: 'rolled-back' } });
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      const { id } = await storage.transaction((trx) =>
        jobs.scheduleJob(trx, { kind: 'note', runAt: clock.now() + 1000, payload: { text: 'a' } }),
      );
      expect(await worker('w1').runOnce()).toBe(0); // not due
      clock.advance(1000);
      const counts = await Promise.all([worker('w1').runOnce(), worker('w2').runOnce(), worker('w3').runOnce()]);
      expect(counts.reduce((a, b) => a + b, 0)).toBe(1);
      expect(ran).toEqual(['a']);
      expect((await jobs.get(id))?.status).toBe('completed');
    });

    it('dedupes by key', async () => {
      const a = await jobs.scheduleJob(undefined, {
        kind: 'note',
        runAt: clock.now(),
        payload: { text: 'd' },
        dedupeKey: 'k1',
      });
      const b = await jobs.scheduleJob(undefined, {
        kind: 'note',
        runAt: clock.now(),
        payload: { text: 'd2' },
        dedupeKey: 'k1',
      });
      expect(a.created).toBe(true);
      expect(b).toEqual({ id: a.id, created: false });
      await worker('w1').runOnce();
      expect(ran.filter((t) => t.startsWith('d'))).toEqual(['d']);
    });

    it('retries with backoff and fails after its attempts', async () => {
      const ok = await jobs.scheduleJob(undefined, { kind: 'flaky', runAt: clock.now(), payload: { failTimes: 1 } });
      const bad = await jobs.scheduleJob(undefined, { kind: 'flaky', runAt: clock.now(), payload: { failTimes: 5 } });
      await worker('w1').runOnce();
      expect((await jobs.get(ok.id))?.nextRunAt).toBe(clock.now() + 100);
      clock.advance(100);
      await worker('w1').runOnce();
      expect((await jobs.get(ok.id))?.status).toBe('completed');
      clock.advance(200);
      await worker('w1').runOnce();
      const failed = await jobs.get(bad.id);
      expect(failed?.status).toBe('failed');
      expect(failed?.attempts).toBe(3);
      expect(failed?.lastError?.message).toBe('boom 3');
      expect((await jobs.listFailed()).map((j) => j.id)).toContain(bad.id);
    });

    it('fences the completion of a job whose lease was taken over', async () => {
      const { id } = await jobs.scheduleJob(undefined, {
        kind: 'note',
        runAt: clock.now(),
        payload: { text: 'fenced' },
      });
      const [claimed] = await jobs.claim('w-old', 10, 1000);
      clock.advance(1001);
      const [again] = await jobs.claim('w-new', 10, 1000);
      expect(again?.id).toBe(id);
      expect(await jobs.execute(claimed!, { owner: 'w-old', leaseMs: 1000 })).toBe('lease-lost');
      expect(await jobs.execute(again!, { owner: 'w-new', leaseMs: 1000 })).toBe('completed');
      const rows = await storage.db.selectFrom('leases').select('name').where('name', '=', 'note:fenced').execute();
      expect(rows).toHaveLength(1); // the stale run's write rolled back with its completion
    });

    it('runs the built-in ledger expiry periodically, one chain across workers', async () => {
      await ledger.createAccounts([
        { id: 'x', currency: 'USD', code: 1 },
        { id: 'y', currency: 'USD', code: 1 },
      ]);
      await ledger.createTransfers([
        {
          id: 'hold',
          debitAccountId: 'x',
          creditAccountId: 'y',
          amount: 5n,
          currency: 'USD',
          flags: { pending: true },
          timeoutSeconds: 30,
        },
      ]);
      await scheduleLedgerExpiry(jobs, clock, 60_000);
      await scheduleLedgerExpiry(jobs, clock, 60_000); // idempotent
      clock.advance(60_000);
      await Promise.all([worker('w1').runOnce(), worker('w2').runOnce()]);
      expect((await ledger.getAccount('x'))?.debitsPending).toBe(0n);
      const chain = await storage.db
        .selectFrom('jobs')
        .select(['status', 'run_at'])
        .where('kind', '=', LEDGER_EXPIRY_JOB)
        .execute();
      expect(chain.filter((j) => j.status === 'pending')).toHaveLength(1);
      expect(chain.length).toBeGreaterThanOrEqual(2);
    });

    it('validates what is scheduled', async () => {
      await expect(jobs.scheduleJob(undefined, { kind: '', runAt: -1 })).rejects.toSatisfy((e) =>
        hasErrorCode(e, 'VALIDATION_FAILED'),
      );
    });
  });
}

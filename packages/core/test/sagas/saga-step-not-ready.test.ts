/**
 * A step that throws `StepNotReady` waits: the saga is rescheduled at the time the step asked for, its lease released,
 * and no attempt is counted, so a step that waits longer than its retry policy allows still completes.
 */
import { createMarketplace, defineSaga, type Marketplace, StepNotReady } from '@marketkit/core';
import { ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

for (const backend of testBackends()) {
  describe(`a saga step that is not ready yet on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    const clock = new ManualClock();
    let ready = false;
    let calls = 0;
    const waiting = defineSaga('test.wait', {
      input: z.object({}),
      steps: [
        {
          name: 'poll',
          kind: 'external',
          // One attempt only: a wait that counted as one would fail the saga at once.
          retry: { attempts: 1, minTimeoutMs: 10 },
          async run() {
            calls++;
            if (!ready) throw new StepNotReady(clock.now() + 10_000, 'not yet');
            return { done: true };
          },
        },
      ],
    });

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), clock, sagas: [waiting] });
      await market.migrate();
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    it('waits without spending attempts, is not run before its time, and completes once ready', async () => {
      await market.sagas.start('test.wait', {}, { id: 'w1' });
      for (let i = 0; i < 5; i++) {
        await market.worker().runOnce();
        const saga = await market.sagas.get('w1');
        expect(saga).toMatchObject({ status: 'running', attempts: 0, lastError: null, leaseOwner: null });
        expect(saga?.nextRunAt).toBe(clock.now() + 10_000);
        await market.worker().runOnce(); // not due yet: not run again
        expect(calls).toBe(i + 1);
        clock.advance(10_000);
      }
      ready = true;
      await market.worker().runOnce();
      expect(await market.sagas.get('w1')).toMatchObject({ status: 'completed', outputs: { poll: { done: true } } });
      const log = (await market.sagas.history('w1')).map((e) => `${e.stepName}:${e.outcome}:${e.attempt}`);
      expect(log).toEqual([...Array.from({ length: 5 }, () => 'poll:waiting:1'), 'poll:completed:1']);
    });
  });
}

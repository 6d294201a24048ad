import { systemClock } from '@marketkit/core';
import { testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineSaga, SagaRegistry, Sagas } from '../../src/sagas/index.js';
import { migrate } from '../../src/schema/migrate.js';
import { Storage } from '../../src/storage/storage.js';
import { createWorker } from '../../src/worker/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(10);
  }
}

for (const backend of testBackends()) {
  describe(`worker loop on ${backend.name}`, () => {
    let storage: Storage;
    let drop: () => Promise<void>;
    let running = 0;
    let maxRunning = 0;
    let release: (() => void) | undefined;
    const saga = defineSaga('slow', {
      input: z.object({ hold: z.boolean() }),
      steps: [
        {
          name: 'work',
          kind: 'external',
          run: async ({ input }) => {
            running++;
            maxRunning = Math.max(maxRunning, running);
            if (input.hold) await new Promise<void>((r) => (release = r));
            else await sleep(15);
            running--;
          },
        },
        { name: 'after', kind: 'external', run: async () => {} },
      ],
    });
    let sagas: Sagas;

    beforeAll(async () => {
      const database = await backend.createDatabase();
      drop = () => database.drop();
      storage = new Storage(database.adapter());
      await migrate(storage);
      sagas = new Sagas(storage, new SagaRegistry([saga]), systemClock);
    });
    afterAll(async () => {
      await storage?.destroy();
      await drop?.();
    });

    it('runs sagas with bounded concurrency and drives extra pollers', async () => {
      let polled = 0;
      const worker = createWorker({
        storage,
        sagas,
        concurrency: 3,
        pollIntervalMs: 10,
        leaseMs: 5_000,
        extraPollers: [
          {
            name: 'relay',
            runOnce: async () => {
              polled++;
              return 0;
            },
          },
        ],
      });
      const ids = await Promise.all(Array.from({ length: 10 }, () => sagas.start('slow', { hold: false })));
      worker.start();
      await waitFor(async () =>
        (await Promise.all(ids.map((s) => sagas.get(s.id)))).every((s) => s?.status === 'completed'),
      );
      await worker.stop();
      expect(maxRunning).toBeLessThanOrEqual(3);
      expect(maxRunning).toBeGreaterThan(1);
      expect(polled).toBeGreaterThan(0);
    });

    it('on stop, finishes the step in flight and releases the saga for another worker', async () => {
      const worker = createWorker({ storage, sagas, concurrency: 2, pollIntervalMs: 10, leaseMs: 60_000 });
      const s = await sagas.start('slow', { hold: true });
      worker.start();
      await waitFor(async () => release !== undefined);
      const stopped = worker.stop();
      await sleep(20);
      release?.();
      await stopped;
      const after = await sagas.get(s.id);
      expect(after?.status).toBe('running');
      expect(after?.stepIndex).toBe(1); // the step in flight committed
      expect(after?.leaseOwner).toBeNull(); // released at once, not left to expire
      const other = createWorker({ storage, sagas, leaseMs: 60_000 });
      await other.runOnce();
      expect((await sagas.get(s.id))?.status).toBe('completed');
    });
  });
}

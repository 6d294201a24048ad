/**
 * A worker claims each time a saga or job of its own finishes, so a claim must cost one statement: the claim is
 * one `UPDATE … RETURNING`, run in autocommit (no `BEGIN`/`COMMIT` round trips). Concurrent claimers must still
 * take disjoint sets, and a claimed row must stay claimed (it committed).
 */
import type { StorageAdapter } from '@marketkit/core';
import { ManualClock, testBackends } from '@marketkit/testing';
import type { CompiledQuery, DatabaseConnection, Dialect, Driver } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob, JobRegistry, Jobs } from '../../src/jobs/index.js';
import { defineSaga, SagaRegistry, Sagas } from '../../src/sagas/index.js';
import { migrate } from '../../src/schema/migrate.js';
import { Storage } from '../../src/storage/storage.js';

/** `adapter` whose connections record the SQL of every statement they send (BEGIN and COMMIT included). */
function recording(adapter: StorageAdapter, sent: string[]): StorageAdapter {
  const inner = adapter.dialect;
  const dialect: Dialect = {
    createAdapter: () => inner.createAdapter(),
    createIntrospector: (db) => inner.createIntrospector(db),
    createQueryCompiler: () => inner.createQueryCompiler(),
    createDriver: (): Driver => {
      const driver = inner.createDriver();
      const wrap = (c: DatabaseConnection): DatabaseConnection => ({
        executeQuery(q: CompiledQuery) {
          sent.push(q.sql);
          return c.executeQuery(q);
        },
        streamQuery: (q, chunkSize) => c.streamQuery(q, chunkSize),
      });
      const original = new WeakMap<DatabaseConnection, DatabaseConnection>();
      return {
        init: () => driver.init(),
        acquireConnection: async () => {
          const c = await driver.acquireConnection();
          const w = wrap(c);
          original.set(w, c);
          return w;
        },
        beginTransaction: (c, settings) => driver.beginTransaction(c, settings),
        commitTransaction: (c) => driver.commitTransaction(c),
        rollbackTransaction: (c) => driver.rollbackTransaction(c),
        releaseConnection: (c) => driver.releaseConnection(original.get(c) ?? c),
        destroy: () => driver.destroy(),
      };
    },
  };
  return { ...adapter, dialect };
}

const saga = defineSaga('claimed', {
  input: z.object({ n: z.number() }),
  steps: [{ name: 'only', kind: 'local', run: async () => undefined }],
});
const job = defineJob('claimed', { payload: z.object({ n: z.number() }), run: async () => undefined });

for (const backend of testBackends()) {
  describe(`claims on ${backend.name}`, () => {
    const clock = new ManualClock();
    const sent: string[] = [];
    let storage: Storage;
    let counted: Storage;
    let drop: () => Promise<void>;

    beforeAll(async () => {
      const database = await backend.createDatabase();
      drop = () => database.drop();
      storage = new Storage(database.adapter());
      await migrate(storage);
      counted = new Storage(recording(database.adapter(), sent));
    });
    afterAll(async () => {
      await counted?.destroy();
      await storage?.destroy();
      await drop?.();
    });

    it('claims due sagas in one statement, committed, and concurrent claimers take disjoint sagas', async () => {
      const sagas = new Sagas(storage, new SagaRegistry([saga]), clock);
      for (let n = 0; n < 10; n++) await sagas.start('claimed', { n }, { id: `s${n}` });
      const claimer = new Sagas(counted, new SagaRegistry([saga]), clock);
      sent.length = 0;
      const first = await claimer.claim('w1', 4, 30_000);
      expect(first).toHaveLength(4);
      expect(sent).toHaveLength(1);
      // One statement, no BEGIN: the batch in a CTE, then the update (claimed in one pass, never more than asked).
      expect(sent[0]).toMatch(/^with "due" as \(select .*\) update /is);
      // Committed: the other storage's connections see the lease, and a second claim skips those sagas.
      for (const s of first) expect((await sagas.get(s.id))?.leaseOwner).toBe('w1');
      const [a, b] = await Promise.all([claimer.claim('w2', 3, 30_000), sagas.claim('w3', 10, 30_000)]);
      const ids = [...first, ...a, ...b].map((s) => s.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.sort()).toEqual(Array.from({ length: 10 }, (_, n) => `s${n}`).sort());
      expect(await sagas.claim('w4', 10, 30_000)).toEqual([]);
    });

    it('claims due jobs in one statement, committed', async () => {
      const jobs = new Jobs(storage, new JobRegistry([job]), clock);
      for (let n = 0; n < 3; n++)
        await jobs.scheduleJob(undefined, { kind: 'claimed', runAt: clock.now(), payload: { n } });
      const claimer = new Jobs(counted, new JobRegistry([job]), clock);
      sent.length = 0;
      const claimed = await claimer.claim('w1', 2, 30_000);
      expect(claimed).toHaveLength(2);
      expect(sent).toHaveLength(1);
      expect(sent[0]).toMatch(/^with "due" as \(select .*\) update /is);
      const rest = await jobs.claim('w2', 10, 30_000);
      expect(rest).toHaveLength(1);
      expect(rest[0]?.id).not.toBe(claimed[0]?.id);
      expect(rest[0]?.id).not.toBe(claimed[1]?.id);
    });
  });
}

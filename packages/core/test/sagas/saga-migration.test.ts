/**
 * Migration 0010 on a database migrated to 0009 with sagas in it: the step log is rebuilt with its rows intact and
 * keyed by (saga_id, id), the claim and operator indexes become partial, and the saga queries work as before — in
 * a schema of its own where the backend has schemas (the rebuild renames a table there).
 */
import { systemClock } from '@marketkit/core';
import { type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { encodeJson } from '../../src/jobs/json-column.js';
import { defineSaga, SagaRegistry, Sagas } from '../../src/sagas/index.js';
import { migrate } from '../../src/schema/migrate.js';
import { MIGRATIONS } from '../../src/schema/migrations/index.js';
import { Storage } from '../../src/storage/storage.js';

const NOW = 1_700_000_000_000; // in the past, so saga a is due
const step = (sagaId: string, id: string, index: number) => ({
  id,
  saga_id: sagaId,
  step_index: index,
  step_name: `s${index}`,
  phase: 'run' as const,
  outcome: 'completed' as const,
  attempt: 1,
  detail: encodeJson({ n: 1 }),
  worker: 'w1',
  created_at: NOW + index,
});
const saga = (id: string, status: 'running' | 'failed', nextRunAt: number | null) => ({
  id,
  name: 'noop',
  status,
  step_index: 1,
  input: '{}',
  outputs: '{}',
  next_run_at: nextRunAt,
  created_at: NOW,
  updated_at: NOW,
});

for (const backend of testBackends()) {
  describe(`migration 0010 (lean saga indexes) on ${backend.name}`, () => {
    let database: TestDatabase;
    let storage: Storage;
    let sagas: Sagas;

    beforeAll(async () => {
      database = await backend.createDatabase();
      const adapter = database.adapter();
      storage = new Storage(adapter, { tablePrefix: 'mg_', ...(adapter.capabilities.schemas ? { schema: 'mg' } : {}) });
      const noop = defineSaga('noop', {
        input: z.object({}),
        steps: [{ name: 's0', kind: 'local', run: async () => 1 }],
      });
      sagas = new Sagas(storage, new SagaRegistry([noop]), systemClock);
      const upTo9 = MIGRATIONS.slice(
        0,
        MIGRATIONS.findIndex((m) => m.name === '0010-lean-saga-indexes'),
      );
      expect(upTo9.at(-1)?.name).toBe('0009-payouts');
      await migrate(storage, upTo9);
      // Rows as 0009 left them: no tenant column yet (0015 adds it), so unscoped.
      await storage.unscopedDb
        .insertInto('saga_instances')
        .values([saga('a', 'running', NOW), saga('b', 'failed', null)])
        .execute();
      await storage.unscopedDb
        .insertInto('saga_steps')
        .values([step('a', 'sst_2', 1), step('a', 'sst_1', 0), step('b', 'sst_3', 0)])
        .execute();
      // 0010 and every migration after it, in order.
      expect((await migrate(storage)).applied).toEqual(MIGRATIONS.slice(upTo9.length).map((m) => m.name));
      expect(MIGRATIONS[upTo9.length]?.name).toBe('0010-lean-saga-indexes');
    });
    afterAll(async () => {
      await storage?.destroy();
      await database?.drop();
    });

    it('keeps every step-log row and reads a saga’s history in id order', async () => {
      expect((await sagas.history('a')).map((e) => [e.id, e.stepIndex, e.detail])).toEqual([
        ['sst_1', 0, { n: 1 }],
        ['sst_2', 1, { n: 1 }],
      ]);
      expect((await sagas.history('b')).map((e) => e.id)).toEqual(['sst_3']);
    });

    it('keys the step log by (saga_id, id): a duplicate entry is refused, the same id under another saga is not', async () => {
      const insert = (row: ReturnType<typeof step>) =>
        storage.run((db) => db.insertInto('saga_steps').values(row).execute());
      await expect(insert(step('a', 'sst_1', 5))).rejects.toMatchObject({ code: 'UNIQUE_VIOLATION' });
      await insert(step('b', 'sst_1', 1));
      expect((await sagas.history('b')).map((e) => e.id)).toEqual(['sst_1', 'sst_3']);
    });

    it('still claims due sagas and lists failed ones through the partial indexes', async () => {
      expect((await sagas.listFailed()).map((s) => s.id)).toEqual(['b']);
      const claimed = await sagas.claim('worker-1', 10, 60_000);
      expect(claimed.map((c) => c.id)).toEqual(['a']);
    });
  });
}

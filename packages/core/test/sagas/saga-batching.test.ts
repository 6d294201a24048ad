import { MarketkitError } from '@marketkit/core';
import { testBackends } from '@marketkit/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineSaga, type SagaDefinition } from '../../src/sagas/index.js';
import type { MarketkitTransaction } from '../../src/storage/storage.js';
import { createSagaEnv, type SagaEnv } from './fixtures/saga-env.js';

/** Injected failures: saga id → the step that fails, how often still, and how. */
const faults = new Map<string, { step: string; times: number; retryable: boolean }>();
/** The transaction object each step ran in, by `<saga>:<step>`. */
const seen = new Map<string, MarketkitTransaction>();

const write = (trx: MarketkitTransaction, id: string) =>
  sql`insert into batch_effects (id) values (${id})`.execute(trx).then(() => undefined);

function localStep(name: string, compensate: boolean) {
  return {
    name,
    kind: 'local' as const,
    retry: { attempts: 3, minTimeoutMs: 10, maxTimeoutMs: 10, factor: 1 },
    async run({ trx, sagaId }: { trx: MarketkitTransaction; sagaId: string }) {
      seen.set(`${sagaId}:${name}`, trx);
      await write(trx, `${sagaId}:${name}`);
      const f = faults.get(sagaId);
      if (f?.step === name && f.times > 0) {
        f.times--;
        const message = `injected failure of ${name}`;
        if (f.retryable) throw new MarketkitError('PROVIDER_ERROR', { message, details: { operation: name } });
        throw new MarketkitError('INSUFFICIENT_FUNDS', {
          message,
          details: { accountId: name, amountMinor: '1' },
          retryable: false,
        });
      }
      return { wrote: `${sagaId}:${name}` };
    },
    ...(compensate
      ? {
          async compensate({ trx, sagaId }: { trx: MarketkitTransaction; sagaId: string }) {
            await sql`delete from batch_effects where id = ${`${sagaId}:${name}`}`.execute(trx);
            await write(trx, `${sagaId}:${name}:undone`);
          },
        }
      : {}),
  };
}

function threeLocal(name: string, batchLocalSteps?: boolean): SagaDefinition {
  return defineSaga(name, {
    input: z.object({ n: z.number() }),
    steps: [localStep('a', true), localStep('b', false), localStep('c', false)],
    ...(batchLocalSteps === undefined ? {} : { batchLocalSteps }),
  });
}

for (const backend of testBackends()) {
  describe(`saga local-step batching on ${backend.name}`, () => {
    let env: SagaEnv;
    const effects = async (sagaId: string) =>
      (
        await sql<{ id: string }>`select id from batch_effects where id like ${`${sagaId}:%`} order by id`.execute(
          env.storage.db,
        )
      ).rows.map((r) => r.id);
    const log = async (id: string) =>
      (await env.sagas.history(id)).map((e) => `${e.phase}:${e.stepName}:${e.outcome}:${e.attempt}`);

    beforeAll(async () => {
      env = await createSagaEnv(backend, { extra: [threeLocal('batched'), threeLocal('single', false)] });
      await sql`create table batch_effects (id varchar(200) primary key)`.execute(env.storage.db);
    });
    afterAll(async () => {
      await env?.close();
    });

    it('commits consecutive local steps in one transaction, each logged with its output', async () => {
      await env.sagas.start('batched', { n: 1 }, { id: 'b1' });
      expect(await env.drive('b1')).toBe('completed');
      expect(seen.get('b1:a')).toBe(seen.get('b1:b'));
      expect(seen.get('b1:b')).toBe(seen.get('b1:c'));
      expect(await log('b1')).toEqual(['run:a:completed:1', 'run:b:completed:1', 'run:c:completed:1']);
      expect(await effects('b1')).toEqual(['b1:a', 'b1:b', 'b1:c']);
      expect((await env.sagas.get('b1'))?.outputs).toEqual({
        a: { wrote: 'b1:a' },
        b: { wrote: 'b1:b' },
        c: { wrote: 'b1:c' },
      });
    });

    it('gives each local step its own transaction when batching is off', async () => {
      await env.sagas.start('single', { n: 1 }, { id: 's1' });
      expect(await env.drive('s1')).toBe('completed');
      expect(seen.get('s1:a')).not.toBe(seen.get('s1:b'));
      expect(seen.get('s1:b')).not.toBe(seen.get('s1:c'));
      expect(await log('s1')).toEqual(['run:a:completed:1', 'run:b:completed:1', 'run:c:completed:1']);
    });

    it('commits the steps before a failing one and retries only that one', async () => {
      faults.set('b2', { step: 'b', times: 1, retryable: true });
      await env.sagas.start('batched', { n: 2 }, { id: 'b2' });
      await env.worker('w-b2').runOnce();
      // a committed alone; b waits for its retry, its failed attempt rolled back
      expect(await effects('b2')).toEqual(['b2:a']);
      const waiting = await env.sagas.get('b2');
      expect(waiting).toMatchObject({ status: 'running', stepIndex: 1, attempts: 1 });
      expect(waiting?.lastError?.code).toBe('PROVIDER_ERROR');
      expect(await env.drive('b2')).toBe('completed');
      expect(await log('b2')).toEqual([
        'run:a:completed:1',
        'run:b:retrying:1',
        'run:b:completed:2',
        'run:c:completed:1',
      ]);
      expect(await effects('b2')).toEqual(['b2:a', 'b2:b', 'b2:c']);
    });

    it('compensates the committed steps when a later step of the batch fails permanently', async () => {
      faults.set('b3', { step: 'c', times: 1, retryable: false });
      await env.sagas.start('batched', { n: 3 }, { id: 'b3' });
      expect(await env.drive('b3')).toBe('compensated');
      expect(await log('b3')).toEqual([
        'run:a:completed:1',
        'run:b:completed:1',
        'run:c:failed:1',
        'compensate:a:completed:1',
      ]);
      // c rolled back; a compensated; b has no compensation and stays
      expect(await effects('b3')).toEqual(['b3:a:undone', 'b3:b']);
      expect((await env.sagas.get('b3'))?.lastError?.code).toBe('INSUFFICIENT_FUNDS');
    });

    it('inserts an inline saga with its first batch in one commit, and a second start of the id does nothing', async () => {
      expect(await env.sagas.run('batched', { n: 4 }, { id: 'b4' })).toBe('completed');
      expect(await env.sagas.run('batched', { n: 4 }, { id: 'b4' })).toBe('released');
      expect(await log('b4')).toEqual(['run:a:completed:1', 'run:b:completed:1', 'run:c:completed:1']);
      expect(await effects('b4')).toEqual(['b4:a', 'b4:b', 'b4:c']);
      const saga = await env.sagas.get('b4');
      expect(saga).toMatchObject({ status: 'completed', version: 1n, leaseOwner: null, nextRunAt: null });
    });

    it('falls back to an ordinary start when the inline batch fails, then handles the failure', async () => {
      // b fails in the inline attempt (which rolls back, saga insert included) and again in the ordinary run
      faults.set('b5', { step: 'b', times: 2, retryable: false });
      expect(await env.sagas.run('batched', { n: 5 }, { id: 'b5' })).toBe('compensated');
      expect(faults.get('b5')?.times).toBe(0);
      expect(await effects('b5')).toEqual(['b5:a:undone']);
      expect(await log('b5')).toEqual(['run:a:completed:1', 'run:b:failed:1', 'compensate:a:completed:1']);
    });
  });
}

/** The saga bench's workload: one local write, the Marketkit saga of four steps, and the baseline (a). */
import { systemClock } from '@marketkit/core';
import { sql } from 'kysely';
import { z } from 'zod';
import { defineSaga, SagaRegistry, Sagas } from '../../../packages/core/src/sagas/index.js';
import type { MarketkitTransaction, Storage } from '../../../packages/core/src/storage/storage.js';
import type { FakePaymentService } from '../../../packages/testing/src/fakes/index.js';

/** One local write: the same statement for the saga's steps, the baseline and the DBOS peer. */
export async function write(trx: MarketkitTransaction, id: string, step: string): Promise<void> {
  await sql`insert into bench_effects (id, step, amount) values (${`${id}:${step}`}, ${step}, ${1})`.execute(trx);
}

/**
 * Runs one saga `id` to its end with `sagas.run()` (inline): w1, pay (external), w2, w3. With `batchLocalSteps`
 * (the default) w2 and w3 share one commit; without it every step commits on its own.
 */
export function marketkitSaga(
  storage: Storage,
  psp: FakePaymentService,
  batchLocalSteps = true,
): (id: string) => Promise<void> {
  const saga = defineSaga('bench', {
    input: z.object({ n: z.number() }),
    batchLocalSteps,
    steps: [
      { name: 'w1', kind: 'local', run: ({ trx, sagaId }) => write(trx, sagaId, 'w1') },
      {
        name: 'pay',
        kind: 'external',
        run: ({ idempotencyKey }) => psp.charge({ idempotencyKey, account: 'a', amountMinor: 1n }),
      },
      { name: 'w2', kind: 'local', run: ({ trx, sagaId }) => write(trx, sagaId, 'w2') },
      { name: 'w3', kind: 'local', run: ({ trx, sagaId }) => write(trx, sagaId, 'w3') },
    ],
  });
  const sagas = new Sagas(storage, new SagaRegistry([saga]), systemClock);
  let n = 0;
  return async (id) => {
    const outcome = await sagas.run('bench', { n: n++ }, { id });
    if (outcome !== 'completed') throw new Error(`saga ended ${outcome}`);
  };
}

/** (a) The same four effects with no durability: three plain transactions and the call. */
export function baselineRound(storage: Storage, psp: FakePaymentService): (id: string) => Promise<void> {
  return async (id) => {
    await storage.transaction((trx) => write(trx, id, 'w1'));
    await psp.charge({ idempotencyKey: `${id}:pay`, account: 'a', amountMinor: 1n });
    await storage.transaction((trx) => write(trx, id, 'w2'));
    await storage.transaction((trx) => write(trx, id, 'w3'));
  };
}

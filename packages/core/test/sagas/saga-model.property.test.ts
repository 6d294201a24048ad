import { propertyRuns, testBackends } from '@marketkit/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeFault } from '../../../testing/src/fakes/index.js';
import { createSagaEnv, type SagaEnv } from './fixtures/saga-env.js';
import { CLEARING } from './fixtures/transfer-saga.js';

const ATTEMPTS = 4; // the transfer saga's retry policy

interface Plan {
  readonly amount: number;
  readonly toExists: boolean;
  readonly chargeFaults: readonly FakeFault[];
  readonly refundFaults: readonly FakeFault[];
  readonly racers: number;
}

type Final = 'completed' | 'compensated' | 'resolved';

/** What the model predicts for one saga run alone: its final status and the net effects. */
function model(p: Plan): { status: Final; aliceDelta: bigint; bobDelta: bigint; clearing: bigint; netCharged: bigint } {
  const a = BigInt(p.amount);
  const call = (faults: FakeFault[]): { ok: boolean; applied: boolean; declined: boolean } => {
    let recorded: 'ok' | 'declined' | undefined;
    let applied = false;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      if (recorded !== undefined) return { ok: recorded === 'ok', applied, declined: recorded === 'declined' };
      const f = faults.shift();
      if (f === 'decline') return { ok: false, applied, declined: true };
      if (f === 'fail' || f === 'timeout') continue;
      applied = true;
      recorded = 'ok';
      if (f === undefined) return { ok: true, applied, declined: false };
    }
    return { ok: false, applied, declined: false };
  };
  const charge = call([...p.chargeFaults]);
  if (charge.ok && p.toExists) return { status: 'completed', aliceDelta: -a, bobDelta: a, clearing: 0n, netCharged: a };
  const refunds = [...p.refundFaults];
  const refund = call(refunds);
  if (refund.ok) return { status: 'compensated', aliceDelta: 0n, bobDelta: 0n, clearing: 0n, netCharged: 0n };
  if (refund.declined) {
    // replays decline forever: the operator resolves it by hand; the debit stays in clearing
    return { status: 'resolved', aliceDelta: -a, bobDelta: 0n, clearing: a, netCharged: charge.applied ? a : 0n };
  }
  // exhausted: the operator retries once the service is healthy again (faults cleared)
  return { status: 'compensated', aliceDelta: 0n, bobDelta: 0n, clearing: 0n, netCharged: 0n };
}

const fault = (kinds: readonly FakeFault[]) => fc.array(fc.constantFrom(...kinds), { maxLength: 5 });
const planArb = fc.record({
  amount: fc.integer({ min: 1, max: 50 }),
  toExists: fc.boolean(),
  chargeFaults: fault(['fail', 'timeout', 'failAfterApply', 'decline', 'fail', 'failAfterApply']),
  refundFaults: fault(['fail', 'failAfterApply', 'decline', 'fail']),
  racers: fc.integer({ min: 1, max: 3 }),
});

for (const backend of testBackends()) {
  describe(`saga effects model on ${backend.name}`, () => {
    let env: SagaEnv;
    beforeAll(async () => {
      env = await createSagaEnv(backend, { funds: 1_000_000n });
    });
    afterAll(async () => {
      await env?.close();
    });

    it('applies every ledger and external effect exactly once under any fault schedule and racing workers', async () => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(planArb, { minLength: 1, maxLength: 3 }), async (plans) => {
          for (const p of plans) {
            const id = `p${n++}`;
            const expected = model(p);
            const before = {
              alice: await env.balance('alice'),
              bob: await env.balance('bob'),
              clearing: await env.balance(CLEARING),
            };
            const effectsBefore = env.service.effects();
            env.service.clearFaults();
            for (const f of p.chargeFaults) env.service.injectFault('charge', f);
            for (const f of p.refundFaults) env.service.injectFault('refund', f);
            await env.sagas.start(
              'transfer',
              { from: 'alice', to: p.toExists ? 'bob' : 'nobody', amount: p.amount },
              { id },
            );
            const workers = Array.from({ length: p.racers }, (_, i) => env.worker(`w${i}`));
            let status = '';
            for (let round = 0; round < 60; round++) {
              await Promise.all(workers.map((w) => w.runOnce()));
              const s = await env.sagas.get(id);
              status = s?.status ?? 'missing';
              if (status === 'failed') {
                env.service.clearFaults();
                const declined = expected.status === 'resolved';
                if (declined) await env.sagas.resolve(id, 'refund declined: settled by hand');
                else await env.sagas.retry(id);
                continue;
              }
              if (status !== 'running' && status !== 'compensating') break;
              env.clock.advance(1000);
            }
            expect(status).toBe(expected.status);
            expect((await env.balance('alice')) - before.alice).toBe(expected.aliceDelta);
            expect((await env.balance('bob')) - before.bob).toBe(expected.bobDelta);
            expect((await env.balance(CLEARING)) - before.clearing).toBe(expected.clearing);
            expect(env.service.netCharged(`${id}:charge:run`)).toBe(expected.netCharged);
            const effects = env.service.effects();
            expect(effects.charges - effectsBefore.charges).toBeLessThanOrEqual(1);
            expect(effects.refunds - effectsBefore.refunds).toBeLessThanOrEqual(1);
            const completed = (await env.sagas.history(id)).filter((e) => e.outcome === 'completed');
            const keys = completed.map((e) => `${e.phase}:${e.stepName}`);
            expect(new Set(keys).size).toBe(keys.length); // each step and compensation committed once
          }
          expect((await env.ledger.verify()).ok).toBe(true);
        }),
        { numRuns: propertyRuns(backend.name === 'sqlite' ? 25 : 15) },
      );
    });
  });
}

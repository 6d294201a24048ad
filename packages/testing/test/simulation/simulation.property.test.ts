/**
 * The deterministic simulator (`@marketkit/testing/simulation`): thousands of seeded schedules of workers, the
 * sandbox provider and the clock over one SQLite database, with crashes, faults and lease expiries, every invariant
 * checked after each run; a user's own saga and invariant plug in; a broken one is caught, shrunk and replayed.
 */
import { defineSaga, type Marketplace, type SagaDefinition } from '@marketkit/core';
import { propertyRuns } from '@marketkit/testing';
import { runSimulation, type SimulationAction, type SimulationOptions } from '@marketkit/testing/simulation';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { simulateAndReport, simulationRuns } from './simulation-runs.js';

describe('deterministic simulation, first half', () => {
  const runs = simulationRuns();
  it(`keeps every invariant over ${runs} simulated runs of crashes, faults, races and lease expiries`, async () => {
    await simulateAndReport(runs);
  }, 900_000);
});

/**
 * A user's saga: grants a 1.00 USD bonus from a pool to a buyer. `idempotent` uses a transfer id derived from the
 * saga (a re-run finds it done); otherwise a fresh id per run of the step, which a crash between the grant and the
 * saga's progress turns into a second grant.
 */
function bonusSetup(idempotent: boolean): Pick<SimulationOptions, 'marketplace' | 'setup' | 'actions' | 'invariants'> {
  let market: Marketplace | undefined;
  let fresh = 0;
  const bonus: SagaDefinition = defineSaga('bonus', {
    input: z.object({ buyer: z.string() }),
    steps: [
      {
        name: 'grant',
        kind: 'external',
        run: async ({ sagaId, input }) => {
          if (market === undefined) throw new Error('setup did not run');
          const id = idempotent ? `${sagaId}:grant` : `${sagaId}:grant:${++fresh}`;
          await market.ledger.createTransfers([
            {
              id,
              debitAccountId: 'bonus-pool',
              creditAccountId: `bonus:${input.buyer}`,
              amount: 100n,
              currency: 'USD',
            },
          ]);
        },
      },
      { name: 'done', kind: 'local', run: async () => null },
    ],
  });
  const start = fc.tuple(fc.nat(2), fc.nat(3)).map(
    ([w, n]): SimulationAction => ({
      label: `w${w} start bonus b${n}`,
      worker: w,
      run: async (ctx) => {
        ctx.scratch.set(`b${n}`, true);
        return (await ctx.market(w).sagas.start('bonus', { buyer: 'alice' }, { id: `b${n}` })).status;
      },
    }),
  );
  return {
    marketplace: { sagas: [bonus] },
    setup: async (m) => {
      market = m;
      await m.ledger.createAccounts([
        { id: 'bonus-pool', currency: 'USD', code: 90 },
        { id: 'bonus:alice', currency: 'USD', code: 91 },
      ]);
    },
    actions: [start, start, start],
    invariants: [
      async (ctx) => {
        const account = await ctx.auditor.ledger.getAccount('bonus:alice');
        const granted = (account?.creditsPosted ?? 0n) - (account?.debitsPosted ?? 0n);
        // A start whose worker crashed before it committed started nothing.
        let started = 0;
        for (const id of ctx.scratch.keys()) if ((await ctx.auditor.sagas.get(id)) !== undefined) started++;
        if (granted !== 100n * BigInt(started)) throw new Error(`bonus granted ${granted} for ${started} bonus sagas`);
      },
    ],
  };
}

describe('simulating your own sagas', () => {
  it('runs a user saga and checks the user invariant alongside the built-in ones', async () => {
    const result = await runSimulation({ seed: 7, runs: propertyRuns(300), ...bonusSetup(true) });
    if (!result.ok) expect.fail(result.report);
  }, 300_000);

  it('catches a saga that is not idempotent, shrinks the schedule, and replays the seed to the same trace', async () => {
    const options = { seed: 20, runs: 2_000, ...bonusSetup(false) };
    const found = await runSimulation(options);
    expect(found.ok).toBe(false);
    if (found.ok) return;
    const [, granted, sagas] = /bonus granted (\d+) for (\d+) bonus sagas/.exec(found.error) ?? [];
    expect(Number(granted)).toBeGreaterThan(100 * Number(sagas));
    expect(found.shrunkLength).toBeLessThan(found.originalLength);
    expect(found.trace.filter((line) => /^\s*\d+\. /.test(line))).toHaveLength(found.shrunkLength);
    expect(found.trace.some((line) => line.includes('start bonus'))).toBe(true);
    expect(found.report).toContain(`seed ${found.seed}, path "${found.path}"`);
    console.log(found.report);
    // The printed seed and path replay exactly that schedule: same steps, same outcomes, same failure.
    const replayed = await runSimulation({ ...bonusSetup(false), seed: found.seed, path: found.path });
    expect(replayed.ok).toBe(false);
    if (replayed.ok) return;
    expect(replayed.trace).toEqual(found.trace);
    expect(replayed.error).toBe(found.error);
  }, 300_000);
});

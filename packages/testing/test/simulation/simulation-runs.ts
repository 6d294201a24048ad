import { propertyRuns } from '@marketkit/testing';
import { runSimulation } from '@marketkit/testing/simulation';
import { expect } from 'vitest';

/**
 * Half of each CI run's simulations: two files of 5,000 (`MARKETKIT_SIM_RUNS` sets the total), each with a fresh
 * seed, so vitest runs them on both workers at once instead of one file holding a worker for all 10,000.
 */
export function simulationRuns(): number {
  return Math.max(1, Math.ceil(propertyRuns(10_000, { env: 'MARKETKIT_SIM_RUNS' }) / 2));
}

/** Runs `runs` simulations (seed from `MARKETKIT_SIM_SEED`, else a fresh one) and fails with the shrunk trace. */
export async function simulateAndReport(runs: number): Promise<void> {
  const seed = process.env['MARKETKIT_SIM_SEED'];
  const cpu = process.cpuUsage();
  const result = await runSimulation({ runs, ...(seed ? { seed: Number(seed) } : {}) });
  if (!result.ok) expect.fail(result.report);
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000 / result.runs;
  console.log(
    `simulation: ${result.runs} runs, ${result.runsPerSecond.toFixed(0)} runs/s, ${cpuMs.toFixed(1)} ms of CPU a run (seed ${result.seed})`,
  );
  expect(result.runs).toBe(runs);
}

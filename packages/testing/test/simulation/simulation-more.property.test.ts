/**
 * The second half of each run's 10,000 deterministic simulations (the first is in simulation.property.test.ts), a
 * file of its own so both vitest workers simulate at once; its own fresh seed.
 */
import { describe, it } from 'vitest';
import { simulateAndReport, simulationRuns } from './simulation-runs.js';

describe('deterministic simulation, second half', () => {
  const runs = simulationRuns();
  it(`keeps every invariant over ${runs} more simulated runs`, async () => {
    await simulateAndReport(runs);
  }, 900_000);
});

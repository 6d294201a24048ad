import { runSimulation } from '@marketkit/testing/simulation';
import { it } from 'vitest';

it('explore', async () => {
  const r = await runSimulation({ runs: Number(process.env['N'] ?? 1500), maxActions: 40, workers: 4 });
  console.log(r.ok ? `ok ${r.runs} runs ${r.runsPerSecond.toFixed(0)} runs/s seed ${r.seed}` : r.report);
}, 1_800_000);

// An export holds one batch at a time: exporting 200,000 rows (1,000,000 in `npm run bench -- export`), the heap
// after each garbage collection stays flat. The export runs in a child process started with --expose-gc, so the
// samples measure it alone.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROWS = 200_000;
/** Most heap growth tolerated over the whole export: 3 MB, 15 bytes a row at 200,000 rows. */
const MAX_GROWTH = 3 * 1024 * 1024;
const child = fileURLToPath(new URL('./fixtures/export-memory-child.ts', import.meta.url));

async function runChild(backend: string, location: string): Promise<{ rows: number; samples: number[] }> {
  const proc = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', child, backend, location, String(ROWS)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
  if (code !== 0) throw new Error(`export child exited with ${code}:\n${err}`);
  return JSON.parse(out) as { rows: number; samples: number[] };
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** Least-squares slope of `ys` against their index. */
function slope(ys: readonly number[]): number {
  const n = ys.length;
  const mx = (n - 1) / 2;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of ys.entries()) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return num / den;
}

for (const backend of testBackends()) {
  describe(`export memory on ${backend.name}`, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await backend.createDatabase();
    });
    afterAll(async () => database?.drop());

    it(`exports ${ROWS} rows with no heap growth beyond ${MAX_GROWTH} bytes`, async () => {
      const { rows, samples } = await runChild(backend.name, database.location);
      expect(rows).toBe(ROWS);
      expect(samples.length).toBeGreaterThanOrEqual(30);
      // The first samples include the first batches' warm-up (compiled code, the statement cache).
      const steady = samples.slice(5);
      expect(median(steady.slice(-10)) - median(steady.slice(0, 10))).toBeLessThan(MAX_GROWTH);
      expect(slope(steady) * steady.length).toBeLessThan(MAX_GROWTH);
    });
  });
}

/**
 * `npm run bench -- <name> [flags…]` runs one benchmark, e.g. `npm run bench -- ledger`.
 * Each benchmark prints its figures beside a baseline measured in the same run.
 */
import { execSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** A benchmark: receives the arguments after its name. */
type Bench = (args: readonly string[]) => Promise<void>;

const BENCHES = new Map<string, () => Promise<Bench>>([
  ['checkout', async () => (await import('./checkout-bench.js')).runCheckoutBench],
  ['coalesce', async () => (await import('./coalesce-bench.js')).runCoalesceBench],
  ['export', async () => (await import('./export-bench.js')).runExportBench],
  ['http', async () => (await import('./http-bench.js')).runHttpBench],
  ['ledger', async () => (await import('./ledger-bench.js')).runLedgerBench],
  ['outbox', async () => (await import('./outbox-bench.js')).runOutboxBench],
  ['saga', async () => (await import('./saga-bench.js')).runSagaBench],
  ['scale', async () => (await import('./scale-bench.js')).runScaleBench],
  ['soak', async () => (await import('./soak-bench.js')).runSoakBench],
  ['webhooks', async () => (await import('./webhooks-bench.js')).runWebhooksBench],
  ['workers', async () => (await import('./workers-bench.js')).runWorkersBench],
]);

/**
 * Benchmarks of the packages as published: they import only `@marketkit/*`, which they then resolve to the built
 * `dist/` (built first) instead of the sources the workspace's `paths` point at. Sources run under tsx carry
 * what its transform adds (a `__name` call for every closure made, among others), which users never run; the
 * saga and outbox benchmarks reach into core's internals, so they stay on the sources.
 */
const ON_DIST = new Set(['checkout', 'http', 'scale', 'soak', 'workers']);
const DIST_TSCONFIG = fileURLToPath(new URL('../../tsconfig.build.json', import.meta.url));

async function main(): Promise<void> {
  const [name, ...args] = process.argv.slice(2);
  const load = name === undefined ? undefined : BENCHES.get(name);
  if (load === undefined) {
    console.error(`usage: npm run bench -- <${[...BENCHES.keys()].join('|')}> [flags]`);
    process.exitCode = 2;
    return;
  }
  if (ON_DIST.has(name!) && process.env['MK_BENCH_ON_DIST'] !== '1') {
    process.stderr.write('  building the packages (the benchmark runs their dist/)…\n');
    execSync('npm run build', { stdio: ['ignore', 'ignore', 'inherit'] });
    const child = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, MK_BENCH_ON_DIST: '1', TSX_TSCONFIG_PATH: DIST_TSCONFIG },
    });
    process.exitCode = child.status ?? 1;
    return;
  }
  await (await load())(args);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

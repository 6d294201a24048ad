/**
 * `npm run bench -- saga [--quick] [--only=sqlite|postgres] [--no-dbos] [--verbose]`: sagas of four steps (three local
 * writes and one call to an in-process fake payment service) per second, on SQLite and PostgreSQL, with 1 and
 * 32 in flight per process and 1 and 4 processes. Beside each figure, from the same run: (a) the same four
 * writes as plain transactions with no durability (the baseline), and on PostgreSQL (b) the same saga as a DBOS
 * Transact workflow (`./saga/dbos-peer.ts`, on its own fresh database); each with its ratio to (a). Also prints
 * round trips per saga and the durability cost per step. Every measurement runs in child processes
 * (`node --import tsx`) whose windows are aligned; the rows run in rounds, the three sides interleaved.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { postgresAdapter } from '@marketkit/adapters/postgres';
import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import type { StorageAdapter } from '@marketkit/core';
import { createFreshDatabase } from '@marketkit/testing';
import { sql } from 'kysely';
import { migrate } from '../../packages/core/src/schema/migrate.js';
import { Storage } from '../../packages/core/src/storage/storage.js';
import { FakePaymentService } from '../../packages/testing/src/fakes/index.js';
import { type BenchChild, spawnBenchChild } from './bench-child.js';
import { formatRate, formatRatio, formatTable, median, spread } from './report.js';
import { type Counter, countingAdapter } from './saga/counting.js';
import { launchDbosPeer } from './saga/dbos-peer.js';
import { baselineRound, marketkitSaga } from './saga/workload.js';

type Backend = 'sqlite' | 'postgres';
type Mode = 'saga' | 'perStep' | 'baseline' | 'dbos';

interface ChildSpec {
  readonly backend: Backend;
  readonly location: string;
  readonly mode: Mode;
  readonly inFlight: number;
  /** PostgreSQL connections this process may hold. */
  readonly pool: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

const SELF = fileURLToPath(import.meta.url);

function adapterFor(backend: Backend, location: string, pool: number): StorageAdapter {
  return backend === 'sqlite'
    ? sqliteAdapter({ filename: location })
    : postgresAdapter({ connectionString: location, max: pool });
}

/**
 * Connections per process: one per saga in flight plus one, at most 20, and at most 24 over all processes (two
 * cores gain nothing from more, and PostgreSQL's 100 connections are shared with whatever else runs here).
 */
function poolSize(processes: number, inFlight: number): number {
  return Math.max(2, Math.min(inFlight + 1, 20, Math.floor(24 / processes)));
}

// ---------------------------------------------------------------------------------------------------------------
// Child: runs `inFlight` loops of one mode for the window and prints how many sagas (or baseline rounds) finished.

async function runChild(spec: ChildSpec): Promise<void> {
  // DBOS holds two pools (the application's, its system database's): half the connections each, so that it
  // holds as many as Marketkit does; but its system pool needs two at least (with one, it stalls).
  const half = Math.ceil(spec.pool / 2);
  const appPool = spec.mode === 'dbos' ? Math.max(1, spec.pool - half) : spec.pool;
  const storage = new Storage(adapterFor(spec.backend, spec.location, appPool));
  const psp = new FakePaymentService();
  const dbos =
    spec.mode === 'dbos'
      ? await launchDbosPeer({ url: spec.location, storage, psp, poolSize: Math.max(2, half), runMigrations: false })
      : undefined;
  const one =
    dbos !== undefined
      ? dbos.one
      : spec.mode === 'baseline'
        ? baselineRound(storage, psp)
        : marketkitSaga(storage, psp, spec.mode === 'saga');
  let seq = 0;
  const prefix = `${process.pid}-${spec.mode}`;
  await storage.run((db) => sql`select 1`.execute(db)); // connect before the window
  process.stdout.write('ready\n');
  const startAt = await new Promise<number>((resolve) => {
    process.stdin.once('data', (c: Buffer) => resolve(Number(c.toString().trim())));
  });
  await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())));
  const measureFrom = startAt + spec.warmupMs;
  const end = measureFrom + spec.durationMs;
  let done = 0;
  await Promise.all(
    Array.from({ length: spec.inFlight }, async () => {
      while (Date.now() < end) {
        await one(`${prefix}-${seq++}`);
        if (Date.now() >= measureFrom && Date.now() < end) done++;
      }
    }),
  );
  await dbos?.shutdown();
  await storage.destroy();
  process.stdout.write(`${JSON.stringify({ done })}\n`);
}

// ---------------------------------------------------------------------------------------------------------------
// Parent

function spawnChild(spec: ChildSpec): BenchChild<number> {
  const child = spawnBenchChild<{ done: number }>([SELF, '--child', JSON.stringify(spec)], spec.mode);
  return { ...child, result: child.result.then((r) => r.done) };
}

async function measure(
  backend: Backend,
  location: string,
  mode: Mode,
  processes: number,
  inFlight: number,
  o: { warmupMs: number; durationMs: number },
): Promise<number> {
  const spec = { backend, location, mode, inFlight, pool: poolSize(processes, inFlight), ...o };
  const children = Array.from({ length: processes }, () => spawnChild(spec));
  await Promise.all(children.map((c) => c.ready));
  const startAt = Date.now() + 50; // every child measures the same window
  for (const c of children) c.go(startAt);
  const counts = await Promise.all(children.map((c) => c.result));
  return (counts.reduce((a, b) => a + b, 0) * 1000) / o.durationMs;
}

interface Prepared {
  readonly location: string;
  drop(): Promise<void>;
}

/** A fresh database with Marketkit's tables and `bench_effects`. */
async function prepare(backend: Backend): Promise<Prepared> {
  let location: string;
  let drop: () => Promise<void>;
  if (backend === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'mk-saga-bench-'));
    location = join(dir, 'bench.db');
    drop = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    const fresh = await createFreshDatabase(
      process.env['MARKETKIT_PG_URL'] ?? 'postgres://root@127.0.0.1:5432/postgres',
    );
    location = fresh.url;
    drop = () => fresh.drop();
  }
  const storage = new Storage(adapterFor(backend, location, 2));
  await migrate(storage);
  await sql`create table bench_effects (id text primary key, step text not null, amount bigint not null)`.execute(
    storage.db,
  );
  await storage.destroy();
  return { location, drop };
}

interface RoundTrips {
  readonly saga: number;
  readonly perStep: number;
  readonly baseline: number;
  /** DBOS: statements on the application side and on its system database. */
  readonly dbos?: { readonly app: number; readonly system: number };
}

/**
 * Statements sent per saga (BEGIN and COMMIT included), counted over `n` sequential sagas in this process. On
 * PostgreSQL each is a network round trip; on SQLite a call into the library. Creates DBOS's system tables in
 * `dbosLocation` on the way (its migration), so run it before the DBOS rows.
 */
async function countRoundTrips(backend: Backend, location: string, dbosLocation?: string): Promise<RoundTrips> {
  const n = 50;
  const counted = async (
    side: string,
    make: (s: Storage, psp: FakePaymentService) => (id: string) => Promise<void>,
  ) => {
    const counter: Counter = { count: 0 };
    const storage = new Storage(countingAdapter(adapterFor(backend, location, 2), counter));
    const one = make(storage, new FakePaymentService());
    await one(`rt-${side}-warm`);
    counter.count = 0;
    for (let i = 0; i < n; i++) await one(`rt-${side}-${i}`);
    await storage.destroy();
    return counter.count / n;
  };
  const saga = await counted('saga', marketkitSaga);
  const perStep = await counted('perStep', (s, psp) => marketkitSaga(s, psp, false));
  const baseline = await counted('baseline', baselineRound);
  if (dbosLocation === undefined) return { saga, perStep, baseline };
  const app: Counter = { count: 0 };
  const system: Counter = { count: 0 };
  const storage = new Storage(countingAdapter(adapterFor(backend, dbosLocation, 2), app));
  const peer = await launchDbosPeer({
    url: dbosLocation,
    storage,
    psp: new FakePaymentService(),
    poolSize: 2,
    counter: system,
    runMigrations: true,
  });
  try {
    await peer.one('rt-warm');
    app.count = 0;
    system.count = 0;
    for (let i = 0; i < n; i++) await peer.one(`rt-${i}`);
  } finally {
    await peer.shutdown();
    await storage.destroy();
  }
  return { saga, perStep, baseline, dbos: { app: app.count / n, system: system.count / n } };
}

interface Row {
  readonly backend: Backend;
  readonly processes: number;
  readonly inFlight: number;
  readonly saga: number[];
  readonly perStep: number[];
  readonly baseline: number[];
  readonly dbos: number[];
}

/**
 * Runs the saga benchmark and prints one table for both backends.
 *
 * @example
 * ```ts
 * await runSagaBench(['--quick', '--only=postgres']);
 * ```
 */
export async function runSagaBench(args: readonly string[] = []): Promise<void> {
  const quick = args.includes('--quick');
  const withDbos = !args.includes('--no-dbos');
  const verbose = args.includes('--verbose');
  const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  // Every side runs in a fresh process, so the warm-up must outlast V8's tiering up: at 500 ms a Marketkit child
  // still spent ~800 µs of CPU per saga, at 3 s ~420 µs (the baseline's shorter path warms faster: 230–270 µs
  // either way), and a worker process in production runs warm. Quick runs stay short and read low.
  const o = quick ? { warmupMs: 300, durationMs: 1000 } : { warmupMs: 3000, durationMs: 2000 };
  const rounds = quick ? 1 : 2;
  const rows: Row[] = [];
  const trips = new Map<Backend, RoundTrips>();
  for (const backend of ['sqlite', 'postgres'] as const) {
    if (only !== undefined && only !== backend) continue;
    const db = await prepare(backend);
    const dbosDb = backend === 'postgres' && withDbos ? await prepare(backend) : undefined;
    try {
      trips.set(backend, await countRoundTrips(backend, db.location, dbosDb?.location));
      if (verbose) console.error(`${backend} round trips: ${JSON.stringify(trips.get(backend))}`);
      const grid: Row[] = [];
      for (const processes of [1, 4]) {
        for (const inFlight of [1, 32])
          grid.push({ backend, processes, inFlight, saga: [], perStep: [], baseline: [], dbos: [] });
      }
      for (let round = 0; round < rounds; round++) {
        for (const row of grid) {
          const sides: Mode[] = ['baseline', 'saga', 'perStep'];
          if (dbosDb !== undefined) sides.push('dbos');
          if (round % 2 === 1) sides.reverse(); // who goes first alternates
          for (const mode of sides) {
            const location = mode === 'dbos' && dbosDb !== undefined ? dbosDb.location : db.location;
            const value = await measure(backend, location, mode, row.processes, row.inFlight, o);
            row[mode].push(value);
            if (verbose) console.error(`${backend} ${row.processes}×${row.inFlight} ${mode}: ${value.toFixed(0)}/s`);
          }
        }
      }
      rows.push(...grid);
    } finally {
      await db.drop();
      await dbosDb?.drop();
    }
  }
  report(rows, trips, o, rounds);
}

function report(
  rows: readonly Row[],
  trips: ReadonlyMap<Backend, RoundTrips>,
  o: { warmupMs: number; durationMs: number },
  rounds: number,
) {
  /** Median of the per-round ratios, and half their relative spread. */
  const ratio = (side: readonly number[], base: readonly number[]) => {
    const rs = side.map((v, i) => v / (base[i] ?? Number.NaN));
    const s = spread(rs);
    return `${formatRatio(median(rs))}${s === undefined ? '' : ` ±${Math.round((s * 100) / 2)}%`}`;
  };
  const rate = (xs: readonly number[]) => (xs.length === 0 ? '–' : formatRate(median(xs)));
  let last = '';
  const table = rows.map((r) => {
    const group = r.backend === last ? '' : r.backend;
    last = r.backend;
    return [
      group,
      `${r.processes} proc × ${r.inFlight} in flight`,
      rate(r.baseline),
      rate(r.saga),
      ratio(r.saga, r.baseline),
      rate(r.perStep),
      ratio(r.perStep, r.baseline),
      rate(r.dbos),
      r.dbos.length === 0 ? '–' : ratio(r.dbos, r.baseline),
      r.dbos.length === 0 ? '–' : ratio(r.saga, r.dbos),
    ];
  });
  console.log(
    `Sagas of 4 steps (3 local writes + 1 external call to an in-process fake) per second; medians of ${rounds} ` +
      `round(s) of ${o.durationMs / 1000} s after a ${o.warmupMs / 1000} s warm-up in each fresh process, ratios = ` +
      'median of per-round ratios (± half their spread)',
  );
  console.log(
    '  Marketkit: sagas.run() inline; w2 and w3 (consecutive local steps) share one commit, the default. ' +
      '"1 commit/step": batchLocalSteps: false.',
  );
  console.log('  (a): the same writes as 3 plain transactions + the call.');
  console.log('  DBOS: the same saga as a DBOS Transact workflow (3 steps of one transaction each + 1 step).\n');
  console.log(
    formatTable(
      [
        'backend',
        'workload',
        '(a) plain/s',
        'Marketkit/s',
        'MK/(a)',
        '1 commit/step/s',
        '/(a)',
        'DBOS/s',
        'DBOS/(a)',
        'MK/DBOS',
      ],
      table,
      ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
    ),
  );

  console.log('\nStatements per saga (BEGIN and COMMIT included; on PostgreSQL each is a network round trip)');
  const tripRows = [...trips].map(([backend, t]) => [
    backend,
    t.baseline.toFixed(1),
    t.saga.toFixed(1),
    t.perStep.toFixed(1),
    t.dbos === undefined
      ? '–'
      : `${(t.dbos.app + t.dbos.system).toFixed(1)} (${t.dbos.app} app + ${t.dbos.system} system)`,
  ]);
  console.log(
    formatTable(['backend', '(a)', 'Marketkit', '1 commit/step', 'DBOS'], tripRows, [
      'left',
      'right',
      'right',
      'right',
      'right',
    ]),
  );

  console.log(
    '\nDurability cost per step: capacity time each step costs beyond the plain write, (1/sagas − 1/plain) ÷ 4; ' +
      'latency per saga: 1/rate × processes × in flight',
  );
  const costs = rows.map((r) => {
    const conc = r.processes * r.inFlight;
    const costPerStep = (v: readonly number[]) =>
      v.length === 0 ? '–' : `${(((1 / median(v) - 1 / median(r.baseline)) * 1e6) / 4).toFixed(0)} µs`;
    const latency = (v: readonly number[]) => (v.length === 0 ? '–' : `${((1e6 / median(v)) * conc).toFixed(0)} µs`);
    return [
      r.backend,
      `${r.processes} proc × ${r.inFlight} in flight`,
      costPerStep(r.saga),
      costPerStep(r.perStep),
      costPerStep(r.dbos),
      latency(r.baseline),
      latency(r.saga),
      latency(r.dbos),
    ];
  });
  console.log(
    formatTable(
      [
        'backend',
        'workload',
        'MK cost/step',
        '1 commit/step',
        'DBOS cost/step',
        '(a) latency',
        'MK latency',
        'DBOS latency',
      ],
      costs,
      ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right'],
    ),
  );
}

if (
  process.argv[1] !== undefined &&
  pathToFileURL(process.argv[1]).href === import.meta.url &&
  process.argv[2] === '--child'
) {
  runChild(JSON.parse(process.argv[3] ?? '{}') as ChildSpec).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}

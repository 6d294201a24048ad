/**
 * `npm run bench -- workers [--quick] [--rounds=N] [--sagas=N] [--warmup=ms] [--duration=ms] [--verbose]`: saga steps per second run by worker
 * processes against a job queue people use. Marketkit: sagas of 3 local steps (one small write each, each committed
 * on its own), started beforehand, claimed and run by `createWorker` in 1 and 4 child processes. Beside it, in the
 * same run on PostgreSQL: graphile-worker running the same work as chained jobs (each job does the step's write and
 * adds the next step's job in one transaction), in 1 and 4 child processes. Each measurement gets a fresh database
 * with its queue filled, so neither side sees the other's tables; rows run in rounds, the two sides alternating
 * which goes first. Steps are counted as rows written by the steps in a window after a warm-up.
 */

import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createFreshDatabase } from '@marketkit/testing';
import { type BenchChild, spawnBenchChild } from './bench-child.js';
import { formatRate, formatRatio, formatTable, median, spread } from './report.js';
import { ClusterCpu, postmasterOf } from './scale/cluster-cpu.js';
import type { ChildResult, ChildSpec } from './workers/child.js';
import {
  type LaneName,
  type LaneSettings,
  pendingWork,
  prepareGraphile,
  prepareMarketkit,
  quietPool,
  STEPS,
} from './workers/lane.js';

const CHILD = fileURLToPath(new URL('./workers/child.ts', import.meta.url));

/** A set of worker options for both sides. */
interface Setting {
  readonly name: string;
  readonly marketkit: LaneSettings;
  readonly graphile: LaneSettings;
}

/**
 * Each side's defaults (Marketkit: concurrency 8, poll 500 ms; graphile-worker: concurrency 1, poll 2 s with
 * LISTEN/NOTIFY), and both at concurrency 8, each keeping its own poll interval. Pools: 10 connections per process
 * on both sides (graphile-worker's default `maxPoolSize`).
 */
const SETTINGS: readonly Setting[] = [
  {
    name: 'concurrency 8 each',
    marketkit: { concurrency: 8, pollMs: 500, pool: 10 },
    graphile: { concurrency: 8, pollMs: 2000, pool: 10 },
  },
  {
    name: 'defaults',
    marketkit: { concurrency: 8, pollMs: 500, pool: 10 },
    graphile: { concurrency: 1, pollMs: 2000, pool: 10 },
  },
];

interface Measured {
  /** Steps (rows written) per second in the window. */
  readonly rate: number;
  /** Statements sent per step in the window, over all processes. */
  readonly statementsPerStep: number;
  /** CPU per step in the window, µs: the worker processes', and the database's backends' and background's. */
  readonly workerUs: number;
  readonly databaseUs: number;
  /** Statements per step by kind (first 60 characters). */
  readonly kinds: Record<string, number>;
  /** The queue ran dry before the window ended (the rate then reads low). */
  readonly drained: boolean;
}

interface Options {
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly sagas: number;
  readonly verbose: boolean;
}

function spawnChild(spec: ChildSpec): BenchChild<ChildResult> {
  return spawnBenchChild<ChildResult>([CHILD, JSON.stringify(spec)], `workers ${spec.lane}`);
}

const at = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));

/** One measurement: a fresh database for `lane` with its queue filled, worked by `processes` child processes. */
async function measure(
  base: string,
  lane: LaneName,
  processes: number,
  settings: LaneSettings,
  o: Options,
): Promise<Measured> {
  const db = await createFreshDatabase(base, { prefix: 'mk_bench_workers_' });
  const probe = quietPool(db.url);
  try {
    await (lane === 'marketkit' ? prepareMarketkit : prepareGraphile)(db.url, o.sagas);
    const spec: ChildSpec = { lane, url: db.url, settings, warmupMs: o.warmupMs, durationMs: o.durationMs };
    const children = Array.from({ length: processes }, () => spawnChild(spec));
    await Promise.all(children.map((c) => c.ready));
    const { rows } = await probe.query<{ pid: number }>('select pg_backend_pid() as pid');
    const cpu = new ClusterCpu(postmasterOf(rows[0]!.pid), new URL(db.url).pathname.slice(1));
    const startAt = Date.now() + 100; // every process starts its worker at the same time
    for (const c of children) c.go(startAt);
    const count = async () => {
      const r = await probe.query<{ n: number }>('select count(*)::int as n from bench_effects');
      return { n: r.rows[0]?.n ?? 0, t: performance.now() };
    };
    await at(startAt + o.warmupMs);
    const first = await count();
    cpu.start();
    await at(startAt + o.warmupMs + o.durationMs);
    const last = await count();
    const pgCpu = cpu.stop();
    const pending = await pendingWork(probe, lane);
    const results = await Promise.all(children.map((c) => c.result));
    const steps = last.n - first.n;
    const errors = results.reduce((a, r) => a + r.errors, 0);
    if (errors > 0) throw new Error(`${lane}: the workers reported ${errors} errors`);
    const kinds: Record<string, number> = {};
    for (const r of results) for (const [k, n] of Object.entries(r.kinds)) kinds[k] = (kinds[k] ?? 0) + n / steps;
    return {
      rate: (steps * 1000) / (last.t - first.t),
      statementsPerStep: results.reduce((a, r) => a + r.statements, 0) / steps,
      workerUs: results.reduce((a, r) => a + r.cpuUs, 0) / steps,
      databaseUs: ((pgCpu.benchBackends + pgCpu.background) * pgCpu.seconds * 1e6) / steps,
      kinds,
      drained: pending === 0,
    };
  } finally {
    await probe.end();
    await db.drop();
  }
}

interface Row {
  readonly setting: Setting;
  readonly processes: number;
  readonly marketkit: Measured[];
  readonly graphile: Measured[];
}

function parseOptions(args: readonly string[]) {
  const quick = args.includes('--quick');
  const num = (flag: string, fallback: number) => {
    const v = args.find((a) => a.startsWith(`--${flag}=`))?.slice(flag.length + 3);
    return v === undefined ? fallback : Number(v);
  };
  // A worker process is fresh, so the warm-up must outlast V8's tiering up, and a process tiers up by the calls it
  // makes: with 4 processes each makes a quarter of them. Measured here, 4 Marketkit processes ran ~285 steps/s at
  // 1.5 ms of worker CPU per step in the 5 s after a 3 s warm-up, and were still speeding up 15 s in (~600 steps/s,
  // 0.77 ms). Production workers run warm, so both sides warm up 15 s. The queue must outlast the warm-up and the
  // window at the fastest rate seen here (~1,500 steps/s), or the rate reads low (the run then says so).
  const o: Options = {
    warmupMs: num('warmup', quick ? 1000 : 15_000),
    durationMs: num('duration', quick ? 2000 : 5000),
    sagas: num('sagas', quick ? 5000 : 15_000),
    verbose: args.includes('--verbose'),
  };
  return { o, rounds: num('rounds', quick ? 1 : 2) };
}

/**
 * Runs the workers benchmark and prints its table.
 *
 * @example
 * ```ts
 * await runWorkersBench(['--quick']);
 * ```
 */
export async function runWorkersBench(args: readonly string[] = []): Promise<void> {
  const { o, rounds } = parseOptions(args);
  const base = process.env['MARKETKIT_PG_URL'] || 'postgres://root@127.0.0.1:5432/postgres';
  const rows: Row[] = [];
  for (const setting of SETTINGS) {
    for (const processes of [1, 4]) rows.push({ setting, processes, marketkit: [], graphile: [] });
  }
  for (let round = 0; round < rounds; round++) {
    for (const row of rows) {
      const lanes: LaneName[] = round % 2 === 0 ? ['marketkit', 'graphile'] : ['graphile', 'marketkit'];
      for (const lane of lanes) {
        const m = await measure(base, lane, row.processes, row.setting[lane], o);
        row[lane].push(m);
        if (o.verbose) {
          console.error(
            `${row.setting.name} ${row.processes} proc ${lane}: ${m.rate.toFixed(0)} steps/s, ` +
              `${m.statementsPerStep.toFixed(2)} statements/step, CPU/step: workers ${m.workerUs.toFixed(0)} µs, ` +
              `database ${m.databaseUs.toFixed(0)} µs${m.drained ? ' (queue drained)' : ''}`,
          );
          for (const [k, n] of Object.entries(m.kinds).sort((a, b) => b[1] - a[1])) {
            if (n >= 0.005) console.error(`    ${n.toFixed(3)}  ${k}`);
          }
        }
      }
    }
  }
  report(rows, o, rounds);
}

function report(rows: readonly Row[], o: Options, rounds: number): void {
  const rate = (ms: readonly Measured[]) => {
    const s = spread(ms.map((m) => m.rate));
    return `${formatRate(median(ms.map((m) => m.rate)))}${s === undefined ? '' : ` ±${Math.round((s * 100) / 2)}%`}`;
  };
  const ratio = (a: readonly Measured[], b: readonly Measured[]) =>
    formatRatio(median(a.map((m, i) => m.rate / (b[i]?.rate ?? Number.NaN))));
  const perStep = (ms: readonly Measured[]) => median(ms.map((m) => m.statementsPerStep)).toFixed(1);
  const cpuPerStep = (ms: readonly Measured[]) =>
    `${median(ms.map((m) => m.workerUs)).toFixed(0)} + ${median(ms.map((m) => m.databaseUs)).toFixed(0)}`;
  const drained = rows.some((r) => [...r.marketkit, ...r.graphile].some((m) => m.drained));
  const fmt = (s: LaneSettings) => `concurrency ${s.concurrency}, poll ${s.pollMs} ms, pool ${s.pool}`;
  let last = '';
  const table = rows.map((r) => {
    const group = r.setting.name === last ? '' : r.setting.name;
    last = r.setting.name;
    return [
      group,
      `${r.processes} proc`,
      rate(r.marketkit),
      rate(r.graphile),
      ratio(r.marketkit, r.graphile),
      perStep(r.marketkit),
      perStep(r.graphile),
      cpuPerStep(r.marketkit),
      cpuPerStep(r.graphile),
    ];
  });
  console.log(
    `Steps per second run by worker processes on PostgreSQL: ${o.sagas.toLocaleString('en-US')} chains of ${STEPS} ` +
      'steps queued before the workers start, one write per step; medians of ' +
      `${rounds} round(s) of ${o.durationMs / 1000} s after a ${o.warmupMs / 1000} s warm-up (± half the spread), ` +
      'a fresh database per measurement. Goal: Marketkit/graphile >= 2x.',
  );
  console.log(
    '  Marketkit: createWorker() claiming sagas (FOR UPDATE SKIP LOCKED, fenced lease) and running them; ' +
      'batchLocalSteps: false, so every step commits its write + progress + step log on its own.',
  );
  console.log(
    '  graphile-worker: one job per step; the job writes and calls graphile_worker.add_job for the next step ' +
      'in one transaction, then graphile-worker completes the job (its own commit). No local queue, no batched completion (its defaults).',
  );
  for (const s of SETTINGS)
    console.log(`  ${s.name}: Marketkit ${fmt(s.marketkit)}; graphile-worker ${fmt(s.graphile)}`);
  console.log('');
  console.log(
    formatTable(
      [
        'settings',
        'workers',
        'Marketkit steps/s',
        'graphile steps/s',
        'MK/graphile',
        'MK stmts/step',
        'gw stmts/step',
        'MK CPU µs/step',
        'gw CPU µs/step',
      ],
      table,
      ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
    ),
  );
  console.log(
    '\nStatements per step: everything the worker processes sent in the window (BEGIN, COMMIT, claims, polls).',
  );
  if (drained) console.log('WARNING: a queue ran dry before the window ended; rerun with a larger --sagas.');
}

/**
 * `npm run bench -- scale`: checkouts per second on PostgreSQL from 1, 2, 4 and 8 worker processes (each its own
 * pool and marketplace, 8 checkouts in flight, the in-memory sandbox provider), connected directly and through
 * PgBouncer in transaction mode, with the database server's CPU and the workers' CPU beside each row, so the curve
 * shows where it flattens and why. Baseline in the same run: the checkout bench's hand-written (b) (each
 * transaction one statement) at 1 and 8 processes.
 */
import { cpus, loadavg } from 'node:os';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPostgresPool, postgresAdapter } from '@marketkit/adapters/postgres';
import { createMarketplace } from '@marketkit/core';
import { createFreshDatabase, SandboxPaymentProvider } from '@marketkit/testing';
import type pg from 'pg';
import { seedListings } from './checkout/model.js';
import { percentile } from './http/checkout-load.js';
import { formatRate, formatRatio, formatTable, median } from './report.js';
import { type Activity, watchActivity } from './scale/backend-activity.js';
import { ClusterCpu, type CpuFigures, postmasterOf } from './scale/cluster-cpu.js';
import { BOUNCER_POOL_SIZE, type PgBouncer, startPgBouncer } from './scale/pgbouncer.js';
import { Worker } from './scale/workers.js';

const PROCESSES = [1, 2, 4, 8] as const;
const BASELINE_AT: ReadonlySet<number> = new Set([1, 8]);
/** Checkouts in flight per worker process, and its pool's size. */
const IN_FLIGHT = 8;
/** How far apart the workers' streams begin in the round of listings (so they buy other listings at a time). */
const STREAM_GAP = 25;

interface Options {
  readonly quick: boolean;
  readonly rounds: number;
  /** The measured window of a row. */
  readonly windowMs: number;
  /** All workers at once, before the first row (the JIT's warm-up). */
  readonly warmupMs: number;
  /** Each row, after its workers opened their pools, before its window. */
  readonly rowWarmupMs: number;
  readonly only: 'direct' | 'pgbouncer' | undefined;
}

function parseOptions(args: readonly string[]): Options {
  const quick = args.includes('--quick');
  const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  if (only !== undefined && only !== 'direct' && only !== 'pgbouncer')
    throw new Error(`--only=${only}: direct|pgbouncer`);
  return quick
    ? { quick, rounds: 1, windowMs: 1500, warmupMs: 1500, rowWarmupMs: 300, only }
    : { quick, rounds: 3, windowMs: 3000, warmupMs: 5000, rowWarmupMs: 600, only };
}

type Target = 'direct' | 'pgbouncer';
/**
 * `sdk-async`: the SDK with the database's `synchronous_commit` off for its connections (a diagnosis, not a
 * recommendation): commits stop waiting for the WAL flush, which shows whether the flush is what the rows queue for.
 */
type LaneKind = 'sdk' | 'raw' | 'sdk-async';
const LANES: readonly LaneKind[] = ['sdk', 'raw', 'sdk-async'];
const laneName = (l: LaneKind) => ({ sdk: 'SDK', raw: 'raw (b)', 'sdk-async': 'SDK, sync commit off' })[l];

/** One window of one row. */
interface Window {
  readonly target: Target;
  readonly lane: LaneKind;
  readonly processes: number;
  readonly rate: number;
  readonly cpu: CpuFigures;
  /** The workers' CPU, cores. */
  readonly client: number;
  readonly p50: number;
  readonly p99: number;
  readonly activity: Activity;
  readonly acknowledged: number;
  readonly failures: number;
  readonly firstError: string | undefined;
  /** Orders of the window in the database, and how many of them are paid. */
  readonly orders: number;
  readonly paid: number;
  /** Workers whose SDK adapter had switched to unnamed statements by the end of the window. */
  readonly unnamed: number;
}

interface Context {
  readonly o: Options;
  readonly workers: Worker[];
  readonly pool: pg.Pool;
  readonly urls: Record<Target, string | undefined>;
  readonly cpu: ClusterCpu;
  readonly database: string;
  rowSeq: number;
}

/**
 * Runs the scale benchmark on a fresh database on `MARKETKIT_PG_URL` (default `postgres://root@127.0.0.1:5432/
 * postgres`), which must be on this machine (its CPU is read from `/proc`), and prints its table. Flags: `--quick`
 * (one short window per row, a smoke run), `--only=direct|pgbouncer`.
 *
 * @example
 * ```sh
 * MARKETKIT_PG_URL=postgres://root@127.0.0.1:5432/postgres npm run bench -- scale --quick
 * ```
 */
export async function runScaleBench(args: readonly string[] = []): Promise<void> {
  const o = parseOptions(args);
  const started = performance.now();
  const loadBefore = loadavg()[0] ?? 0;
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    const base = process.env['MARKETKIT_PG_URL'] || 'postgres://root@127.0.0.1:5432/postgres';
    const db = await createFreshDatabase(base, { prefix: 'mk_bench_scale_' });
    cleanup.push(() => db.drop());
    const pool = (await createPostgresPool({ connectionString: db.url, max: 3 })) as unknown as pg.Pool;
    cleanup.push(() => pool.end());
    const seeder = createMarketplace({ adapter: postgresAdapter({ pool }), payments: new SandboxPaymentProvider() });
    await seedListings(seeder);
    await seeder.close();
    const database = new URL(db.url).pathname.slice(1);
    let bouncer: PgBouncer | undefined;
    let noBouncer = '';
    if (o.only !== 'direct') {
      const b = await startPgBouncer(base);
      if (typeof b === 'string') noBouncer = b;
      else {
        bouncer = b;
        cleanup.push(() => b.stop());
      }
    }
    const info = await pool.query<{ v: string; pid: number }>(
      "select current_setting('server_version') as v, pg_backend_pid() as pid",
    );
    const postmaster = postmasterOf(info.rows[0]!.pid);
    const workers = PROCESSES.slice(-1).flatMap((n) => Array.from({ length: n }, () => new Worker()));
    cleanup.push(() => Promise.all(workers.map((w) => w.stop())));
    const ctx: Context = {
      o,
      workers,
      pool,
      urls: { direct: o.only === 'pgbouncer' ? undefined : db.url, pgbouncer: bouncer?.url(database) },
      cpu: new ClusterCpu(postmaster, database, bouncer === undefined ? [] : [bouncer.pid]),
      database,
      rowSeq: 0,
    };
    await warmUp(ctx);
    const windows: Window[] = [];
    for (let round = 0; round < o.rounds; round++) {
      for (const n of PROCESSES) {
        const rows = rowsAt(ctx, n);
        // The order rotates from round to round, so a drift in the machine's load hits every lane alike.
        for (let k = 0; k < rows.length; k++) {
          const [target, lane] = rows[(k + round) % rows.length]!;
          windows.push(await measureRow(ctx, target, lane, n));
        }
      }
    }
    const versions = `PostgreSQL ${info.rows[0]!.v}${bouncer === undefined ? '' : `, ${bouncer.version}`}`;
    console.log(header(o, versions, [loadBefore, loadavg()[0] ?? 0], noBouncer));
    const failed = report(windows);
    console.log(`\n${((performance.now() - started) / 1000).toFixed(0)} s in all.`);
    if (failed.length > 0) throw new Error(`scale benchmark: verification failed: ${failed.join('; ')}`);
  } finally {
    for (const undo of cleanup.reverse()) await undo().catch(() => {});
  }
}

function rowsAt(ctx: Context, n: number): [Target, LaneKind][] {
  const rows: [Target, LaneKind][] = [];
  for (const target of ['direct', 'pgbouncer'] as const) {
    if (ctx.urls[target] === undefined) continue;
    rows.push([target, 'sdk']);
    if (BASELINE_AT.has(n)) rows.push([target, 'raw']);
    if (BASELINE_AT.has(n) && target === 'direct') rows.push([target, 'sdk-async']);
  }
  return rows;
}

const open = (ctx: Context, target: Target, lane: LaneKind, n: number) =>
  Promise.all(
    ctx.workers.slice(0, n).map((w, i) =>
      w.send({
        cmd: 'open',
        url: ctx.urls[target]!,
        inFlight: IN_FLIGHT,
        lane: lane === 'raw' ? 'raw' : 'sdk',
        // The adapter's default in both lanes: behind PgBouncer (1.18 here: it cannot follow named statements across
        // server connections) the adapter finds its first name missing and runs unnamed from then on.
        prepared: true,
        start: i * STREAM_GAP,
      }),
    ),
  );
const close = (ctx: Context, n: number) => Promise.all(ctx.workers.slice(0, n).map((w) => w.send({ cmd: 'close' })));

/** Every worker runs every lane it will run in the rows, all at once, so the JIT has compiled their code. */
async function warmUp(ctx: Context): Promise<void> {
  const n = ctx.workers.length;
  for (const [target, lane, share] of [
    ['direct', 'sdk', 1],
    ['direct', 'raw', 0.3],
    ['pgbouncer', 'sdk', 0.5],
  ] as const) {
    if (ctx.urls[target] === undefined) continue;
    process.stderr.write(`  warm-up: ${n} workers, ${target} ${lane}…\n`);
    await open(ctx, target, lane, n);
    const runs = await Promise.all(
      ctx.workers.map((w, i) => w.run(`wu${target[0]}${lane}${i}_`, ctx.o.warmupMs * share, false)),
    );
    await close(ctx, n);
    const failed = runs.find((r) => r.failures > 0);
    if (failed !== undefined)
      throw new Error(`warm-up (${target} ${lane}): ${failed.failures} failed: ${failed.firstError}`);
  }
}

async function measureRow(ctx: Context, target: Target, lane: LaneKind, n: number): Promise<Window> {
  const tag = `r${String(ctx.rowSeq++).padStart(2, '0')}`;
  const workers = ctx.workers.slice(0, n);
  // Only the direct lane's connections are new in each row (PgBouncer keeps its server connections).
  const asyncCommit = (on: boolean) =>
    ctx.pool.query(
      `alter database "${ctx.database}" ${on ? 'set synchronous_commit = off' : 'reset synchronous_commit'}`,
    );
  if (lane === 'sdk-async') await asyncCommit(true);
  await open(ctx, target, lane, n);
  await Promise.all(workers.map((w, i) => w.run(`${tag}w${i}_`, ctx.o.rowWarmupMs, false)));
  ctx.cpu.start();
  const activity = watchActivity(ctx.pool);
  const runs = await Promise.all(workers.map((w, i) => w.run(`${tag}m${i}_`, ctx.o.windowMs, true)));
  const cpu = ctx.cpu.stop();
  const act = await activity.stop();
  await close(ctx, n);
  if (lane === 'sdk-async') await asyncCommit(false);
  const latencies = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const acknowledged = runs.reduce((s, r) => s + r.count, 0);
  const counted = await ctx.pool.query<{ orders: number; paid: number }>(
    `select count(*)::int as orders, (count(*) filter (where state = 'paid'))::int as paid
     from mk_orders where starts_with(id, $1)`,
    [`ord_${tag}m`],
  );
  const w: Window = {
    target,
    lane,
    processes: n,
    rate: (acknowledged * 1000) / Math.max(...runs.map((r) => r.ms)),
    cpu,
    client: runs.reduce((s, r) => s + r.cpuUs, 0) / 1e6 / cpu.seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    activity: act,
    acknowledged,
    failures: runs.reduce((s, r) => s + r.failures, 0),
    firstError: runs.find((r) => r.firstError !== undefined)?.firstError,
    orders: counted.rows[0]?.orders ?? -1,
    paid: counted.rows[0]?.paid ?? -1,
    unnamed: runs.filter((r) => r.unnamed).length,
  };
  process.stderr.write(
    `  ${target} ${laneName(lane)}, ${n} process(es): ${formatRate(w.rate)}/s, DB ` +
      `${w.cpu.benchBackends.toFixed(2)} cores, workers ${w.client.toFixed(2)}, machine ${w.cpu.machine.toFixed(2)}\n`,
  );
  return w;
}

// ---------------------------------------------------------------------------------------------------------------
// Output

function header(o: Options, versions: string, load: readonly [number, number], noBouncer: string): string {
  return [
    `Scale benchmark: Node ${process.version}, ${cpus().length} CPUs, ${versions}; 1-minute load average ` +
      `${load[0].toFixed(1)} before, ${load[1].toFixed(1)} after.`,
    `The SDK as built: @marketkit/core from ${relative(process.cwd(), fileURLToPath(import.meta.resolve('@marketkit/core')))}.`,
    `Each worker process: its own pool of ${IN_FLIGHT} and its own marketplace (SandboxPaymentProvider), ${IN_FLIGHT} checkouts in`,
    "  flight, each the checkout bench's checkout (idempotency key, stock, order, escrow, capture, events, outbox) on",
    '  200 listings, the workers starting at different listings. Direct: the SDK with named statements. PgBouncer:',
    `  transaction mode, default_pool_size ${BOUNCER_POOL_SIZE} (this bench's own instance, configured as`,
    '  scripts/pg/pgbouncer.sh does), the SDK with its default options: it finds its first named statement missing',
    '  and runs unnamed from then on (PgBouncer before 1.21 cannot follow named statements).',
    `  ${noBouncer === '' ? '' : `PgBouncer rows skipped: ${noBouncer}.`}`,
    "Baseline: the checkout bench's raw (b), each transaction ONE statement (unnamed), same workers, same run.",
    "Diagnosis row (direct, 1 and 8 processes): the SDK with the database's synchronous_commit off (commits do not",
    '  wait for the WAL flush), to show whether the flush is what the checkouts queue for.',
    `Each row: its workers open their pools, warm up ${o.rowWarmupMs} ms, then ${o.windowMs} ms measured (those in flight at the end`,
    `  awaited); ${o.rounds} round(s), medians of the rounds. CPU in cores (CPU s per s) from /proc over the window:`,
    "  DB = the backends of the bench database + the cluster's background processes; workers = process.cpuUsage()",
    "  of the worker processes; machine = every CPU's busy time (other work on the machine included).",
    '  Backends (avg of pg_stat_activity every 200 ms): running a statement / waiting on a row lock / idle in a',
    '  transaction (waiting for the client: its CPU or a round trip).',
    '',
  ]
    .filter((l) => l.trim() !== '')
    .join('\n');
}

interface Row {
  readonly target: Target;
  readonly lane: LaneKind;
  readonly processes: number;
  readonly of: (f: (w: Window) => number) => number;
  readonly rates: number[];
}

function report(windows: readonly Window[]): string[] {
  const rows: Row[] = [];
  for (const target of ['direct', 'pgbouncer'] as const) {
    for (const lane of LANES) {
      for (const n of PROCESSES) {
        const ws = windows.filter((w) => w.target === target && w.lane === lane && w.processes === n);
        if (ws.length === 0) continue;
        rows.push({ target, lane, processes: n, of: (f) => median(ws.map(f)), rates: ws.map((w) => w.rate) });
      }
    }
  }
  const find = (t: Target, l: LaneKind, n: number) =>
    rows.find((r) => r.target === t && r.lane === l && r.processes === n);
  const cells = rows.map((r) => {
    const one = find(r.target, r.lane, 1);
    const sdk = r.lane === 'raw' ? find(r.target, 'sdk', r.processes) : undefined;
    return [
      r.target === 'direct' ? 'direct' : 'PgBouncer',
      laneName(r.lane),
      String(r.processes),
      formatRate(r.of((w) => w.rate)),
      one === undefined ? '' : formatRatio(r.of((w) => w.rate) / one.of((w) => w.rate)),
      sdk === undefined ? '' : formatRatio(sdk.of((w) => w.rate) / r.of((w) => w.rate)),
      r.of((w) => w.cpu.benchBackends + w.cpu.background).toFixed(2),
      r.of((w) => w.client).toFixed(2),
      r.target === 'pgbouncer' ? r.of((w) => w.cpu.tracked).toFixed(2) : '',
      `${fmtUs(r.of((w) => ((w.cpu.benchBackends + w.cpu.background) * 1e6) / w.rate))} + ${fmtUs(r.of((w) => (w.client * 1e6) / w.rate))}`,
      r.of((w) => w.cpu.otherDatabases).toFixed(2),
      r.of((w) => w.cpu.machine).toFixed(2),
      fmtMs(r.of((w) => w.p50)),
      fmtMs(r.of((w) => w.p99)),
      [r.of((w) => w.activity.running), r.of((w) => w.activity.lockWait), r.of((w) => w.activity.idleInTransaction)]
        .map((v) => v.toFixed(1))
        .join(' / '),
    ];
  });
  const headers = [
    'via',
    'lane',
    'procs',
    'checkouts/s',
    'speedup',
    'SDK/(b)',
    'DB CPU',
    'workers CPU',
    'PgBouncer',
    'µs CPU/checkout',
    'other DBs',
    'machine',
    'p50 ms',
    'p99 ms',
    'backends run/lock/idle-tx',
  ];
  console.log(formatTable(headers, cells, ['left', 'left', ...Array<'right'>(13).fill('right')]));
  console.log(
    '\nspeedup: against the same lane at 1 process. SDK/(b): the SDK row at the same processes against (b). CPU in cores;\n' +
      'µs CPU/checkout: DB + workers, CPU time per checkout acknowledged.',
  );
  console.log(reading(rows));
  console.log(lockWaits(windows));
  const failed: string[] = [];
  let acknowledged = 0;
  for (const w of windows) {
    acknowledged += w.acknowledged;
    const name = `${w.target} ${w.lane} ${w.processes}p`;
    if (w.failures > 0) failed.push(`${name}: ${w.failures} checkouts failed (${w.firstError})`);
    if (w.orders !== w.acknowledged || w.paid !== w.orders) {
      failed.push(`${name}: ${w.acknowledged} acknowledged, ${w.orders} orders in the database (${w.paid} paid)`);
    }
  }
  for (const target of ['direct', 'pgbouncer'] as const) {
    const sdk = windows.filter((w) => w.target === target && w.lane !== 'raw');
    if (sdk.length === 0) continue;
    const [switched, all] = [sdk.reduce((n, w) => n + w.unnamed, 0), sdk.reduce((n, w) => n + w.processes, 0)];
    console.log(
      `${target === 'direct' ? 'Direct' : 'Through PgBouncer'}: the SDK's adapter switched to unnamed statements in ` +
        `${switched} of the ${all} marketplaces the SDK rows opened.`,
    );
  }
  console.log(
    failed.length === 0
      ? `Checked after every row: orders in the database = checkouts acknowledged, all paid (${formatRate(acknowledged)} over ${windows.length} windows); no checkout failed.`
      : `Verification FAILED: ${failed.join('; ')}`,
  );
  return failed;
}

/** Per SDK lane: where the curve peaks, and where the CPU goes and what the backends do at 8 processes. */
function reading(rows: readonly Row[]): string {
  const out = ['\nReading:'];
  for (const target of ['direct', 'pgbouncer'] as const) {
    const sdk = rows.filter((r) => r.target === target && r.lane === 'sdk');
    const last = sdk.find((r) => r.processes === 8);
    if (last === undefined) continue;
    const peak = sdk.reduce((a, b) => (b.of((w) => w.rate) > a.of((w) => w.rate) ? b : a));
    const m = (f: (w: Window) => number) => last.of(f);
    const db = m((w) => w.cpu.benchBackends + w.cpu.background);
    const ours = db + m((w) => w.client) + m((w) => w.cpu.tracked);
    out.push(
      `  ${target === 'direct' ? 'direct' : 'PgBouncer'} SDK: peak ${formatRate(peak.of((w) => w.rate))}/s at ${peak.processes} ` +
        `process(es); at 8: DB ${db.toFixed(2)} + workers ${m((w) => w.client).toFixed(2)}` +
        `${target === 'pgbouncer' ? ` + PgBouncer ${m((w) => w.cpu.tracked).toFixed(2)}` : ''} = ${ours.toFixed(2)} cores ` +
        `of the machine's ${m((w) => w.cpu.machine).toFixed(2)} busy (${cpus().length} CPUs); backends: ` +
        `${m((w) => w.activity.lockWait).toFixed(1)} waiting on a row lock, ${m((w) => w.activity.running).toFixed(1)} running.`,
    );
  }
  return out.join('\n');
}

/** What the lock waits of each lane's 8-process rows waited on: statements, and the tables whose rows queued. */
function lockWaits(windows: readonly Window[]): string {
  const out = ['\nLock waits at 8 processes (share of the samples of a backend waiting on a lock):'];
  const top = (m: Map<string, number>, k: number) => {
    const total = [...m.values()].reduce((a, b) => a + b, 0);
    return [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([what, n]) => `${Math.round((n * 100) / total)}% ${what}`);
  };
  for (const target of ['direct', 'pgbouncer'] as const) {
    for (const lane of LANES) {
      const ws = windows.filter((w) => w.target === target && w.lane === lane && w.processes === 8);
      if (ws.length === 0) continue;
      const statements = new Map<string, number>();
      const rows = new Map<string, number>();
      for (const w of ws) {
        for (const [k, n] of w.activity.waitingStatements) statements.set(k, (statements.get(k) ?? 0) + n);
        for (const [k, n] of w.activity.rowWaits) rows.set(k, (rows.get(k) ?? 0) + n);
      }
      out.push(`  ${target === 'direct' ? 'direct' : 'PgBouncer'} ${laneName(lane)}: statements waiting:`);
      out.push(...top(statements, 3).map((l) => `    ${l}`));
      if (rows.size > 0) out.push(`    rows queued for (tuple locks), by table: ${top(rows, 3).join(', ')}`);
    }
  }
  return out.join('\n');
}

const fmtUs = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 0 });
const fmtMs = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: n < 10 ? 1 : 0 });

/**
 * `npm run bench -- soak [--seconds=600] [--warmup=60] [--rate=20]`: memory and stability under sustained load.
 * One process runs a mixed workload on a fresh PostgreSQL database at a steady rate for `--seconds` (or env
 * `SOAK_SECONDS`; default 600): order lifecycles (checkout, ship, deliver, confirm; cancels, partial refunds,
 * disputes), payouts, sagas and jobs the worker runs, and the outbox relay (in the worker) publishing every event.
 * It samples memory and the event loop (`soak/sampler.ts`), writes the samples to `bench/results/soak-<time>.csv`,
 * and prints per-operation latency, the memory trend after the warm-up with a verdict, event-loop delay and
 * stalls, and the invariant checks, which must pass.
 */
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { writeHeapSnapshot } from 'node:v8';
import { createPostgresPool, postgresAdapter } from '@marketkit/adapters/postgres';
import { createMarketplace, escrowAccounts, type Logger, type Marketplace } from '@marketkit/core';
import { checkMarketInvariants, createFreshDatabase } from '@marketkit/testing';
import type pg from 'pg';
import { analyzeDatabases } from './planner-statistics.js';
import { formatTable } from './report.js';
import { Latencies } from './soak/latencies.js';
import { LeanPaymentProvider } from './soak/lean-provider.js';
import { type Sample, Sampler, STALL_MS, slope } from './soak/sampler.js';
import {
  CURRENCY,
  EXPECTED_ERRORS,
  seed,
  unexpectedErrors,
  WorkCounters,
  type WorkloadOptions,
  workerDefinitions,
  workload,
} from './soak/workload.js';

/**
 * Growth (MB per minute, least-squares over the samples after the warm-up) below which memory counts as flat.
 * At the default rate (about 55 operations a second, and 100 events through the relay) 1 MB/min is about 300 bytes
 * retained per operation: a leak of one small object per order, saga or event shows above it, while the noise of the
 * measure (a 10-minute line through the heap after each major GC) stays a few tenths of a MB/min.
 */
export const FLAT_MB_PER_MIN = 1;

interface Options {
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly sampleSeconds: number;
  readonly poolSize: number;
  /** `--heap-snapshots`: `v8.writeHeapSnapshot` at the end of the warm-up and of the load, beside the CSV. */
  readonly heapSnapshots: boolean;
  readonly workload: WorkloadOptions;
}

function parseOptions(args: readonly string[]): Options {
  const flag = (name: string) => {
    const raw = args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}=${raw}: a non-negative number`);
    return n;
  };
  const seconds = flag('seconds') ?? (Number(process.env['SOAK_SECONDS']) || 600);
  const rate = flag('rate') ?? 12;
  return {
    seconds,
    warmupSeconds: flag('warmup') ?? Math.min(60, Math.round(seconds / 5)),
    sampleSeconds: flag('sample') ?? (seconds >= 300 ? 5 : 2),
    poolSize: 16,
    heapSnapshots: args.includes('--heap-snapshots'),
    workload: {
      checkoutsPerSecond: rate,
      payoutsPerSecond: rate / 10,
      sagasPerSecond: rate / 5,
      jobsPerSecond: rate / 5,
      stepDelayMs: 200,
    },
  };
}

/** A logger that counts what Marketkit logs (a soak expects no errors) and prints the first few. */
function countingLogger(): Logger & { errors: number; warnings: number } {
  const l = {
    errors: 0,
    warnings: 0,
    error(obj: Readonly<Record<string, unknown>>, msg?: string) {
      if (l.errors++ < 5) console.error('  marketkit error:', msg, JSON.stringify(obj));
    },
    warn(obj: Readonly<Record<string, unknown>>, msg?: string) {
      if (l.warnings++ < 5) console.error('  marketkit warning:', msg, JSON.stringify(obj));
    },
    info() {},
    debug() {},
  };
  return l;
}

/** Runs the soak on a fresh database on `MARKETKIT_PG_URL` (default `postgres://root@127.0.0.1:5432/postgres`). */
export async function runSoakBench(args: readonly string[] = []): Promise<void> {
  const o = parseOptions(args);
  const base = process.env['MARKETKIT_PG_URL'] || 'postgres://root@127.0.0.1:5432/postgres';
  const cleanup: (() => Promise<unknown>)[] = [];
  const loadBefore = loadavg();
  try {
    const db = await createFreshDatabase(base, { prefix: 'mk_bench_soak_' });
    cleanup.push(() => db.drop());
    const pool = (await createPostgresPool({ connectionString: db.url, max: o.poolSize })) as unknown as pg.Pool;
    cleanup.push(() => pool.end());
    const latencies = new Latencies();
    const counters = new WorkCounters();
    const started = { sagasStarted: 0, jobsScheduled: 0 };
    const provider = new LeanPaymentProvider(20);
    const logger = countingLogger();
    let market: Marketplace | undefined;
    const defs = workerDefinitions(counters, latencies, () => market!);
    market = createMarketplace({
      adapter: postgresAdapter({ pool }),
      payments: provider,
      sagas: defs.sagas,
      jobs: defs.jobs,
      events: { publishers: [defs.publisher] },
      logger,
    });
    cleanup.push(() => market!.close());
    await market.migrate();
    await seed(market);
    await analyzeDatabases(pool); // statistics of the seeded rows, as autovacuum's analyze would give them
    const server = (await pool.query<{ v: string }>("select current_setting('server_version') as v")).rows[0]?.v;
    const worker = market.worker({ concurrency: 8, pollIntervalMs: 100 });

    const pacers = workload(market, o.workload, latencies, started);
    const opsDone = () => [...latencies.ops.values()].reduce((a, s) => a + s.histogram.count, 0);
    const csv = fileURLToPath(
      new URL(`../results/soak-${new Date().toISOString().replace(/[:.]/g, '-')}.csv`, import.meta.url),
    );
    const sampler = new Sampler(csv, o.sampleSeconds * 1000, () => ({
      ops_done: opsDone(),
      orders_in_flight: pacers[0]!.inFlight,
      checkout_p99_ms: latencies.of('checkout').takeWindow().p99,
      published: counters.published,
      pool_waiting: pool.waitingCount,
      load1: loadavg()[0] ?? 0,
    }));
    console.log(
      `Soak on PostgreSQL ${server}: ${o.seconds} s (warm-up ${o.warmupSeconds} s), ${o.workload.checkoutsPerSecond} checkouts/s, ` +
        `${o.workload.payoutsPerSecond} payouts/s, ${o.workload.sagasPerSecond} sagas/s, ${o.workload.jobsPerSecond} jobs/s; ` +
        `pool ${o.poolSize}; Node ${process.version}, ${cpus().length} CPUs; load before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`,
    );
    console.log(`  samples every ${o.sampleSeconds} s to ${csv}`);
    sampler.start();
    worker.start();
    for (const p of pacers) p.start();
    const deadline = Date.now() + o.seconds * 1000;
    const snapshots: string[] = [];
    const snapshot = (label: string) => {
      const file = csv.replace(/\.csv$/, `-${label}.heapsnapshot`);
      writeHeapSnapshot(file);
      snapshots.push(file);
    };
    if (o.heapSnapshots) setTimeout(() => snapshot('warmup'), o.warmupSeconds * 1000).unref();
    // And of what the warm-up wrote, while the load runs on (autovacuum analyzes a table once a tenth of it changed).
    setTimeout(() => void analyzeDatabases(pool).catch(() => {}), o.warmupSeconds * 1000).unref();
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(30_000, deadline - Date.now())));
      const s = sampler.samples.at(-1);
      if (s !== undefined)
        process.stderr.write(
          `  ${Math.round(s.t)} s: rss ${s.rss.toFixed(0)} MB, heap ${s.heapUsed.toFixed(0)} MB (after GC ${s.heapAfterGc.toFixed(1)}), ` +
            `loop max ${s.loopMax.toFixed(0)} ms, stalls ${s.stalls}, ops ${s.extra['ops_done']}, load ${loadavg()[0]?.toFixed(2)}\n`,
        );
    }
    if (o.heapSnapshots) snapshot('end');
    const loadAtEnd = loadavg();
    for (const p of pacers) await p.stop();
    const last = sampler.sample();
    sampler.stop();

    // Let the worker finish what the load left: retried payouts, sagas, jobs, the outbox.
    const outboxLeft = async () =>
      (await pool.query<{ n: string }>('select count(*) as n from mk_outbox_events where delivered_at is null'))
        .rows[0]!.n;
    const payoutsLeft = async () =>
      (await pool.query<{ n: string }>(`select count(*) as n from mk_payouts where status = 'requested'`)).rows[0]!.n;
    const settleBy = Date.now() + 60_000;
    while (Date.now() < settleBy) {
      const done =
        counters.sagasDone >= started.sagasStarted &&
        counters.jobsDone >= started.jobsScheduled &&
        (await outboxLeft()) === '0' &&
        (await payoutsLeft()) === '0';
      if (done) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    await worker.stop();

    const problems: string[] = [];
    try {
      await checkMarketInvariants(market);
    } catch (error) {
      problems.push(String((error as Error).message));
    }
    const clearing = await market.ledger.getAccount(escrowAccounts.clearing(CURRENCY));
    const clearingOut = clearing === undefined ? 0n : clearing.debitsPosted - clearing.creditsPosted;
    const providerNet = provider.totals.capturedMinor - provider.totals.refundedMinor - provider.totals.paidOutMinor;
    if (clearingOut !== providerNet)
      problems.push(`clearing account net ${clearingOut} ≠ provider captured − refunded − paid out ${providerNet}`);
    const unexpected = unexpectedErrors(latencies);
    if (unexpected.length > 0) problems.push(`unexpected errors: ${unexpected.join(', ')}`);
    if (logger.errors > 0) problems.push(`${logger.errors} errors logged by Marketkit`);

    printReport(o, latencies, sampler, last, { loadBefore, loadAtEnd });
    const orders = await pool.query<{ state: string; n: string }>(
      'select state, count(*) as n from mk_orders group by state order by state',
    );
    console.log(
      `\nWorker: ${counters.sagasDone}/${started.sagasStarted} soak sagas completed, ${counters.jobsDone}/${started.jobsScheduled} jobs run, ` +
        `${counters.published} events published, ${await outboxLeft()} left in the outbox, ${await payoutsLeft()} payouts still requested ` +
        `(${provider.totals.timeouts} payout timeouts injected, retried by the worker).`,
    );
    console.log(`Orders: ${orders.rows.map((r) => `${r.state} ${r.n}`).join(', ')}.`);
    console.log(
      `Pacers: ${pacers.map((p) => `${p.name} ${p.issued} started, ${p.skipped} skipped at the cap`).join('; ')}.`,
    );
    console.log(`Marketkit logged ${logger.errors} errors and ${logger.warnings} warnings.`);
    if (problems.length > 0) {
      console.log(`\nFAILED:\n  ${problems.join('\n  ')}`);
      process.exitCode = 1;
    } else {
      console.log(
        '\nInvariants: checkMarketInvariants (ledger, stock, escrow, checkouts) pass; the clearing account matches the ' +
          "provider's captured − refunded − paid out; no unexpected errors.",
      );
    }
    console.log(`Samples: ${csv}`);
    if (snapshots.length > 0)
      console.log(
        `Heap snapshots (each blocked the loop while written: stalls of this run are not figures): ${snapshots.join(', ')}`,
      );
  } finally {
    for (const undo of cleanup.reverse()) await undo().catch(() => {});
  }
}

const memPick = { gc: (s: Sample) => s.heapAfterGc };
const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
const mb = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '–');

function printReport(
  o: Options,
  latencies: Latencies,
  sampler: Sampler,
  last: Sample,
  load: { loadBefore: number[]; loadAtEnd: number[] },
): void {
  const seconds = last.t;
  const rows = [...latencies.ops].map(([name, s]) => {
    const h = s.histogram;
    const errors = [...s.errors].map(
      ([code, n]) => `${code} ${n}${(EXPECTED_ERRORS[name] ?? []).includes(code) ? '' : ' (!)'}`,
    );
    return [
      name,
      String(h.count),
      (h.count / seconds).toFixed(1),
      h.count === 0 ? '–' : ms(h.percentile(50) / 1000),
      h.count === 0 ? '–' : ms(h.percentile(99) / 1000),
      h.count === 0 ? '–' : ms(h.max / 1000),
      errors.join(', '),
    ];
  });
  console.log('\nOperations (latency in ms; errors by code, (!) = not provoked on purpose)');
  console.log(
    formatTable(['operation', 'count', '/s', 'p50', 'p99', 'max', 'errors'], rows, [
      'left',
      'right',
      'right',
      'right',
      'right',
      'right',
      'left',
    ]),
  );

  const after = sampler.samples.filter((s) => s.t >= o.warmupSeconds);
  const atWarmup = after[0] ?? last;
  const perMin = (pick: (s: Sample) => number) => slope(after.map((s) => [s.t / 60, pick(s)] as const));
  const gcLabel = sampler.forcesGc ? 'heapUsed after forced gc()' : 'heapUsed after major GC';
  const gcsAfter = sampler.majorGcs - (sampler.majorGcsAt[sampler.samples.indexOf(atWarmup)] ?? 0);
  const memRows = (
    [
      ['rss', (s: Sample) => s.rss],
      ['heapUsed (as sampled)', (s: Sample) => s.heapUsed],
      [gcLabel, memPick.gc],
      ['external', (s: Sample) => s.external],
    ] as const
  ).map(([name, pick]) => {
    const k = perMin(pick);
    const sparse = pick === memPick.gc && !sampler.forcesGc && gcsAfter < 3;
    return [
      name,
      mb(pick(atWarmup)),
      mb(pick(last)),
      Number.isFinite(k) ? k.toFixed(2) : '–',
      !Number.isFinite(k) || sparse ? 'too few GCs' : k < FLAT_MB_PER_MIN ? 'flat' : 'GROWS',
    ];
  });
  console.log(
    `\nMemory (MB; slope: least squares over the ${after.length} samples from ${o.warmupSeconds} s on; flat < ${FLAT_MB_PER_MIN} MB/min)`,
  );
  console.log(
    formatTable(
      ['metric', `at ${Math.round(atWarmup.t)} s`, `at ${Math.round(last.t)} s`, 'MB/min', 'verdict'],
      memRows,
      ['left', 'right', 'right', 'right', 'left'],
    ),
  );
  const loop = sampler.loopDelay();
  console.log(
    `\nEvent loop: delay p50 ${ms(loop.p50)} ms, p99 ${ms(loop.p99)} ms, max ${ms(loop.max)} ms; ` +
      `${sampler.stallCount} stalls over ${STALL_MS} ms, ${sampler.busyStallCount} of them with the process busy${sampler.stalls.length > 0 ? ` (at ${sampler.stalls.map((s) => `${Math.round(s.t)} s: ${Math.round(s.ms)} ms late, ${Math.round(s.cpuMs)} ms CPU`).join('; ')})` : ''}; ` +
      `${sampler.majorGcs} major GCs (${gcsAfter} after the warm-up), longest ${ms(sampler.longestGcMs)} ms.`,
  );
  console.log(
    '  (a stall with CPU time near its length blocked the loop; one with little CPU time is the process waiting for a CPU)',
  );
  console.log(
    `Machine load (1/5/15 min): before ${load.loadBefore.map((l) => l.toFixed(2)).join(' ')}, at the end of the load ${load.loadAtEnd.map((l) => l.toFixed(2)).join(' ')} (${cpus().length} CPUs, shared).`,
  );
}

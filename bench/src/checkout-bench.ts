/**
 * `npm run bench -- checkout`: full checkouts per second through `market.orders.checkout` (idempotency key, stock
 * reservation, order, escrow accounts, capture into escrow, order events, outbox rows) on SQLite and on PostgreSQL
 * (1 connection, and 32 in flight), each beside two hand-written baselines doing the same writes in the same run:
 * (a) one statement per write, (b) as few round trips as possible. Plus 64 buyers on one listing (PostgreSQL),
 * with the `guardedUpdate` and the `rowLock` stock strategy, and the SDK's round trips per checkout.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import { createMarketplace } from '@marketkit/core';
import { SandboxPaymentProvider } from '@marketkit/testing';
import { type BenchOptions, type Measured, measure, parseOptions } from './checkout/measure.js';
import { CheckoutStream, checkoutRecordsKeys, sdkLane, seedListings } from './checkout/model.js';
import {
  BUYERS_ON_ONE_LISTING,
  benchPostgres,
  type Figures,
  IN_FLIGHT,
  type PostgresResults,
} from './checkout/postgres-scenario.js';
import { openRawSqlite, sqliteRawLane } from './checkout/raw-sqlite.js';
import { formatRate, formatRatio, formatTable } from './report.js';
import type { StatementStats } from './statement-stats.js';

/**
 * Runs the checkout benchmark and prints its tables to stdout (progress goes to stderr). Flags: `--quick` (one
 * short round per row, a smoke run; the figures are not stable), `--only=sqlite` or `--only=postgres`.
 *
 * @example
 * ```sh
 * npm run bench -- checkout
 * npm run bench -- checkout --quick --only=postgres
 * ```
 */
export async function runCheckoutBench(args: readonly string[] = []): Promise<void> {
  const o = parseOptions(args);
  const started = performance.now();
  const loadBefore = loadavg()[0] ?? 0;
  let keys: boolean | undefined;
  const withKey = async (m: Parameters<typeof checkoutRecordsKeys>[0]) => {
    keys = await checkoutRecordsKeys(m);
    return keys;
  };
  const lite = o.only === 'postgres' ? undefined : await benchSqlite(o, withKey);
  const pg = o.only === 'sqlite' ? undefined : await benchPostgres(o, withKey);
  console.log(header(o, pg?.server, [loadBefore, loadavg()[0] ?? 0], keys === true));
  const rows: Row[] = [];
  if (lite !== undefined) rows.push(['SQLite WAL, synchronous=FULL', 'sequential', lite.measured]);
  if (pg !== undefined) {
    rows.push(['PostgreSQL', '1 connection, sequential', pg.sequential.measured]);
    rows.push(['', `${IN_FLIGHT} in flight (pool ${IN_FLIGHT})`, pg.inFlight.measured]);
  }
  console.log(mainTable(rows));
  console.log(`\n${goals(lite?.measured, pg).join('\n')}`);
  if (pg !== undefined) printPostgresDetail(pg);
  const checks = [...(lite?.checks ?? []), ...(pg?.checks ?? [])];
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  console.log(`\n${checks.join('\n')}\n${seconds} s in all.`);
}

// ---------------------------------------------------------------------------------------------------------------
// SQLite

async function benchSqlite(
  o: BenchOptions,
  withKey: (m: Parameters<typeof checkoutRecordsKeys>[0]) => Promise<boolean>,
) {
  const dir = mkdtempSync(join(tmpdir(), 'marketkit-bench-'));
  const open = (file: string) =>
    createMarketplace({
      adapter: sqliteAdapter({ filename: join(dir, file) }),
      payments: new SandboxPaymentProvider(),
    });
  try {
    const market = open('sdk.db');
    await seedListings(market);
    const seed = open('raw.db');
    await seedListings(seed);
    await seed.close();
    const key = await withKey(market);
    const db = openRawSqlite(join(dir, 'raw.db'));
    const lanes = [
      sdkLane('SDK', market, new CheckoutStream('s', key)),
      sqliteRawLane('a', db, new CheckoutStream('a', key)),
      sqliteRawLane('b', db, new CheckoutStream('b', key)),
      sqliteRawLane('a+saga', db, new CheckoutStream('as', key)),
      sqliteRawLane('a+saga relaxed', db, new CheckoutStream('ar', key)),
    ];
    const measured = await measure(o, lanes, 1);
    process.stderr.write('  done: SQLite, sequential\n');
    db.close();
    await market.close();
    const checks: string[] = [];
    for (const file of ['sdk.db', 'raw.db']) checks.push(await verifySqlite(open(file), join(dir, file)));
    return { measured, checks };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function verifySqlite(market: ReturnType<typeof createMarketplace>, file: string): Promise<string> {
  const problems: string[] = [];
  try {
    for (const v of [
      await market.ledger.verify(),
      await market.listings.verifyStock(),
      await market.orders.verifyEscrow(),
    ]) {
      if (!v.ok) problems.push(...v.problems.slice(0, 3));
    }
  } finally {
    await market.close();
  }
  const db = openRawSqlite(file);
  const n = (sql: string) => Number((db.prepare(sql).pluck().get() as bigint | null) ?? 0n);
  const [orders, unpaid, reserved, keys, open] = [
    n('select count(*) from mk_orders'),
    n(`select count(*) from mk_orders where state <> 'paid'`),
    n('select sum(reserved) from mk_listings'),
    n('select count(*) from mk_idempotency_keys'),
    n(`select count(*) from mk_idempotency_keys where status <> 'succeeded'`),
  ];
  db.close();
  if (unpaid > 0) problems.push(`${unpaid} orders not paid`);
  if (reserved > 0) problems.push(`${reserved} units still reserved`);
  if (open > 0) problems.push(`${open} idempotency keys not succeeded`);
  const name = file.endsWith('sdk.db') ? 'SDK' : 'baselines';
  if (problems.length > 0) throw new Error(`SQLite (${name}): verification failed: ${problems.join('; ')}`);
  return `SQLite (${name} file): ${orders} orders, all paid; ${keys} idempotency keys, all succeeded; invariants pass.`;
}

// ---------------------------------------------------------------------------------------------------------------
// Output

type Row = [group: string, name: string, m: Measured];

function header(o: BenchOptions, server: string | undefined, load: readonly [number, number], keys: boolean): string {
  return [
    `Checkout benchmark: Node ${process.version}, ${cpus().length} CPUs${server ? `, PostgreSQL ${server}` : ''}; ` +
      `1-minute load average ${load[0].toFixed(1)} before, ${load[1].toFixed(1)} after.`,
    `The SDK as built: @marketkit/core from ${relative(process.cwd(), fileURLToPath(import.meta.resolve('@marketkit/core')))}.`,
    'One checkout = market.orders.checkout({ orderId, buyerId, listingId, quantity 1-3, paymentMethod' +
      (keys ? ', idempotencyKey })' : ' }) (WITHOUT idempotency key: checkout does not record one yet)'),
    '  with the in-memory SandboxPaymentProvider; 200 listings of 20 sellers, 64 buyers, round-robin. It writes:',
    `  ${keys ? 'idempotency key claim + ' : ''}listing (stock taken) + reservation + order + escrow account (+ seller, ` +
      'clearing, commission accounts the first time) + order event + outbox | order.authorization_id |',
    `  capture transfer + 2 balances + outbox, reservation sold + listing, order paid + order event + outbox${keys ? ' + key result' : ''}.`,
    '  The SDK also writes its checkout saga (marketkit.checkout: the instance with the order, its completion and',
    '  four step-log entries with the payment), which the baselines do not: they have no durable saga record.',
    '  (SQLite also runs (a+saga): (a) plus those saga rows, in the same transactions; printed under the goals.)',
    '  On SQLite the SDK commits order.authorization_id without waiting for the disk (a record a power cut loses is',
    "  replayed from the provider's keys; the confirm's fsync makes it durable): 2 fsyncs per checkout, where the",
    "  baselines wait for 3. (SQLite also runs (a+saga relaxed): the SDK's writes and fsyncs by hand; under the goals.)",
    'Baselines, the rows above, same provider calls, same run:',
    '  (a) one statement per write, in the same transactions as the SDK (a one-statement transaction sent alone);',
    '  (b) PostgreSQL: each transaction as ONE statement (data-modifying CTEs); SQLite: (a) in a single transaction.',
    "  (a) and (b) send unnamed statements (parsed and planned every run); the SDK's hot statements are named, their",
    '  plans cached. PostgreSQL also runs (b+named): (b) as named statements, the goal of issue 21 B; and',
    "  (b+named relaxed): (b+named) with the authorization's record committed as the SDK commits it on PostgreSQL",
    '  (synchronous_commit off for that one statement); and (b+named+saga relaxed): (b+named relaxed) that also writes',
    "  the SDK's checkout saga record in the same two statements, a hand-written checkout with the SDK's guarantees;",
    '  all three printed under the goals.',
    `Each row: warm-up, then ${o.rounds} round(s) sized so the SDK spends ~${o.roundMs} ms in each; sequential lanes take`,
    'turns call by call, concurrent ones run one after another. Medians of the rounds; ± is half their spread;',
    "ratios are medians of the rounds' ratios. Below 1 the SDK is slower.",
    '',
  ].join('\n');
}

function mainTable(rows: readonly Row[]): string {
  const spreadOf = (s: number | undefined) => (s === undefined ? '' : `${Math.round((s * 100) / 2)}%`);
  const cells = rows.map(([group, name, m]) => [
    group,
    name,
    ...m.lanes.slice(0, 3).flatMap((l) => [formatRate(l.rate), spreadOf(l.spread)]),
    formatRatio(m.ratios[1]!),
    formatRatio(m.ratios[2]!),
  ]);
  const headers = ['backend', 'workload', 'SDK/s', '±', 'raw (a)/s', '±', 'raw (b)/s', '±', 'SDK/(a)', 'SDK/(b)'];
  return formatTable(headers, cells, ['left', 'left', ...Array<'right'>(8).fill('right')]);
}

function goals(lite: Measured | undefined, pg: PostgresResults | undefined): string[] {
  const verdict = (r: number, goal: number) => `${formatRatio(r)} ${r >= goal ? 'met' : 'NOT met'}`;
  const out = ['Goals (issue 4):'];
  if (lite !== undefined) {
    out.push(`  SQLite: SDK >= 0.8x (a): ${verdict(lite.ratios[1]!, 0.8)}`);
    // Not a goal: what the ratio reads when the baseline also writes the saga record the SDK writes.
    out.push(beside(lite, 3, 'a+saga', "(a) that also writes the checkout saga's record"));
    // Nor this: the same rows and the same fsyncs as the SDK, so the ratio is the SDK's own cost and nothing else.
    out.push(beside(lite, 4, 'a+saga relaxed', "the SDK's writes and fsyncs by hand"));
  }
  if (pg !== undefined) {
    for (const [name, f] of [
      ['1 connection', pg.sequential],
      [`${IN_FLIGHT} in flight`, pg.inFlight],
    ] as const) {
      const [a, b] = [f.measured.ratios[1]!, f.measured.ratios[2]!];
      out.push(`  PostgreSQL, ${name}: SDK >= 1.5x (a): ${verdict(a, 1.5)}; SDK >= 0.8x (b): ${verdict(b, 0.8)}`);
      // (a) and (b) write the same rows; only their round trips differ. So (b)/(a) is what saving round trips is
      // worth on this machine today: the 1.5x (a) goal assumes it is about 2x.
      out.push(`    round trips' worth here: (b)/(a) = ${formatRatio(a / b)} (SDK/(a) ÷ SDK/(b))`);
      // (b) with its statements named, so PostgreSQL caches their plans as it does the SDK's: the best hand-written
      // form of the same transactions (issue 21 B).
      out.push(beside(f.measured, 3, 'b+named', "(b) as named statements (plans cached like the SDK's)"));
      out.push(`    issue 21 B: SDK >= 1.0x (b+named): ${verdict(f.measured.ratios[3]!, 1)}`);
      // Nor this: (b+named) with the authorization's record committed as the SDK commits it (synchronous_commit off).
      out.push(beside(f.measured, 4, 'b+named relaxed', "(b+named) with the SDK's relaxed authorization commit"));
      // Nor this: (b+named relaxed) writing the saga record too, so SDK and baseline give the same guarantees.
      out.push(
        beside(f.measured, 5, 'b+named+saga relaxed', '(b+named relaxed) with the saga record, the same guarantees'),
      );
    }
  }
  return out;
}

/** A lane printed under the goals with its rate, spread and the SDK's ratio to it. */
function beside(m: Measured, lane: number, name: string, what: string): string {
  const l = m.lanes[lane]!;
  return (
    `    beside (${name}), ${what}: ${formatRate(l.rate)}/s (± ${Math.round(((l.spread ?? 0) * 100) / 2)}%), ` +
    `SDK/(${name}) = ${formatRatio(m.ratios[lane]!)}`
  );
}

function printPostgresDetail(pg: PostgresResults): void {
  console.log('\nPostgreSQL round trips of one checkout (statements in order; a group is one transaction):');
  for (const [name, trace] of [
    ['SDK', pg.trace.sdk],
    ['raw (a)', pg.trace.a],
    ['raw (b)', pg.trace.b],
  ] as const) {
    const groups = transactions(trace);
    const txs = groups.filter((g) => g[0] === 'begin' || g.length === 1).length;
    console.log(`  ${name}: ${trace.length} round trips, ${txs} transactions or lone statements`);
    for (const g of groups) console.log(`    [${g.length}] ${g.join(' · ')}`);
  }
  const seq = pg.sequential;
  console.log('\nPostgreSQL, 1 connection: where the time of one SDK checkout goes (measured rounds)');
  console.log(breakdown(seq.stats[0]!, seq.measured.count, seq.measured.ms[0]!));
  const perCheckout = (f: Figures, i: number) => (f.stats[i]!.calls / f.measured.count).toFixed(1);
  const dbUs = (f: Figures, i: number) => fmt((f.stats[i]!.ms * 1000) / f.measured.count);
  const wallUs = (f: Figures, i: number) => fmt((f.measured.ms[i]! * 1000) / f.measured.count);
  const lane = (name: string, i: number) =>
    `(${name}) ${perCheckout(seq, i)} round trips, ${dbUs(seq, i)} µs in the database, ${wallUs(seq, i)} µs wall`;
  console.log(
    `  baselines: ${lane('a', 1)};\n    ${lane('b', 2)};\n    ${lane('b+named', 3)};\n    ${lane('b+named relaxed', 4)};` +
      `\n    ${lane('b+named+saga relaxed', 5)}.`,
  );
  for (const [name, i] of [
    ['b+named', 3],
    ['b+named relaxed', 4],
    ['b+named+saga relaxed', 5],
  ] as const) {
    console.log(`\nPostgreSQL, 1 connection: where the time of one (${name}) checkout goes`);
    console.log(breakdown(seq.stats[i]!, seq.measured.count, seq.measured.ms[i]!));
  }
  console.log(
    `\nPostgreSQL, ${BUYERS_ON_ONE_LISTING} buyers at once on one listing (pool ${BUYERS_ON_ONE_LISTING}; each lane its own listing):`,
  );
  const c = pg.contention;
  const names = ['SDK, guardedUpdate', 'SDK, rowLock', 'raw (a), guarded update', 'raw (b), guarded update'];
  const cells = c.measured.lanes.map((l, i) => [
    names[i]!,
    formatRate(l.rate),
    l.spread === undefined ? '' : `${Math.round((l.spread * 100) / 2)}%`,
    formatRatio(1 / c.measured.ratios[i]!),
    perCheckout(c, i),
    String(c.stats[i]!.get('rollback').calls),
    errors(c.stats[i]!),
  ]);
  const headers = ['lane', 'checkouts/s', '±', 'vs guardedUpdate', 'round trips', 'rollbacks', 'failed statements'];
  console.log(formatTable(headers, cells, ['left', 'right', 'right', 'right', 'right', 'right', 'left']));
  const [g, r] = [c.measured.lanes[0]!, c.measured.lanes[1]!];
  const noise = Math.max(g.spread ?? 0, r.spread ?? 0) / 2;
  const diff = Math.abs(g.rate / r.rate - 1);
  const winner = g.rate >= r.rate ? 'guardedUpdate' : 'rowLock';
  console.log(
    `  Faster: ${winner}, by ${Math.round(diff * 100)}%${diff <= noise ? ' (within the spread of the rounds: a tie)' : ''}.` +
      ` Over ${c.measured.count} checkouts per lane.`,
  );
  const f = pg.inFlight;
  const failed = [0, 1, 2].map(
    (i) => `${['SDK', '(a)', '(b)'][i]} ${f.stats[i]!.get('rollback').calls}/${errors(f.stats[i]!)}`,
  );
  console.log(`  ${IN_FLIGHT} in flight, rollbacks/failed statements: ${failed.join(', ')}.`);
}

/** Statements split into transactions: `begin` … `commit`/`rollback`, and each statement outside one. */
function transactions(trace: readonly string[]): string[][] {
  const out: string[][] = [];
  let open: string[] | undefined;
  for (const s of trace) {
    if (s === 'begin') {
      open = [s];
      out.push(open);
    } else if (open !== undefined) {
      open.push(s);
      if (s === 'commit' || s === 'rollback') open = undefined;
    } else out.push([s]);
  }
  return out;
}

function breakdown(stats: StatementStats, count: number, wallMs: number): string {
  const rows = stats
    .entries()
    .sort((a, b) => b[1].ms - a[1].ms)
    .map(([label, e]) => [
      label,
      (e.calls / count).toFixed(2),
      fmt((e.ms * 1000) / e.calls),
      fmt((e.ms * 1000) / count),
    ]);
  rows.push(['= in the database (sum)', (stats.calls / count).toFixed(1), '', fmt((stats.ms * 1000) / count)]);
  rows.push(['+ outside it (JS, driver)', '', '', fmt(((wallMs - stats.ms) * 1000) / count)]);
  rows.push(['= wall time per checkout', '', '', fmt((wallMs * 1000) / count)]);
  return formatTable(['statement', 'per checkout', 'µs each', 'µs per checkout'], rows, [
    'left',
    'right',
    'right',
    'right',
  ]);
}

const errors = (s: StatementStats) =>
  s.errorCount === 0 ? '0' : [...s.errors].map(([code, n]) => `${n}× ${code}`).join(', ');
const fmt = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 0 });

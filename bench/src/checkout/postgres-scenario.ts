/**
 * The PostgreSQL part of `npm run bench -- checkout`: one fresh database shared by every lane (so all see the
 * same tables, sizes and hot rows); the SDK on `postgresAdapter({ pool })` over a pool that times its statements,
 * the baselines on the same pg pool.
 */
import { createPostgresPool, postgresAdapter } from '@marketkit/adapters/postgres';
import { createMarketplace, type Marketplace } from '@marketkit/core';
import { createFreshDatabase, SandboxPaymentProvider } from '@marketkit/testing';
import type pg from 'pg';
import { analyzeDatabases } from '../planner-statistics.js';
import { countingPool, StatementStats } from '../statement-stats.js';
import { type BenchOptions, type Lane, type Measured, measure } from './measure.js';
import { CheckoutStream, hotListingId, sdkLane, seedListings } from './model.js';
import { postgresRawLane } from './raw-postgres.js';

export interface Figures {
  readonly measured: Measured;
  /** Statement stats of the measured rounds, per lane (same order as the lanes). */
  readonly stats: StatementStats[];
}

export interface PostgresResults {
  readonly server: string;
  readonly sequential: Figures;
  readonly inFlight: Figures;
  readonly contention: Figures;
  /** The statements of one checkout, in order, per side (SDK, raw (a), raw (b)). */
  readonly trace: { readonly sdk: string[]; readonly a: string[]; readonly b: string[] };
  readonly checks: string[];
}

export const IN_FLIGHT = 32;
export const BUYERS_ON_ONE_LISTING = 64;

/**
 * The pool every lane shares, made as `postgresAdapter({ connectionString })` makes its own (int8 as bigint, error
 * listeners, the server's `plan_cache_mode`). The SDK's statement templates run named (prepared, their plans cached
 * and re-planned every `replanAfterMs`); the baselines' statements are unnamed, parsed and planned on every run.
 */
const newPool = async (url: string, max: number) =>
  (await createPostgresPool({ connectionString: url, max })) as unknown as pg.Pool;

export async function benchPostgres(o: BenchOptions, withKey: (m: Marketplace) => Promise<boolean>) {
  const base = process.env['MARKETKIT_PG_URL'] || 'postgres://root@127.0.0.1:5432/postgres';
  const cleanup: (() => Promise<unknown>)[] = [];
  const payments = () => new SandboxPaymentProvider();
  try {
    const db = await createFreshDatabase(base, { prefix: 'mk_bench_' });
    cleanup.push(() => db.drop());
    const pool = await newPool(db.url, IN_FLIGHT);
    cleanup.push(() => pool.end());
    const stats = [0, 1, 2, 3, 4, 5].map(() => new StatementStats());
    const market = createMarketplace({
      adapter: postgresAdapter({ pool: countingPool(pool, stats[0]!) }),
      payments: payments(),
    });
    cleanup.push(() => market.close());
    await seedListings(market);
    const key = await withKey(market);
    const lanes: Lane[] = [
      sdkLane('SDK', market, new CheckoutStream('s', key)),
      postgresRawLane('a', pool, stats[1]!, new CheckoutStream('a', key)),
      postgresRawLane('b', pool, stats[2]!, new CheckoutStream('b', key)),
      postgresRawLane('b+named', pool, stats[3]!, new CheckoutStream('bn', key)),
      postgresRawLane('b+named relaxed', pool, stats[4]!, new CheckoutStream('br', key)),
      postgresRawLane('b+named+saga relaxed', pool, stats[5]!, new CheckoutStream('bs', key)),
    ];
    const trace = { sdk: [] as string[], a: [] as string[], b: [] as string[] };
    for (const [i, t] of [trace.sdk, trace.a, trace.b].entries()) {
      stats[i]!.trace = t;
      await lanes[i]!.run();
      stats[i]!.trace = undefined;
    }
    const reset = async () => {
      await analyzeDatabases(pool);
      for (const s of stats) s.reset();
    };
    const snapshot = () => stats.map((s) => s.clone());
    const sequential = { measured: await measure(o, lanes, 1, reset), stats: snapshot() };
    process.stderr.write('  done: PostgreSQL, 1 connection\n');
    const inFlight = { measured: await measure(o, lanes, IN_FLIGHT, reset), stats: snapshot() };
    process.stderr.write(`  done: PostgreSQL, ${IN_FLIGHT} in flight\n`);
    const contention = await benchContention(o, db.url, key, cleanup);
    process.stderr.write(`  done: PostgreSQL, ${BUYERS_ON_ONE_LISTING} buyers on one listing\n`);
    const version = await pool.query<{ v: string }>("select current_setting('server_version') as v");
    const checks = await verify(market, pool);
    return { server: version.rows[0]?.v ?? '?', sequential, inFlight, contention, trace, checks };
  } finally {
    for (const undo of cleanup.reverse()) await undo().catch(() => {});
  }
}

/**
 * 64 buyers at once on one listing each: the SDK with `guardedUpdate`, the SDK with `rowLock`, and the two
 * baselines (guarded update), one after the other on a pool of 64.
 */
async function benchContention(o: BenchOptions, url: string, key: boolean, cleanup: (() => Promise<unknown>)[]) {
  const pool = await newPool(url, BUYERS_ON_ONE_LISTING);
  cleanup.push(() => pool.end());
  const stats = [0, 1, 2, 3].map(() => new StatementStats());
  const market = (i: number, stockStrategy: 'guardedUpdate' | 'rowLock') => {
    const m = createMarketplace({
      adapter: postgresAdapter({ pool: countingPool(pool, stats[i]!) }),
      payments: new SandboxPaymentProvider(),
      listings: { stockStrategy },
    });
    cleanup.push(() => m.close());
    return m;
  };
  const lanes: Lane[] = [
    sdkLane(
      'SDK guardedUpdate',
      market(0, 'guardedUpdate'),
      new CheckoutStream('hg', key, hotListingId('sdk_guarded')),
    ),
    sdkLane('SDK rowLock', market(1, 'rowLock'), new CheckoutStream('hr', key, hotListingId('sdk_rowlock'))),
    postgresRawLane('a', pool, stats[2]!, new CheckoutStream('ha', key, hotListingId('raw_a'))),
    postgresRawLane('b', pool, stats[3]!, new CheckoutStream('hb', key, hotListingId('raw_b'))),
  ];
  const reset = async () => {
    await analyzeDatabases(pool);
    for (const s of stats) s.reset();
  };
  const measured = await measure(o, lanes, BUYERS_ON_ONE_LISTING, reset);
  return { measured, stats: stats.map((s) => s.clone()) };
}

/** The invariants must hold on everything every lane wrote, and every checkout must have ended paid. */
async function verify(market: Marketplace, pool: pg.Pool): Promise<string[]> {
  const problems: string[] = [];
  const ledger = await market.ledger.verify();
  if (!ledger.ok) problems.push(...ledger.problems.slice(0, 3));
  const stock = await market.listings.verifyStock();
  if (!stock.ok) problems.push(...stock.problems.slice(0, 3));
  const escrow = await market.orders.verifyEscrow();
  if (!escrow.ok) problems.push(...escrow.problems.slice(0, 3));
  const q = async (sql: string) => (await pool.query<{ n: bigint | null }>(sql)).rows[0]?.n ?? 0n;
  const unpaid = await q(`select count(*) as n from mk_orders where state <> 'paid'`);
  const reserved = await q('select coalesce(sum(reserved), 0)::int8 as n from mk_listings');
  const open = await q(`select count(*) as n from mk_idempotency_keys where status <> 'succeeded'`);
  if (unpaid !== 0n) problems.push(`${unpaid} orders not paid`);
  if (reserved !== 0n) problems.push(`${reserved} units still reserved`);
  if (open !== 0n) problems.push(`${open} idempotency keys not succeeded`);
  if (problems.length > 0) throw new Error(`PostgreSQL: verification failed: ${problems.join('; ')}`);
  const orders = await q('select count(*) as n from mk_orders');
  const keys = await q('select count(*) as n from mk_idempotency_keys');
  return [
    `PostgreSQL: ${orders} orders, all paid; ${keys} idempotency keys, all succeeded; no units left reserved;`,
    '  ledger.verify(), listings.verifyStock() and orders.verifyEscrow() pass (over SDK and baseline rows alike).',
  ];
}

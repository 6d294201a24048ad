/**
 * `npm run bench -- coalesce`: single transfers at 16 and 64 in flight on PostgreSQL, through `createTransfers`
 * uncoalesced and coalesced (`ledger: { coalesce: true }`, group commit), each beside the ledger benchmark's raw SQL
 * baseline (one transaction per transfer, the same reads, locks and writes) at the same concurrency, in the same
 * run. Goal (issue 21 F): coalesced >= 3x raw SQL at 64 in flight.
 */
import { cpus, loadavg } from 'node:os';
import { createPostgresPool, postgresAdapter } from '@marketkit/adapters/postgres';
import { createMarketplace, type Marketplace } from '@marketkit/core';
import pg from 'pg';
import {
  type BenchOptions,
  compare,
  freshDatabase,
  int8AsBigInt,
  type Lanes,
  parseOptions,
  postgresRawSide,
  sdkSide,
  seedLedger,
  verifyBoth,
  Workload,
} from './ledger-bench.js';
import { analyzeDatabases, type SqlRunner } from './planner-statistics.js';
import { type Comparison, formatComparisons } from './report.js';
import { StatementStats } from './statement-stats.js';

/** Connections of each side's pool (the ledger benchmark's): 64 in flight share them. */
const POOL = 16;
const IN_FLIGHT = [16, 64] as const;
const GOAL = 3;

export async function runCoalesceBench(args: readonly string[] = []): Promise<void> {
  const o = parseOptions(args);
  const base = process.env['MARKETKIT_PG_URL'] || 'postgres://root@127.0.0.1:5432/test';
  const loadBefore = loadavg()[0] ?? 0;
  const cleanup: (() => Promise<unknown>)[] = [];
  const rows: Comparison[] = [];
  let server = '?';
  const pools: SqlRunner[] = []; // every database's, analyzed after each warm-up
  const analyze = () => analyzeDatabases(...pools);
  try {
    const market = async (coalesce: boolean): Promise<Marketplace> => {
      const db = await freshDatabase(base, cleanup);
      const pool = await createPostgresPool({ connectionString: db.url, max: POOL });
      cleanup.push(() => pool.end());
      pools.push(pool as unknown as pg.Pool);
      const m = createMarketplace({ adapter: postgresAdapter({ pool }), ledger: { coalesce } });
      cleanup.push(() => m.close());
      await seedLedger(m);
      return m;
    };
    const plain = await market(false);
    const coalesced = await market(true);
    const rawDb = await freshDatabase(base, cleanup);
    const rawMarket = createMarketplace({ adapter: postgresAdapter({ connectionString: rawDb.url }) });
    cleanup.push(() => rawMarket.close());
    await seedLedger(rawMarket);
    const rawPool = new pg.Pool({ connectionString: rawDb.url, max: POOL, types: { getTypeParser: int8AsBigInt } });
    rawPool.on('error', () => {});
    cleanup.push(() => rawPool.end());
    pools.push(rawPool);
    server = (await rawPool.query<{ v: string }>("select current_setting('server_version') as v")).rows[0]?.v ?? '?';
    const raw = { side: postgresRawSide(rawPool, new StatementStats()), work: new Workload(42) };
    const sides = [
      ['SDK', { side: sdkSide(plain), work: new Workload(42) }],
      ['SDK coalesced', { side: sdkSide(coalesced), work: new Workload(42) }],
    ] as const;
    for (const n of IN_FLIGHT) {
      for (const [name, sdk] of sides) {
        const lanes: Lanes = { sdk, raw };
        const r = await compare(o, { group: `${n} in flight`, name }, lanes, 1, n, analyze);
        process.stderr.write(`  done: ${n} in flight, ${name}\n`);
        rows.push(r.comparison);
      }
    }
    await verifyBoth(plain, coalesced, 'coalesce bench');
    await verifyBoth(rawMarket, rawMarket, 'coalesce bench (raw)');
  } finally {
    for (const undo of cleanup.reverse()) await undo().catch(() => {});
  }
  console.log(header(o, server, [loadBefore, loadavg()[0] ?? 0]));
  console.log(formatComparisons(rows, { value: 'SDK tx/s', baseline: 'raw SQL tx/s', ratio: 'SDK/raw' }));
  const goalRow = rows.find((r) => r.group === '64 in flight' && r.name === 'SDK coalesced');
  const ratio = goalRow === undefined ? 0 : (goalRow.ratio ?? goalRow.value / goalRow.baseline);
  console.log(
    `\nGoal: coalesced >= ${GOAL}x raw SQL at 64 in flight: ${ratio.toFixed(2)}x, ${ratio >= GOAL ? 'met' : 'NOT met'}.`,
  );
  console.log('ledger.verify() passed on every database.');
}

function header(o: BenchOptions, server: string, load: readonly [number, number]): string {
  return [
    `Coalescing benchmark: Node ${process.version}, ${cpus().length} CPUs, PostgreSQL ${server}; 1-minute load ` +
      `average ${load[0].toFixed(1)} before, ${load[1].toFixed(1)} after.`,
    "Single transfers (one per createTransfers call; the ledger benchmark's mix of plain, pending, post and void",
    `on 300 funded flagged accounts), N calls in flight; pools of ${POOL} connections on every side. Each row: warm-up,`,
    `then ${o.rounds} round(s), the SDK side then the raw side; medians of the rounds, ± half their spread, SDK/raw`,
    "the median of the rounds' ratios. SDK: createTransfers, one transaction per call. SDK coalesced: the same with",
    '`ledger: { coalesce: true }` (calls arriving while a transaction is in flight share the next). Raw SQL: pg,',
    'one transaction per transfer with the same reads, FOR UPDATE locks, inserts and updates (no outbox event; the',
    'SDK writes one per transfer).',
    '',
  ].join('\n');
}

/**
 * `npm run bench -- export [--rows N]`: exports N transfers (default 1,000,000) as NDJSON and as CSV through
 * `market.exports.transfers`, on SQLite and on PostgreSQL (`MARKETKIT_PG_URL`, default a local server), beside the
 * plain way: the raw driver reading the same keyset batches of 1,000 and writing `JSON.stringify(row)` lines.
 * Rows are seeded by the constant-memory test's fixture (one transaction, or `generate_series`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { postgresAdapter } from '@marketkit/adapters/postgres';
import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import { createMarketplace, type ExportFormat, type Marketplace } from '@marketkit/core';
import { createFreshDatabase } from '@marketkit/testing';
import Database from 'better-sqlite3';
import pg from 'pg';
import { seedTransfers } from '../../packages/core/test/exports/fixtures/seed-transfers.js';
import { type Comparison, formatComparisons } from './report.js';

const BATCH = 1000;

/** A sink that keeps nothing, as fast as a consumer can be. */
const discard = () =>
  new Writable({
    decodeStrings: false,
    write(_chunk, _encoding, done) {
      done();
    },
  });

/** Rows per second of `work`, which handles `rows` rows. */
async function rate(rows: number, work: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await work();
  return rows / (Number(process.hrtime.bigint() - start) / 1e9);
}

/** The plain way: keyset batches through the raw driver, one `JSON.stringify` line per row, into the sink. */
async function rawExport(readBatch: (after: string) => Promise<Record<string, unknown>[]>): Promise<void> {
  const sink = discard();
  for (let after = ''; ; ) {
    const rows = await readBatch(after);
    if (rows.length === 0) break;
    let chunk = '';
    for (const r of rows) chunk += `${JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`;
    if (!sink.write(chunk)) await new Promise((resolve) => sink.once('drain', resolve));
    after = String(rows.at(-1)?.['id']);
  }
  sink.end();
}

async function sdkRows(market: Marketplace, rows: number, group: string, baseline: number): Promise<Comparison[]> {
  const out: Comparison[] = [];
  for (const format of ['ndjson', 'csv'] as ExportFormat[]) {
    const value = await rate(rows, () => pipeline(market.exports.transfers({ format }), discard()));
    out.push({ group, name: `${format}, batches of ${BATCH}`, value, baseline });
  }
  return out;
}

async function benchSqlite(rows: number): Promise<Comparison[]> {
  const dir = mkdtempSync(join(tmpdir(), 'marketkit-export-bench-'));
  const file = join(dir, 'export.db');
  const market = createMarketplace({ adapter: sqliteAdapter({ filename: file }) });
  try {
    await market.migrate();
    await seedTransfers('sqlite', file, rows);
    const db = new Database(file, { readonly: true });
    const select = db.prepare(`select * from mk_transfers where tenant = '' and id > ? order by id limit ${BATCH}`);
    const baseline = await rate(rows, () => rawExport(async (after) => select.all(after) as Record<string, unknown>[]));
    db.close();
    return await sdkRows(market, rows, 'SQLite (WAL)', baseline);
  } finally {
    await market.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchPostgres(rows: number): Promise<Comparison[]> {
  const fresh = await createFreshDatabase(process.env['MARKETKIT_PG_URL'] || 'postgres://root@127.0.0.1:5432/test', {
    prefix: 'mk_bench_',
  });
  const market = createMarketplace({ adapter: postgresAdapter({ connectionString: fresh.url }) });
  const pool = new pg.Pool({ connectionString: fresh.url, max: 1 });
  try {
    await market.migrate();
    await seedTransfers('postgres', fresh.url, rows);
    const sql = `select * from mk_transfers where tenant = '' and id > $1 order by id limit ${BATCH}`;
    const baseline = await rate(rows, () => rawExport(async (after) => (await pool.query(sql, [after])).rows));
    return await sdkRows(market, rows, 'PostgreSQL', baseline);
  } finally {
    await pool.end();
    await market.close();
    await fresh.drop();
  }
}

/** Runs the export benchmark; `--rows N` sets the row count. */
export async function runExportBench(args: readonly string[]): Promise<void> {
  const at = args.indexOf('--rows');
  const rows = at >= 0 ? Number(args[at + 1]) : 1_000_000;
  if (!Number.isSafeInteger(rows) || rows < 1) throw new Error('--rows takes a positive integer');
  const heapBefore = process.memoryUsage().heapUsed;
  const results = [...(await benchSqlite(rows)), ...(await benchPostgres(rows))];
  console.log(`Export of ${rows.toLocaleString('en')} transfers into a discarding sink (one run each)\n`);
  console.log(formatComparisons(results, { value: 'export rows/s', baseline: 'raw SQL rows/s', ratio: 'export/raw' }));
  const heapAfter = process.memoryUsage().heapUsed;
  console.log(
    `\nheapUsed before ${(heapBefore / 2 ** 20).toFixed(1)} MB, after ${(heapAfter / 2 ** 20).toFixed(1)} MB`,
  );
}

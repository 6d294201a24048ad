/**
 * `npm run bench -- outbox [--quick]`: on PostgreSQL, (1) events per second the outbox relay drains from a backlog,
 * with 1 and 4 relays on separate pools, (2) the latency from a writer's commit to an in-process listener (p50,
 * p99) with the relay's polling loop, with and without a `wake()` after commit, (3) what `appendEvents` adds
 * to a small write transaction, and (4) a design sketch: the drain with a per-aggregate delivery cursor
 * (`outbox-cursor-sketch.ts`), beside the same raw loop. Each figure sits beside a baseline from the same run: a hand-written
 * `SELECT … FOR UPDATE SKIP LOCKED` + `UPDATE` drain loop over a plain queue table through `pg` directly, and the
 * same transaction without the outbox write.
 *
 * What the baseline does not do: it keeps no per-aggregate order across workers, and it holds its transaction (and
 * a pooled connection) open while the handler runs, which it calls before committing. The relay commits a lease
 * (with a fencing token) first and delivers outside any transaction, so a slow sink never holds locks, and marks
 * in a second commit: one extra commit per batch, and one commit before the listener hears of an event.
 */
import { performance } from 'node:perf_hooks';
import { postgresAdapter } from '@marketkit/adapters/postgres';
import { createFreshDatabase } from '@marketkit/testing';
import { CompiledQuery, sql } from 'kysely';
import pg from 'pg';
import { monotonicFactory } from 'ulid';
import { systemClock } from '../../packages/core/src/clock/clock.js';
import {
  appendEvents,
  EventListeners,
  type EventSink,
  MarketEvents,
  type OutboxEventInput,
  OutboxRelay,
  partitionOf,
} from '../../packages/core/src/events/index.js';
import { sortKeyBase } from '../../packages/core/src/events/outbox-numbering.js';
import { migrate } from '../../packages/core/src/schema/migrate.js';
import { Storage } from '../../packages/core/src/storage/storage.js';
import { createCursorSketch, drainCursorSketch, fillCursorSketch } from './outbox-cursor-sketch.js';
import { formatRatio, formatTable, median } from './report.js';

interface Settings {
  readonly backlog: number;
  readonly rounds: number;
  readonly latencyEvents: number;
  readonly overheadMs: number;
}

const BATCH = 500;
const AGGREGATES = 1000;
const POLL_MS = 10;

const payloadOf = (i: number) => ({ orderId: `ord_${i % AGGREGATES}`, amount: BigInt(1000 + i), currency: 'USD' });
const eventOf = (i: number): OutboxEventInput => ({
  type: 'order.paid',
  aggregateType: 'order',
  aggregateId: `ord_${i % AGGREGATES}`,
  payload: payloadOf(i),
});
const jsonOf = (i: number) => JSON.stringify(payloadOf(i), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
/** The event of (3) by hand: the aggregate's counter and the event row, one statement, the SDK's columns. */
const RAW_EVENT = `with c as (
    insert into mk_outbox_aggregates (aggregate_type, aggregate_id, last_seq, last_key) values ('order', $1, 1, $2)
    on conflict (tenant, aggregate_type, aggregate_id) do update set last_seq = mk_outbox_aggregates.last_seq + 1,
      last_key = greatest(excluded.last_key, mk_outbox_aggregates.last_key + 1)
    returning last_seq, last_key)
  insert into mk_outbox_events (id, aggregate_type, aggregate_id, seq, partition_no, sort_key, type, payload, created_at)
  select $3, 'order', $1, c.last_seq, $4, c.last_key, 'order.paid', $5::jsonb, $6 from c`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs the outbox benchmark and prints its tables. */
export async function runOutboxBench(args: readonly string[] = []): Promise<void> {
  const quick = args.includes('--quick');
  const settings: Settings = quick
    ? { backlog: 5000, rounds: 1, latencyEvents: 300, overheadMs: 500 }
    : { backlog: 20_000, rounds: 3, latencyEvents: 1500, overheadMs: 1500 };
  const base = process.env['MARKETKIT_PG_URL'] || 'postgres://root@127.0.0.1:5432/test';
  const db = await createFreshDatabase(base, { prefix: 'mk_bench_' });
  const open = (max: number) => new Storage(postgresAdapter({ connectionString: db.url, max }));
  const storage = open(8);
  const raw = new pg.Pool({ connectionString: db.url, max: 8 });
  // pool.end() resolves before its idle backends have gone: the drop below can terminate one, whose client then
  // reports the termination as an idle-client error (an unhandled 'error' event without this listener).
  raw.on('error', () => {});
  try {
    await migrate(storage);
    await raw.query(`create table bench_queue (id bigserial primary key, payload jsonb not null, delivered_at bigint);
      create index bench_queue_pending on bench_queue (id) where delivered_at is null;
      create table bench_rows (id int primary key, n bigint not null);
      insert into bench_rows select g, 0 from generate_series(0, 99) g;`);
    console.log(
      `Outbox on PostgreSQL: backlog ${settings.backlog} events over ${AGGREGATES} aggregates, batches of ${BATCH}`,
    );
    await benchDrain(settings, storage, raw, open, db.url);
    await benchLatency(settings, storage, raw, db.url);
    await benchOverhead(settings, storage);
    await benchCursorSketch(settings, raw, db.url);
  } finally {
    await raw.end();
    await storage.destroy();
    await db.drop();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// (1) Drain throughput

/** What a drain does with a delivered event: marks it and keeps it, or deletes it (the relay's `retentionMs: 0`). */
type DrainMode = 'kept' | 'deleted';

async function benchDrain(
  s: Settings,
  storage: Storage,
  raw: pg.Pool,
  open: (max: number) => Storage,
  url: string,
): Promise<void> {
  const rows: string[][] = [];
  // Kept: the relay marks each event delivered (the default, 7 days' retention), the raw loop updates its row.
  // Deleted: the relay with `retentionMs: 0` deletes each batch as it marks it, the raw loop deletes its rows.
  for (const mode of ['kept', 'deleted'] satisfies DrainMode[]) {
    for (const workers of [1, 4]) {
      const sdk: number[] = [];
      const plain: number[] = [];
      for (let round = 0; round < s.rounds; round++) {
        await fillOutbox(storage, s.backlog);
        sdk.push(await drainWithRelays(open, workers, s.backlog, mode === 'deleted' ? 0 : undefined));
        await fillQueue(raw, s.backlog);
        plain.push(await drainRaw(url, workers, s.backlog, mode));
      }
      rows.push([
        `${workers} relay${workers > 1 ? 's' : ''}, ${mode}`,
        rate(median(sdk)),
        rate(median(plain)),
        formatRatio(median(sdk) / median(plain)),
      ]);
    }
  }
  console.log(`\n(1) Drain throughput (events/s, median of ${s.rounds})`);
  console.log(
    formatTable(['workload', 'OutboxRelay', 'raw SKIP LOCKED loop', 'relay/raw'], rows, [
      'left',
      'right',
      'right',
      'right',
    ]),
  );
  console.log(
    '  kept: events marked delivered (default retention) / the raw loop updates its rows;' +
      ' deleted: relay with retentionMs 0 / the raw loop deletes its rows',
  );
}

async function fillOutbox(storage: Storage, n: number): Promise<void> {
  for (let start = 0; start < n; start += BATCH) {
    const events = Array.from({ length: Math.min(BATCH, n - start) }, (_, k) => eventOf(start + k));
    await storage.transaction((trx) => appendEvents(trx, events));
  }
  await sql`analyze`.execute(storage.db); // fresh tables: give the planner statistics, as autovacuum would
}

async function fillQueue(raw: pg.Pool, n: number): Promise<void> {
  for (let start = 0; start < n; start += BATCH) {
    const payloads = Array.from({ length: Math.min(BATCH, n - start) }, (_, k) => jsonOf(start + k));
    await raw.query('insert into bench_queue (payload) select unnest($1::jsonb[])', [payloads]);
  }
  await raw.query('analyze bench_queue');
}

async function drainWithRelays(
  open: (max: number) => Storage,
  workers: number,
  n: number,
  retentionMs?: number,
): Promise<number> {
  const pools = Array.from({ length: workers }, () => open(4));
  let delivered = 0;
  const sink: EventSink = {
    name: 'count',
    deliver: async (events) => {
      delivered += events.length;
    },
  };
  const options = {
    sinks: [sink],
    batchSize: BATCH,
    partitionsPerRun: 4,
    ...(retentionMs === undefined ? {} : { retentionMs }),
  };
  const relays = pools.map((p) => new OutboxRelay(p, options));
  await Promise.all(pools.map((p) => p.run((db) => db.selectFrom('outbox_partitions').select('fence').execute())));
  const start = performance.now();
  await Promise.all(
    relays.map(async (relay) => {
      while (delivered < n) if ((await relay.runOnce()) === 0) await sleep(1);
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  await Promise.all(relays.map((relay) => relay.release()));
  await Promise.all(pools.map((p) => p.destroy()));
  return n / seconds;
}

async function drainRaw(url: string, workers: number, n: number, mode: DrainMode = 'kept'): Promise<number> {
  const pools = Array.from({ length: workers }, () => new pg.Pool({ connectionString: url, max: 1 }));
  await Promise.all(pools.map((p) => p.query('select 1')));
  let delivered = 0;
  const start = performance.now();
  await Promise.all(
    pools.map(async (pool) => {
      while (delivered < n) {
        const got = await rawDrainOnce(pool, () => {}, mode);
        delivered += got;
        if (got === 0) await sleep(1);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  await Promise.all(pools.map((p) => p.end()));
  return n / seconds;
}

/** The baseline: one transaction that locks a batch, hands it on and marks it. */
async function rawDrainOnce(
  pool: pg.Pool,
  handle: (payload: unknown) => void,
  mode: DrainMode = 'kept',
): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const { rows } = await client.query<{ id: string; payload: unknown }>(
      `select id, payload from bench_queue where delivered_at is null order by id limit ${BATCH} for update skip locked`,
    );
    for (const r of rows) handle(r.payload);
    if (rows.length > 0) {
      const ids = rows.map((r) => r.id);
      if (mode === 'deleted') await client.query('delete from bench_queue where id = any($1::bigint[])', [ids]);
      else
        await client.query('update bench_queue set delivered_at = $2 where id = any($1::bigint[])', [ids, Date.now()]);
    }
    await client.query('commit');
    return rows.length;
  } catch (error) {
    await client.query('rollback');
    throw error;
  } finally {
    client.release();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// (2) Latency from commit to listener

async function benchLatency(s: Settings, storage: Storage, raw: pg.Pool, url: string): Promise<void> {
  const rows: string[][] = [];
  const segments = 3; // alternate the two loops, so both see the same machine load
  const perSegment = Math.ceil(s.latencyEvents / segments);
  for (const wake of [false, true]) {
    const sdk: number[] = [];
    const plain: number[] = [];
    for (let k = 0; k < segments; k++) {
      sdk.push(...(await latencyRelay(storage, perSegment, wake)));
      plain.push(...(await latencyRaw(raw, url, perSegment, wake)));
    }
    const label = wake ? 'poll + wake() after commit' : `poll every ${POLL_MS} ms`;
    for (const q of [0.5, 0.99]) {
      const a = quantile(sdk, q);
      const b = quantile(plain, q);
      rows.push([label, `p${q * 100}`, ms(a), ms(b), formatRatio(a / b)]);
    }
  }
  console.log(
    `\n(2) Latency from commit to listener (${segments * perSegment} single-event transactions per loop, one every 2 ms;` +
      ' the raw loop calls its handler before its own commit, the relay after committing its lease)',
  );
  console.log(
    formatTable(['loop', 'quantile', 'OutboxRelay', 'raw SKIP LOCKED loop', 'relay/raw'], rows, [
      'left',
      'left',
      'right',
      'right',
      'right',
    ]),
  );
}

async function latencyRelay(storage: Storage, n: number, wake: boolean): Promise<number[]> {
  const committedAt: number[] = [];
  const heardAt = new Map<number, number>(); // the listener can run before the writer sees its commit return
  const listeners = new EventListeners<{ 'order.paid': { i: number } }>();
  listeners.on('order.paid', (e) => {
    if (!heardAt.has(e.payload.i)) heardAt.set(e.payload.i, performance.now());
  });
  const relay = new OutboxRelay(storage, { sinks: [listeners], pollIntervalMs: POLL_MS, batchSize: BATCH });
  relay.start();
  for (let i = 0; i < n; i++) {
    const event = { type: 'order.paid', aggregateType: 'order', aggregateId: `lat_${i % 50}`, payload: { i } };
    await storage.transaction((trx) => appendEvents(trx, [event]));
    committedAt[i] = performance.now();
    if (wake) relay.wake();
    await sleep(2);
  }
  while (heardAt.size < n) await sleep(5);
  await relay.stop();
  return latenciesOf(committedAt, heardAt);
}

async function latencyRaw(raw: pg.Pool, url: string, n: number, wake: boolean): Promise<number[]> {
  const committedAt: number[] = [];
  const heardAt = new Map<number, number>();
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  let running = true;
  let interrupt: (() => void) | undefined;
  const loop = (async () => {
    while (running) {
      const got = await rawDrainOnce(pool, (payload) => {
        const i = (payload as { i: number }).i;
        if (!heardAt.has(i)) heardAt.set(i, performance.now());
      });
      if (got === 0 && running) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, POLL_MS);
          interrupt = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    }
  })();
  for (let i = 0; i < n; i++) {
    await raw.query('insert into bench_queue (payload) values ($1)', [JSON.stringify({ i })]);
    committedAt[i] = performance.now();
    if (wake) interrupt?.();
    await sleep(2);
  }
  while (heardAt.size < n) await sleep(5);
  running = false;
  interrupt?.();
  await loop;
  await pool.end();
  return latenciesOf(committedAt, heardAt);
}

/** Commit-to-listener times; 0 when the listener ran before the writer's commit call returned. */
function latenciesOf(committedAt: readonly number[], heardAt: ReadonlyMap<number, number>): number[] {
  return committedAt.map((c, i) => Math.max(0, (heardAt.get(i) ?? Number.NaN) - c));
}

// ---------------------------------------------------------------------------------------------------------------
// (3) What appendEvents adds to a write transaction

async function benchOverhead(s: Settings, storage: Storage): Promise<void> {
  // `appendEvents` with the backend and the storage's templates (as `market.events.append`), and
  // `appendOnCommit` (what every module's own events go through: on a pipelined pool, sent with the COMMIT).
  const options = { backend: storage.adapter, templates: storage.templates };
  const events = new MarketEvents(storage, systemClock);
  type Mode = 'append' | 'onCommit' | 'raw' | 'none';
  // The same event rows by hand (the floor any outbox with per-aggregate numbering has): one named statement, the
  // counter upsert and the insert, built from a few values and sent with the COMMIT as `appendOnCommit` sends its own.
  storage.adapter.prepare?.(RAW_EVENT);
  const ids = monotonicFactory();
  const rawEvent = (i: number) => {
    const now = Date.now();
    const aggregateId = `ord_${i % AGGREGATES}`;
    const values = [aggregateId, sortKeyBase(now), ids(now), partitionOf('order', aggregateId), jsonOf(i), now];
    return { query: CompiledQuery.raw(RAW_EVENT, values) };
  };
  const write = async (mode: Mode, i: number) =>
    storage.transaction(async (trx) => {
      await sql`update bench_rows set n = n + 1 where id = ${i % 100}`.execute(trx); // one small business write
      if (mode === 'append') await appendEvents(trx, [eventOf(i)], options);
      else if (mode === 'onCommit') await events.appendOnCommit(trx, [eventOf(i)]);
      else if (mode === 'raw') await storage.onCommit(trx, rawEvent(i));
    });
  const measure = async (mode: Mode) => {
    let i = 0;
    const end = performance.now() + s.overheadMs;
    while (performance.now() < end) await write(mode, i++);
    return (i * 1000) / s.overheadMs;
  };
  for (const mode of ['append', 'onCommit', 'raw', 'none'] as const) await measure(mode);
  const appended: number[] = [];
  const onCommit: number[] = [];
  const byHand: number[] = [];
  const without: number[] = [];
  for (let r = 0; r < s.rounds; r++) {
    without.push(await measure('none'));
    appended.push(await measure('append'));
    onCommit.push(await measure('onCommit'));
    byHand.push(await measure('raw'));
  }
  const a = median(appended);
  const c = median(onCommit);
  const h = median(byHand);
  const b = median(without);
  console.log('\n(3) Cost on the write path (sequential transactions/s: one UPDATE, plus one event)');
  console.log(
    `  appendOnCommit / by hand: ${formatRatio(c / h)} (the SDK's event beside the same rows written by hand, same run)`,
  );
  console.log(
    formatTable(
      ['workload', 'with appendEvents', 'with appendOnCommit', 'without', 'with/without', 'added per tx'],
      [
        ['1 update + 1 event (append)', rate(a), '', rate(b), formatRatio(a / b), ms(1000 / a - 1000 / b)],
        ['1 update + 1 event (on commit)', '', rate(c), rate(b), formatRatio(c / b), ms(1000 / c - 1000 / b)],
        ['1 update + the same event by hand', '', rate(h), rate(b), formatRatio(h / b), ms(1000 / h - 1000 / b)],
      ],
      ['left', 'right', 'right', 'right', 'right', 'right'],
    ),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// (4) Design sketch: delivery state as a per-aggregate cursor (see outbox-cursor-sketch.ts)

async function benchCursorSketch(s: Settings, raw: pg.Pool, url: string): Promise<void> {
  await createCursorSketch(raw);
  const rows: string[][] = [];
  for (const aggregates of [AGGREGATES, s.backlog]) {
    for (const workers of [1, 4]) {
      const sketch: number[] = [];
      const plain: number[] = [];
      for (let round = 0; round < s.rounds; round++) {
        await fillCursorSketch(raw, s.backlog, aggregates, BATCH, jsonOf);
        sketch.push(await drainCursorSketch(url, workers, s.backlog, BATCH));
        await fillQueue(raw, s.backlog);
        plain.push(await drainRaw(url, workers, s.backlog));
      }
      const spread = `${(s.backlog / aggregates).toLocaleString('en-US')} per aggregate`;
      rows.push([
        `${workers} worker${workers > 1 ? 's' : ''}, ${spread}`,
        rate(median(sketch)),
        rate(median(plain)),
        formatRatio(median(sketch) / median(plain)),
      ]);
    }
  }
  console.log(
    `\n(4) Design sketch, not shipped: the backlog drained with a per-aggregate cursor instead of delivered_at per event` +
      ` (events/s, median of ${s.rounds}; outbox-cursor-sketch.ts says what it leaves out)`,
  );
  console.log(
    formatTable(['workload', 'cursor sketch', 'raw SKIP LOCKED loop', 'sketch/raw'], rows, [
      'left',
      'right',
      'right',
      'right',
    ]),
  );
}

// ---------------------------------------------------------------------------------------------------------------

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

const rate = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => `${n.toFixed(2)} ms`;

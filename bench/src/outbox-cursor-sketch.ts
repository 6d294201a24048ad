/**
 * Section (4) of `npm run bench -- outbox`: a design sketch, not shipped code. It drains the same backlog as (1) with
 * the delivery state the relay could keep instead of `delivered_at` on every event: a per-aggregate cursor
 * (`delivered_seq`) on the aggregate's counter row, so marking a batch writes one narrow row per aggregate rather than
 * one wide event row per event. Sound because the counter's row lock makes each aggregate's committed sequence numbers
 * a contiguous prefix (n + 1 cannot commit before n), so "deliver seq > delivered_seq, in seq order" never skips one.
 *
 * Tables of its own (`sk_*`, the outbox's columns and keys, tenant included), one connection per worker, each worker
 * owning every `workers`-th partition; each batch is one statement that checks the partition's fencing token, moves
 * the cursors and reads the partition's next batch, as the relay's mark does. What it leaves out, which a real
 * design must settle: the writers' counter upsert is no longer HOT (the pending index's predicate reads `last_seq`),
 * the relay's cursor update waits on a writer holding the same counter row (and can deadlock with a writer that
 * appends to two aggregates in the other order), batches go aggregate by aggregate (oldest first) rather than by
 * sort key across aggregates, and the retention sweep and backlog figures must read the cursors.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { partitionOf } from '../../packages/core/src/events/index.js';
import { OUTBOX_PARTITIONS } from '../../packages/core/src/events/outbox-limits.js';

const SCHEMA = `
  create table sk_aggregates (tenant text not null default '', aggregate_type text not null, aggregate_id text not null,
    partition_no bigint not null, last_seq bigint not null, last_key bigint not null,
    delivered_seq bigint not null default 0, next_key bigint,
    primary key (tenant, aggregate_type, aggregate_id));
  create index sk_aggregates_pending on sk_aggregates (tenant, partition_no, next_key) where last_seq > delivered_seq;
  create table sk_events (tenant text not null default '', id text not null, aggregate_type text not null,
    aggregate_id text not null, seq bigint not null, partition_no bigint not null, sort_key bigint not null,
    type text not null, payload jsonb not null, created_at bigint not null, delivered_at bigint, trace_context text,
    primary key (tenant, id));
  create unique index sk_events_by_aggregate on sk_events (tenant, aggregate_type, aggregate_id, seq);
  create table sk_partitions (partition_no bigint primary key, fence bigint not null default 0);
  insert into sk_partitions select g from generate_series(0, ${OUTBOX_PARTITIONS - 1}) g;`;

/** The first `$2` pending events of partition `$1`: its pending aggregates, oldest first, each in seq order. */
const READ = `select a.aggregate_id, e.seq, e.id, e.type, e.payload, e.sort_key, e.created_at
  from (select aggregate_type, aggregate_id, delivered_seq, next_key from sk_aggregates
        where tenant = '' and partition_no = $1 and last_seq > delivered_seq order by next_key limit $2) a
  cross join lateral (select * from sk_events e where e.tenant = '' and e.aggregate_type = a.aggregate_type
    and e.aggregate_id = a.aggregate_id and e.seq > a.delivered_seq order by e.seq limit $2) e
  limit $2`;

/**
 * Marks a batch (each aggregate's highest delivered seq, `$3`/`$4`) under the partition's fencing token (`$1`, `$2`)
 * and reads the next `$5` events with the cursors as they will stand (the CTEs share one snapshot).
 */
const MARK_AND_READ = `with held as (
    update sk_partitions set fence = fence where partition_no = $1 and fence = $2 returning 1),
  moves as (
    select v.aggregate_id, v.seq, (select e.sort_key from sk_events e where e.tenant = '' and e.aggregate_type = 'order'
      and e.aggregate_id = v.aggregate_id and e.seq = v.seq + 1) as next_key
    from unnest($3::text[], $4::bigint[]) as v(aggregate_id, seq)),
  marked as (
    update sk_aggregates a set delivered_seq = m.seq, next_key = m.next_key from moves m
    where a.tenant = '' and a.aggregate_type = 'order' and a.aggregate_id = m.aggregate_id and a.delivered_seq < m.seq
      and exists (select 1 from held)
    returning 1),
  cursors as (
    select a.aggregate_type, a.aggregate_id, greatest(a.delivered_seq, coalesce(m.seq, 0)) as delivered_seq,
      case when m.seq is null then a.next_key else m.next_key end as next_key
    from sk_aggregates a left join moves m on m.aggregate_id = a.aggregate_id
    where a.tenant = '' and a.partition_no = $1 and a.last_seq > a.delivered_seq
      and a.last_seq > coalesce(m.seq, 0) and exists (select 1 from held)
    order by 4 limit $5)
  select a.aggregate_id, e.seq, e.id, e.type, e.payload, e.sort_key, e.created_at
  from cursors a
  cross join lateral (select * from sk_events e where e.tenant = '' and e.aggregate_type = a.aggregate_type
    and e.aggregate_id = a.aggregate_id and e.seq > a.delivered_seq order by e.seq limit $5) e
  limit $5`;

interface SketchRow {
  aggregate_id: string;
  seq: string;
}

/** Creates the sketch's tables in the bench database. */
export async function createCursorSketch(raw: pg.Pool): Promise<void> {
  await raw.query(SCHEMA);
}

/**
 * Writes `n` events over `aggregates` aggregates as the outbox numbers them (per-aggregate seq, sort keys in
 * writing order), in transactions of `batch`, moving each counter (and, for an aggregate with nothing pending, its
 * `next_key`) in the same transaction.
 */
export async function fillCursorSketch(
  raw: pg.Pool,
  n: number,
  aggregates: number,
  batch: number,
  payloadOf: (i: number) => string,
): Promise<void> {
  const base = Date.now() * 1000;
  for (let start = 0; start < n; start += batch) {
    const count = Math.min(batch, n - start);
    const client = await raw.connect();
    try {
      await client.query('begin');
      const aggs = [...new Set(Array.from({ length: count }, (_, k) => `ord_${(start + k) % aggregates}`))].sort();
      // Lock and read the counters first (as the outbox's upsert does), then number the events from them.
      const { rows } = await client.query<{ aggregate_id: string; last_seq: string }>(
        `insert into sk_aggregates (aggregate_type, aggregate_id, partition_no, last_seq, last_key)
         select 'order', a, p, 0, 0 from unnest($1::text[], $2::bigint[]) as v(a, p)
         on conflict (tenant, aggregate_type, aggregate_id) do update set last_seq = sk_aggregates.last_seq
         returning aggregate_id, last_seq`,
        [aggs, aggs.map((a) => partitionOf('order', a))],
      );
      const last = new Map(rows.map((r) => [r.aggregate_id, { seq: Number(r.last_seq) }]));
      const ids: string[] = [];
      const aggIds: string[] = [];
      const seqs: number[] = [];
      const parts: number[] = [];
      const keys: number[] = [];
      const payloads: string[] = [];
      const firstKey = new Map<string, number>();
      for (let k = 0; k < count; k++) {
        const i = start + k;
        const a = `ord_${i % aggregates}`;
        const counter = last.get(a)!;
        counter.seq += 1;
        if (!firstKey.has(a)) firstKey.set(a, base + i);
        ids.push(`sk_${String(i).padStart(10, '0')}_${base}`);
        aggIds.push(a);
        seqs.push(counter.seq);
        parts.push(partitionOf('order', a));
        keys.push(base + i);
        payloads.push(payloadOf(i));
      }
      await client.query(
        `insert into sk_events (id, aggregate_type, aggregate_id, seq, partition_no, sort_key, type, payload, created_at)
         select id, 'order', a, s, p, k, 'order.paid', pl, $7
         from unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::jsonb[]) as v(id, a, s, p, k, pl)`,
        [ids, aggIds, seqs, parts, keys, payloads, Date.now()],
      );
      await client.query(
        `update sk_aggregates g set last_seq = v.s, last_key = v.k,
           next_key = case when g.last_seq > g.delivered_seq then g.next_key else v.f end
         from unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) as v(a, s, k, f)
         where g.tenant = '' and g.aggregate_type = 'order' and g.aggregate_id = v.a`,
        [
          aggs,
          aggs.map((a) => last.get(a)!.seq),
          aggs.map(() => base + start + count),
          aggs.map((a) => firstKey.get(a)!),
        ],
      );
      await client.query('commit');
    } catch (error) {
      await client.query('rollback');
      throw error;
    } finally {
      client.release();
    }
  }
  await raw.query('analyze sk_aggregates; analyze sk_events');
}

/**
 * Drains `n` events with `workers` workers (one connection each, every `workers`-th partition each, a batch of
 * `batch` per statement after the first read of a partition). Returns events per second; throws if any aggregate's
 * events came out of seq order or the drain delivered other than `n`.
 */
export async function drainCursorSketch(url: string, workers: number, n: number, batch: number): Promise<number> {
  const pools = Array.from({ length: workers }, () => new pg.Pool({ connectionString: url, max: 1 }));
  await Promise.all(pools.map((p) => p.query('select 1')));
  const lastSeen = new Map<string, number>();
  let delivered = 0;
  const start = performance.now();
  await Promise.all(
    pools.map(async (pool, w) => {
      const mine = Array.from({ length: OUTBOX_PARTITIONS }, (_, p) => p).filter((p) => p % workers === w);
      const next = new Map<number, SketchRow[]>();
      while (delivered < n) {
        let got = 0;
        for (const partition of mine) {
          const fence = (
            await pool.query<{ fence: string }>(
              'update sk_partitions set fence = fence + 1 where partition_no = $1 returning fence',
              [partition],
            )
          ).rows[0]!.fence;
          let rows = next.get(partition) ?? (await pool.query<SketchRow>(READ, [partition, batch])).rows;
          while (rows.length > 0) {
            const high = new Map<string, number>();
            for (const r of rows) {
              const seq = Number(r.seq);
              const before = lastSeen.get(r.aggregate_id);
              if (before !== undefined && before !== seq - 1) throw new Error(`sketch: ${r.aggregate_id} out of order`);
              lastSeen.set(r.aggregate_id, seq);
              high.set(r.aggregate_id, seq);
            }
            delivered += rows.length;
            got += rows.length;
            rows = (
              await pool.query<SketchRow>(MARK_AND_READ, [
                partition,
                fence,
                [...high.keys()],
                [...high.values()],
                batch,
              ])
            ).rows;
            if (rows.length < batch) break;
          }
          next.set(partition, rows);
        }
        if (got === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  await Promise.all(pools.map((p) => p.end()));
  if (delivered !== n) throw new Error(`sketch: delivered ${delivered} of ${n}`);
  return n / seconds;
}

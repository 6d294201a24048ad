/**
 * `npm run bench -- webhooks [--quick]`: on PostgreSQL, webhook deliveries per second from a backlog to a local
 * receiver (node:http, answering 204), with 1 and 4 worker processes each running `market.worker()` (whose webhooks
 * poller keeps 32 deliveries in flight: claim with SKIP LOCKED, POST each signed body, record each outcome under its
 * fence), beside a baseline
 * from the same run: as many plain loops in as many processes POSTing the same number of signed bodies over
 * keep-alive connections, with nothing claimed or recorded.
 *
 * The backlog is made before the clock starts (events appended, then fanned out by the relay): the figure is the
 * sending side only. The receiver runs in this process for both.
 */

import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { postgresAdapter } from '@marketkit/adapters/postgres';
import { createMarketplace, type Marketplace, silentLogger } from '@marketkit/core';
import { createFreshDatabase } from '@marketkit/testing';
import { appendEvents, type OutboxEventInput } from '../../packages/core/src/events/index.js';
import { Storage } from '../../packages/core/src/storage/storage.js';
import { type BenchChild, spawnBenchChild } from './bench-child.js';
import { type Comparison, formatComparisons, median, spread } from './report.js';

/** `{ key: value }`, or nothing when `value` is undefined (the report's optional fields). */
const optional = <K extends string>(key: K, value: number | undefined) =>
  (value === undefined ? {} : { [key]: value }) as Partial<Record<K, number>>;

import { type CountingReceiver, startCountingReceiver } from './webhooks/counting-receiver.js';
import type { ChildSpec } from './webhooks/webhook-bench-child.js';

const CHILD = fileURLToPath(new URL('./webhooks/webhook-bench-child.ts', import.meta.url));
const IN_FLIGHT = 32;
const APPEND_BATCH = 500;

function spawnChild(spec: ChildSpec): BenchChild<number> {
  const child = spawnBenchChild<{ done: number }>([CHILD, JSON.stringify(spec)], spec.mode);
  return { ...child, result: child.result.then((r) => r.done) };
}

/** Runs `processes` children of `mode` until `n` POSTs arrived; deliveries per second. */
async function timed(
  receiver: CountingReceiver,
  base: Omit<ChildSpec, 'mode' | 'share'>,
  mode: ChildSpec['mode'],
  processes: number,
  n: number,
): Promise<number> {
  const children = Array.from({ length: processes }, () =>
    spawnChild({ ...base, mode, share: Math.ceil(n / processes) }),
  );
  await Promise.all(children.map((c) => c.ready));
  receiver.reset();
  const start = performance.now();
  for (const c of children) c.go();
  await receiver.waitFor(n);
  const seconds = (performance.now() - start) / 1000;
  await Promise.all(children.map((c) => c.result));
  return n / seconds;
}

/** Appends `n` order events and lets the relay fan them out into deliveries. */
async function backlog(storage: Storage, market: Marketplace, n: number, round: string): Promise<void> {
  for (let start = 0; start < n; start += APPEND_BATCH) {
    const events: OutboxEventInput[] = Array.from({ length: Math.min(APPEND_BATCH, n - start) }, (_, k) => {
      const i = start + k;
      return {
        type: 'order.paid',
        aggregateType: 'order',
        aggregateId: `ord_${round}_${i}`,
        payload: { orderId: `ord_${round}_${i}`, seq: 2, transition: 'pay', from: 'checkout', to: 'paid' },
      };
    });
    await storage.transaction((trx) => appendEvents(trx, events));
  }
  while ((await market.events.runOnce()) > 0) {}
}

/** Runs the webhooks benchmark and prints its table. */
export async function runWebhooksBench(args: readonly string[] = []): Promise<void> {
  const quick = args.includes('--quick');
  const n = quick ? 1000 : 4000;
  const rounds = quick ? 1 : 3;
  const db = await createFreshDatabase(process.env['MARKETKIT_PG_URL'] || 'postgres://root@127.0.0.1:5432/postgres', {
    prefix: 'mk_bench_',
  });
  const receiver = await startCountingReceiver();
  const market = createMarketplace({
    adapter: postgresAdapter({ connectionString: db.url, max: 4 }),
    logger: silentLogger,
    webhooks: { allowPrivateTargets: true },
  });
  const storage = new Storage(postgresAdapter({ connectionString: db.url, max: 2 }));
  try {
    await market.migrate();
    const { secret } = await market.webhooks.create({ url: receiver.url, eventTypes: ['*'] });
    const base = { location: db.url, url: receiver.url, secret, inFlight: IN_FLIGHT };
    console.log(
      `Webhooks on PostgreSQL: ${n} deliveries to a local receiver, ${IN_FLIGHT} in flight per process, median of ${rounds}`,
    );
    const rows: Comparison[] = [];
    for (const processes of [1, 4]) {
      const sdk: number[] = [];
      const raw: number[] = [];
      for (let round = 0; round < rounds; round++) {
        await backlog(storage, market, n, `${processes}_${round}`);
        sdk.push(await timed(receiver, base, 'sdk', processes, n));
        raw.push(await timed(receiver, base, 'raw', processes, n));
      }
      rows.push({
        group: 'PostgreSQL',
        name: `${processes} process${processes > 1 ? 'es' : ''}`,
        value: median(sdk),
        baseline: median(raw),
        ratio: median(sdk.map((v, i) => v / raw[i]!)),
        ...optional('valueSpread', spread(sdk)),
        ...optional('baselineSpread', spread(raw)),
      });
    }
    console.log(formatComparisons(rows, { value: 'deliveries/s', baseline: 'raw POST/s', ratio: 'SDK/raw' }));
  } finally {
    await market.close();
    await storage.destroy();
    await receiver.close();
    await db.drop();
  }
}

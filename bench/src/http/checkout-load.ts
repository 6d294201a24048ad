/**
 * The two checkout lanes of `npm run bench -- http`: POST /api/v1/checkouts over HTTP with autocannon (keep-alive,
 * 32 connections, each request a unique `Idempotency-Key`), and the same checkouts called in-process through
 * `market.orders.checkout`, 32 in flight. Both run a fixed number of checkouts (autocannon's `amount`), so every
 * request sent is answered before a run ends and the orders in the database can be counted against the 2xx.
 */
import { performance } from 'node:perf_hooks';
import type { Marketplace } from '@marketkit/core';
import autocannon from 'autocannon';
import { BUYERS, LISTINGS, listingId } from '../checkout/model.js';

/** Connections of the HTTP lane, and checkouts in flight of the in-process lane. */
export const CONCURRENCY = 32;

/** What one run of a lane measured. */
export interface LaneRun {
  readonly count: number;
  readonly ms: number;
  /** Checkouts per second. */
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  /** Answers other than 2xx (HTTP), or failed calls (in-process). */
  readonly failures: number;
  /** Connection errors and timeouts (HTTP). */
  readonly errors: number;
  /** Status codes of the failures, e.g. `503: 12`. */
  readonly statuses: string;
}

/** The nth checkout of a run: buyers and listings round-robin, as in the checkout benchmark. */
function call(prefix: string, n: number) {
  return {
    orderId: `ord_${prefix}_${n.toString(36).padStart(6, '0')}`,
    buyer: n % BUYERS,
    listingId: listingId((n * 7) % LISTINGS),
    quantity: 1 + (n % 3),
    paymentMethod: 'tok_visa',
  };
}

/** `buyer_00` …: the buyers both lanes check out as (tokens[i] is buyer i's). */
export const buyerId = (i: number) => `buyer_${String(i).padStart(2, '0')}`;

/**
 * `count` checkouts through `POST {base}/v1/checkouts` with autocannon; order ids `ord_{prefix}_…`, idempotency
 * keys `key_{prefix}_…`.
 */
export async function httpRun(base: string, tokens: readonly string[], prefix: string, count: number) {
  let n = 0;
  const t0 = performance.now();
  const result = await autocannon({
    url: `${base}/v1/checkouts`,
    connections: CONCURRENCY,
    pipelining: 1,
    amount: count,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        setupRequest: (req) => {
          const i = n++;
          const { buyer, ...body } = call(prefix, i);
          return {
            ...req,
            headers: {
              'content-type': 'application/json',
              authorization: `Bearer ${tokens[buyer]}`,
              'idempotency-key': `key_${prefix}_${i}`,
            },
            body: JSON.stringify(body),
          };
        },
      },
    ],
  });
  const ms = performance.now() - t0;
  const statuses = Object.entries(result.statusCodeStats ?? {})
    .filter(([code]) => !code.startsWith('2'))
    .map(([code, s]) => `${code}: ${s.count ?? 0}`)
    .join(', ');
  return {
    run: {
      count: result['2xx'],
      ms,
      rate: (result['2xx'] * 1000) / ms,
      p50: result.latency.p50,
      p99: result.latency.p99,
      failures: result.non2xx,
      errors: result.errors + result.timeouts,
      statuses,
    } satisfies LaneRun,
    sent: n,
  };
}

/** `count` checkouts through `market.orders.checkout`, 32 at a time; order ids `ord_{prefix}_…`. */
export async function inProcessRun(market: Marketplace, prefix: string, count: number): Promise<LaneRun> {
  const latencies: number[] = [];
  let next = 0;
  let failures = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const { buyer, ...c } = call(prefix, i);
      const started = performance.now();
      try {
        const order = await market.orders.checkout({
          ...c,
          buyerId: buyerId(buyer),
          idempotencyKey: `key_${prefix}_${i}`,
        });
        if (order.state !== 'paid') failures++;
        else latencies.push(performance.now() - started);
      } catch {
        failures++;
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const ms = performance.now() - t0;
  latencies.sort((a, b) => a - b);
  return {
    count: latencies.length,
    ms,
    rate: (latencies.length * 1000) / ms,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    failures,
    errors: 0,
    statuses: '',
  };
}

/** The `q` quantile (0–1) of sorted values, nearest rank; NaN when there are none. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/**
 * The live fan-out of `npm run bench -- http`: 1,000 SSE clients of `GET /api/v1/events` (plain `node:http` on a
 * keep-alive agent, a small parser of `event:`/`data:` lines), split evenly over a few buyers, so each order event
 * reaches a known number of clients. This process commits `ship` on one order of those buyers at a time, through
 * its own `market.orders.transition`, and takes the commit time when the call returns; each client takes the time
 * its event's bytes arrive (same clock, same process). Latency = arrival − commit, over every delivery.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Marketplace } from '@marketkit/core';
import { LISTINGS, listingId } from '../checkout/model.js';
import { signToken } from './tokens.js';

/** How the fan-out is run. */
export interface FanoutPlan {
  readonly clients: number;
  /** Buyers the clients are signed in as (clients / buyers each); every transition is on one of their orders. */
  readonly buyers: number;
  /** Transitions committed, one after another. */
  readonly transitions: number;
  /** Pause after each transition, ms. */
  readonly gapMs: number;
}

/** What the fan-out measured. */
export interface FanoutResult {
  readonly plan: FanoutPlan;
  readonly expected: number;
  readonly deliveries: number;
  readonly missing: number;
  readonly duplicates: number;
  /** Deliveries whose bytes arrived before the transition call had returned here (counted as 0 ms). */
  readonly early: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** Time to connect every client (until each has its `ready` event), ms. */
  readonly connectMs: number;
  /** Median time of one transition call, ms. */
  readonly transitionMs: number;
}

const fanBuyer = (i: number) => `fan_buyer_${String(i).padStart(2, '0')}`;

/** One connected client: when each `ship` event arrived, by order id. */
interface Client {
  readonly buyer: number;
  readonly arrivals: Map<string, number[]>;
  readonly req: http.ClientRequest;
}

/** Opens one stream and resolves once its `ready` event arrived. */
function connect(base: string, agent: http.Agent, token: string, buyer: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const arrivals = new Map<string, number[]>();
    const req = http.get(
      `${base}/v1/events`,
      { agent, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`GET /v1/events answered ${res.statusCode}`));
          res.resume();
          return;
        }
        res.setEncoding('utf8');
        let buffer = '';
        res.on('data', (chunk: string) => {
          const at = performance.now();
          buffer += chunk;
          let end = buffer.indexOf('\n\n');
          while (end >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            end = buffer.indexOf('\n\n');
            let event = 'message';
            let data = '';
            for (const line of block.split('\n')) {
              if (line.startsWith('event: ')) event = line.slice(7);
              else if (line.startsWith('data: ')) data += line.slice(6);
            }
            if (event === 'ready') resolve(client);
            else if (event === 'order') {
              const e = JSON.parse(data) as { orderId: string; transition: string };
              if (e.transition !== 'ship') continue;
              const list = arrivals.get(e.orderId) ?? [];
              list.push(at);
              arrivals.set(e.orderId, list);
            }
          }
        });
      },
    );
    const client: Client = { buyer, arrivals, req };
    req.on('error', reject);
  });
}

/**
 * Checks out `plan.transitions` orders for the fan-out's buyers, connects the clients, ships the orders one after
 * another, and waits (up to 10 s) for every expected delivery.
 */
export async function runFanout(base: string, market: Marketplace, plan: FanoutPlan): Promise<FanoutResult> {
  const orders: { id: string; sellerId: string; buyer: number }[] = [];
  for (let i = 0; i < plan.transitions; i++) {
    const buyer = i % plan.buyers;
    const order = await market.orders.checkout({
      orderId: `ord_fan_${i}`,
      buyerId: fanBuyer(buyer),
      listingId: listingId((i * 11) % LISTINGS),
      quantity: 1,
      paymentMethod: 'tok_visa',
      idempotencyKey: `key_fan_${i}`,
    });
    orders.push({ id: order.id, sellerId: order.sellerId, buyer });
  }
  const tokens = await Promise.all(
    Array.from({ length: plan.buyers }, (_, i) => signToken({ role: 'buyer', id: fanBuyer(i) })),
  );
  const agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const clients: Client[] = [];
  const t0 = performance.now();
  try {
    for (let i = 0; i < plan.clients; i += 100) {
      const batch = Array.from({ length: Math.min(100, plan.clients - i) }, (_, k) => (i + k) % plan.buyers);
      clients.push(...(await Promise.all(batch.map((b) => connect(base, agent, tokens[b]!, b)))));
    }
    const connectMs = performance.now() - t0;
    await sleep(500);
    const committed = new Map<string, number>();
    const callMs: number[] = [];
    for (const o of orders) {
      const started = performance.now();
      await market.orders.transition(o.id, 'ship', { actor: { role: 'seller', id: o.sellerId } });
      const at = performance.now();
      committed.set(o.id, at);
      callMs.push(at - started);
      await sleep(plan.gapMs);
    }
    const perOrder = plan.clients / plan.buyers;
    const expected = plan.transitions * perOrder;
    const delivered = () => clients.reduce((n, c) => n + [...c.arrivals.values()].reduce((m, l) => m + l.length, 0), 0);
    for (let waited = 0; delivered() < expected && waited < 10_000; waited += 50) await sleep(50);
    const latencies: number[] = [];
    let [missing, duplicates, early] = [0, 0, 0];
    for (const c of clients) {
      for (const o of orders) {
        const got = c.arrivals.get(o.id) ?? [];
        if (o.buyer !== c.buyer) {
          duplicates += got.length; // not this client's: counted as a wrong delivery
          continue;
        }
        if (got.length === 0) missing++;
        if (got.length > 1) duplicates += got.length - 1;
        const first = got[0];
        if (first === undefined) continue;
        const latency = first - committed.get(o.id)!;
        if (latency < 0) early++;
        latencies.push(Math.max(0, latency));
      }
    }
    latencies.sort((a, b) => a - b);
    callMs.sort((a, b) => a - b);
    const q = (p: number) =>
      latencies[Math.min(latencies.length - 1, Math.ceil(p * latencies.length) - 1)] ?? Number.NaN;
    return {
      plan,
      expected,
      deliveries: latencies.length,
      missing,
      duplicates,
      early,
      p50: q(0.5),
      p99: q(0.99),
      max: latencies.at(-1) ?? Number.NaN,
      connectMs,
      transitionMs: callMs[Math.floor(callMs.length / 2)] ?? Number.NaN,
    };
  } finally {
    for (const c of clients) c.req.destroy();
    agent.destroy();
  }
}

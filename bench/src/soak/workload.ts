/**
 * The soak's mixed workload on one marketplace: order lifecycles (checkout, then ship / deliver / confirm, with
 * some cancels, partial refunds and disputes), payouts from the sellers' balances, sagas and jobs for the worker,
 * and a counting publisher the outbox relay (run by the worker) publishes every event to.
 */
import {
  type Actor,
  defineJob,
  defineSaga,
  escrowAccounts,
  type JobDefinition,
  type Marketplace,
  Money,
  type Publisher,
  type SagaDefinition,
} from '@marketkit/core';
import { z } from 'zod';
import { codeOf, type Latencies } from './latencies.js';
import { Pacer } from './pacer.js';

export const SELLERS = 20;
export const LISTINGS_PER_SELLER = 10;
export const BUYERS = 200;
export const CURRENCY = 'USD';

/** Errors the workload provokes on purpose, by operation: not failures. */
export const EXPECTED_ERRORS: Readonly<Record<string, readonly string[]>> = {
  checkout: ['PAYMENT_DECLINED'], // one card in 50 is `tok_decline`
  'payouts.request': ['PROVIDER_TIMEOUT', 'INSUFFICIENT_FUNDS'], // injected timeouts (a worker retries), races
};

/** Rates (per second) and shape of the workload. */
export interface WorkloadOptions {
  readonly checkoutsPerSecond: number;
  readonly payoutsPerSecond: number;
  readonly sagasPerSecond: number;
  readonly jobsPerSecond: number;
  /** Pause between the transitions of one order. */
  readonly stepDelayMs: number;
}

const sellerId = (i: number) => `seller_${String(i).padStart(2, '0')}`;
const listingId = (s: number, j: number) => `lst_${s}_${j}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Counters the worker-side definitions and the publisher bump. */
export class WorkCounters {
  sagasDone = 0;
  jobsDone = 0;
  published = 0;
}

/** The saga and job the worker runs, and the publisher that measures the relay's lag. */
export function workerDefinitions(
  counters: WorkCounters,
  latencies: Latencies,
  market: () => Marketplace,
): { sagas: SagaDefinition[]; jobs: JobDefinition[]; publisher: Publisher } {
  const notify = defineSaga('soak.notify', {
    input: z.object({ n: z.number().int() }),
    steps: [
      {
        name: 'record',
        kind: 'local',
        run: async ({ trx, input }) => {
          await market().events.append(trx, [
            { type: 'soak.notified', aggregateType: 'soak', aggregateId: `s${input.n % 64}`, payload: { n: input.n } },
          ]);
        },
      },
      { name: 'ping', kind: 'external', run: async () => ({ ok: true }) },
      {
        name: 'done',
        kind: 'local',
        run: async () => {
          counters.sagasDone++;
        },
      },
    ],
  });
  const remind = defineJob('soak.remind', {
    payload: z.object({ n: z.number().int() }),
    run: async () => {
      counters.jobsDone++;
    },
  });
  const publisher: Publisher = {
    async publish(events) {
      const now = Date.now();
      const lag = latencies.of('relay lag (write→publish)');
      for (const e of events) lag.record(now - e.createdAt);
      counters.published += events.length;
    },
  };
  return { sagas: [notify], jobs: [remind], publisher };
}

/** Listings (stock that never runs out) and stored payout destinations, on a migrated database. */
export async function seed(market: Marketplace): Promise<void> {
  for (let s = 0; s < SELLERS; s++) {
    await market.payouts.setDestination({ sellerId: sellerId(s), destination: `acct_${s}` });
    for (let j = 0; j < LISTINGS_PER_SELLER; j++) {
      await market.listings.create({
        id: listingId(s, j),
        sellerId: sellerId(s),
        title: `Listing ${s}/${j}`,
        price: Money.fromMinor(BigInt(1000 + ((s * 7 + j * 13) % 40) * 250), CURRENCY),
        quantity: 1_000_000_000,
      });
    }
  }
}

/** The pacers of the workload; `start()` them, `stop()` them. */
export function workload(
  market: Marketplace,
  o: WorkloadOptions,
  latencies: Latencies,
  counters: { sagasStarted: number; jobsScheduled: number },
): Pacer[] {
  const t = <T>(name: string, fn: () => Promise<T>) => latencies.time(name, fn);
  const operator: Actor = { role: 'operator', id: 'ops' };

  const lifecycle = async (n: number) => {
    const buyer: Actor = { role: 'buyer', id: `buyer_${n % BUYERS}` };
    const s = n % SELLERS;
    const seller: Actor = { role: 'seller', id: sellerId(s) };
    const orderId = `ord_${n.toString(36).padStart(7, '0')}`;
    const order = await t('checkout', () =>
      market.orders.checkout({
        orderId,
        buyerId: buyer.id,
        listingId: listingId(s, Math.floor(n / SELLERS) % LISTINGS_PER_SELLER),
        quantity: 1 + (n % 2),
        paymentMethod: n % 50 === 7 ? 'tok_decline' : 'tok_visa',
        idempotencyKey: `co_${n}`,
      }),
    );
    const go = async (name: string, actor: Actor, extra: { amountMinor?: bigint; buyerPercent?: number } = {}) => {
      await sleep(o.stepDelayMs);
      await t(name, () => market.orders.transition(order.id, name, { actor, ...extra }));
    };
    const path = n % 100;
    if (path < 4) return go('cancel', buyer);
    if (path < 8) await go('refundPartial', seller, { amountMinor: 100n });
    await go('ship', seller);
    await go('deliver', buyer);
    if (path < 14) {
      await go('openDispute', buyer);
      const r = path % 3;
      if (r === 0) return go('resolveRefund', operator);
      if (r === 1) return go('resolveRelease', operator);
      return go('resolveSplit', operator, { buyerPercent: 50 });
    }
    await go('confirm', buyer);
  };

  const payout = async (n: number) => {
    const id = sellerId(n % SELLERS);
    const account = await t('ledger.getAccount', () => market.ledger.getAccount(escrowAccounts.seller(id, CURRENCY)));
    const available = account === undefined ? 0n : account.creditsPosted - account.debitsPosted - account.debitsPending;
    if (available < 2000n) return;
    await t('payouts.request', () =>
      market.payouts.request({ payoutId: `po_${n}`, sellerId: id, currency: CURRENCY, amountMinor: available / 2n }),
    );
  };

  const saga = async (n: number) => {
    await t('sagas.start', () => market.sagas.start('soak.notify', { n }, { id: `notify_${n}` }));
    counters.sagasStarted++;
  };

  const job = async (n: number) => {
    await t('jobs.scheduleJob', () =>
      market.jobs.scheduleJob(undefined, { kind: 'soak.remind', runAt: Date.now() + 1000, payload: { n } }),
    );
    counters.jobsScheduled++;
  };

  return [
    new Pacer('order lifecycles', o.checkoutsPerSecond, 2000, lifecycle),
    new Pacer('payouts', o.payoutsPerSecond, 50, payout),
    new Pacer('sagas', o.sagasPerSecond, 200, saga),
    new Pacer('jobs', o.jobsPerSecond, 200, job),
  ];
}

/** Errors that were not provoked on purpose: `operation: CODE ×n`. */
export function unexpectedErrors(latencies: Latencies): string[] {
  const out: string[] = [];
  for (const [name, s] of latencies.ops) {
    for (const [code, count] of s.errors) {
      if (!(EXPECTED_ERRORS[name] ?? []).includes(code)) out.push(`${name}: ${code} ×${count}`);
    }
  }
  return out;
}

export { codeOf };

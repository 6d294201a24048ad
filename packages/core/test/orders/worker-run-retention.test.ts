/**
 * A checkout or a refund that a worker finishes (its provider call failed for the caller, and the saga's retry
 * went through later) must leave nothing behind in the process: the order the run committed was kept in a per-process
 * map for an inline caller, and only that caller removed it, so every worker-finished run stayed in memory for good.
 * Measured as retained heap after a forced GC, with provider ids of 200 KiB so that each retained order weighs
 * enough to stand out from the noise.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  type Authorization,
  type AuthorizeRequest,
  type Capture,
  type CaptureRequest,
  createMarketplace,
  MarketkitError,
  type Marketplace,
  Money,
  type PaymentProvider,
  type PayoutRequest,
  type ProviderPayout,
  type Refund,
  type RefundRequest,
} from '@marketkit/core';
import { checkMarketInvariants, ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIG = 200 * 1024;
const big = (prefix: string, key: string) => `${prefix}_${key}_${'x'.repeat(BIG)}`;

/** Fails the first capture and the first refund of every key (nothing applied), then succeeds; remembers nothing else. */
class FailOnceProvider implements PaymentProvider {
  readonly name = 'fail-once';
  readonly #failed = new Set<string>();

  #once(operation: string, key: string): void {
    if (this.#failed.delete(key)) return;
    this.#failed.add(key);
    throw new MarketkitError('PROVIDER_ERROR', { message: 'injected', details: { operation } });
  }

  async authorize(r: AuthorizeRequest): Promise<Authorization> {
    return { authorizationId: `auth_${r.idempotencyKey}` };
  }
  async capture(r: CaptureRequest): Promise<Capture> {
    this.#once('capture', r.idempotencyKey);
    return { captureId: big('cap', r.idempotencyKey) };
  }
  async void(): Promise<void> {}
  async refund(r: RefundRequest): Promise<Refund> {
    this.#once('refund', r.idempotencyKey);
    return { refundId: big('ref', r.idempotencyKey) };
  }
  async payout(r: PayoutRequest): Promise<ProviderPayout> {
    return { payoutId: `po_${r.idempotencyKey}` };
  }
}

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const retainedMb = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / (1024 * 1024);
};

for (const backend of testBackends()) {
  describe(`runs a worker finishes, on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    const clock = new ManualClock();
    let listingId = '';
    let n = 0;

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), clock, payments: new FailOnceProvider() });
      await market.migrate();
      listingId = (
        await market.listings.create({ sellerId: 'bob', title: 'Lamp', price: Money.of('20.00', 'USD'), quantity: 1e6 })
      ).id;
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    /** Lets the worker run every saga that waits for a retry, moving the clock to each one's retry time. */
    const finishWaitingSagas = async (sagaIds: readonly string[]) => {
      for (const id of sagaIds) {
        const saga = await market.sagas.get(id);
        if (saga?.nextRunAt != null && saga.nextRunAt > clock.now()) clock.advance(saga.nextRunAt - clock.now());
      }
      const worker = market.worker({ concurrency: 50 });
      for (let round = 0; round < 5; round++) await worker.runOnce();
      for (const id of sagaIds) expect((await market.sagas.get(id))?.status).toBe('completed');
    };

    /** `count` checkouts whose capture a worker finishes, then a cancel of each whose refund a worker finishes. */
    const round = async (count: number) => {
      const orderIds = Array.from({ length: count }, () => `ord_${++n}`);
      for (const orderId of orderIds) {
        await expect(
          market.orders.checkout({ orderId, buyerId: 'alice', listingId, quantity: 1, paymentMethod: 'tok_visa' }),
        ).rejects.toMatchObject({ code: 'PROVIDER_ERROR' });
      }
      await finishWaitingSagas(orderIds.map((id) => `checkout:${id}`));
      const refunds: string[] = [];
      for (const orderId of orderIds) {
        expect((await market.orders.get(orderId))?.state).toBe('paid');
        await expect(
          market.orders.transition(orderId, 'cancel', { actor: { role: 'buyer', id: 'alice' } }),
        ).rejects.toMatchObject({ code: 'PROVIDER_ERROR' });
        refunds.push(await opSagaOf(orderId));
      }
      await finishWaitingSagas(refunds);
      for (const orderId of orderIds) expect((await market.orders.get(orderId))?.state).toBe('cancelled');
    };

    /** The saga id of the order's transition in flight: a transition refused while it is busy names it. */
    const opSagaOf = async (orderId: string): Promise<string> => {
      const err = await market.orders
        .transition(orderId, 'ship', { actor: { role: 'seller', id: 'bob' } })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'CONCURRENCY_CONFLICT' });
      return (err as { details: { sagaId: string } }).details.sagaId;
    };

    it('keeps no order of theirs in memory once they completed', async () => {
      await round(10); // warm-up: statement caches, compiled code
      const before = retainedMb();
      await round(40);
      const grown = retainedMb() - before;
      // Retained, 40 checkouts and 40 refunds would hold 80 orders of over 200 KiB each: about 16 MB.
      expect(grown).toBeLessThan(4);
      await checkMarketInvariants(market);
    }, 120_000);
  });
}

import { createMarketplace, type Marketplace, Money } from '@marketkit/core';
import {
  checkMarketInvariants,
  ManualClock,
  SandboxPaymentProvider,
  type TestDatabase,
  testBackends,
} from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const buyer = { role: 'buyer', id: 'alice' } as const;
const seller = { role: 'seller', id: 'bob' } as const;

for (const backend of testBackends()) {
  describe(`provider-calling transitions as sagas on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    const clock = new ManualClock();
    const psp = new SandboxPaymentProvider();
    let listingId: string;

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), clock, payments: psp });
      await market.migrate();
      const listing = await market.listings.create({
        sellerId: 'bob',
        title: 'Lamp',
        price: Money.of('40.00', 'USD'),
        quantity: 20,
      });
      listingId = listing.id;
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    const paidOrder = () =>
      market.orders.checkout({ buyerId: 'alice', listingId, quantity: 1, paymentMethod: 'tok_visa' });
    /** The saga id of the transition the order is busy with, from the busy mark the order reports. */
    const busySaga = async (orderId: string) => {
      const err = await market.orders.transition(orderId, 'ship', { actor: seller }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'CONCURRENCY_CONFLICT', retryable: true });
      return (err as { details: { sagaId: string } }).details.sagaId;
    };

    it('runs a refund inline as hold → provider → commit', async () => {
      const order = await paidOrder();
      const before = psp.effects();
      const cancelled = await market.orders.transition(order.id, 'cancel', { actor: buyer });
      expect(cancelled).toMatchObject({ state: 'cancelled' });
      expect(cancelled.refunded.minor).toBe(40_00n);
      expect(psp.effects().counts.refund - before.counts.refund).toBe(1);
      await checkMarketInvariants(market);
    });

    it('compensates a declined refund: the busy mark is cleared and the order stays where it was', async () => {
      const order = await paidOrder();
      psp.injectFault('refund', 'decline');
      await expect(market.orders.transition(order.id, 'cancel', { actor: buyer })).rejects.toMatchObject({
        code: 'PAYMENT_DECLINED',
      });
      const after = await market.orders.get(order.id);
      expect(after).toMatchObject({ state: 'paid' });
      expect(after?.escrowBalance.minor).toBe(40_00n);
      // not busy any more: the seller can ship, and the buyer could have cancelled again
      expect(await market.orders.transition(order.id, 'ship', { actor: seller })).toMatchObject({ state: 'shipped' });
      await checkMarketInvariants(market);
    });

    it('keeps a refund that timed out busy, and a worker finishes it after the backoff, refunding once', async () => {
      const order = await paidOrder();
      const before = psp.effects();
      psp.injectFault('refund', 'errorAfterApply'); // the money moves, the caller sees a failure
      const err = await market.orders.transition(order.id, 'cancel', { actor: buyer }).catch((e: unknown) => e);
      expect(err).toMatchObject({ retryable: true });
      const sagaId = await busySaga(order.id);
      const saga = await market.sagas.get(sagaId);
      expect(saga).toMatchObject({ name: 'marketkit.order-transition', status: 'running', stepIndex: 1, attempts: 1 });
      expect((await market.orders.get(order.id))?.state).toBe('paid');
      clock.advance(saga!.nextRunAt! - clock.now());
      await market.worker().runOnce();
      expect(await market.sagas.get(sagaId)).toMatchObject({ status: 'completed' });
      expect((await market.sagas.history(sagaId)).map((e) => `${e.stepName}:${e.outcome}`)).toEqual([
        'hold:completed',
        'provider:retrying',
        'provider:completed',
        'commit:completed',
      ]);
      const done = await market.orders.get(order.id);
      expect(done).toMatchObject({ state: 'cancelled' });
      expect(done?.refunded.minor).toBe(40_00n);
      const effects = psp.effects();
      expect(effects.counts.refund - before.counts.refund).toBe(1);
      expect(effects.refundedMinor - before.refundedMinor).toBe(40_00n);
      await checkMarketInvariants(market);
    });

    it('refuses an actor who may not fire the transition before anything is held', async () => {
      const order = await paidOrder();
      await expect(
        market.orders.transition(order.id, 'cancel', { actor: { role: 'buyer', id: 'mallory' } }),
      ).rejects.toMatchObject({ code: 'FORBIDDEN' });
      expect(await market.orders.transition(order.id, 'cancel', { actor: buyer })).toMatchObject({
        state: 'cancelled',
      });
    });
  });
}

import { createMarketplace, type Marketplace, Money } from '@marketkit/core';
import {
  checkMarketInvariants,
  ManualClock,
  SandboxPaymentProvider,
  type TestDatabase,
  testBackends,
} from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const seller = { role: 'seller', id: 'bob' } as const;

for (const backend of testBackends()) {
  describe(`idempotency keys on orders (${backend.name})`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    const psp = new SandboxPaymentProvider();
    let listingId: string;

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), clock: new ManualClock(), payments: psp });
      await market.migrate();
      listingId = (
        await market.listings.create({ sellerId: 'bob', title: 'Lamp', price: Money.of('40', 'USD'), quantity: 10 })
      ).id;
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    it('replays a checkout by key without charging again, and refuses the key for another request', async () => {
      const req = {
        buyerId: 'alice',
        listingId,
        quantity: 2,
        paymentMethod: 'tok_visa',
        idempotencyKey: 'k-checkout-1',
      };
      const first = await market.orders.checkout(req);
      const captures = psp.effects().counts.capture;
      const again = await market.orders.checkout(req);
      expect(again).toEqual(first);
      expect(psp.effects().counts.capture).toBe(captures);
      await expect(market.orders.checkout({ ...req, quantity: 3 })).rejects.toMatchObject({
        code: 'IDEMPOTENCY_KEY_REUSED',
      });
      expect((await market.listings.get(listingId))?.sold).toBe(2);
    });

    it('replays a declined checkout as the same error without calling the provider', async () => {
      const req = {
        buyerId: 'alice',
        listingId,
        quantity: 1,
        paymentMethod: 'tok_decline',
        idempotencyKey: 'k-declined',
      };
      await expect(market.orders.checkout(req)).rejects.toMatchObject({ code: 'PAYMENT_DECLINED' });
      const calls = psp.effects().calls.authorize;
      await expect(market.orders.checkout(req)).rejects.toMatchObject({ code: 'PAYMENT_DECLINED' });
      expect(psp.effects().calls.authorize).toBe(calls);
    });

    it('replays a transition with the response of the first call, even after the order moved on', async () => {
      const order = await market.orders.checkout({
        buyerId: 'alice',
        listingId,
        quantity: 1,
        paymentMethod: 'tok_visa',
      });
      const shipped = await market.orders.transition(order.id, 'ship', { actor: seller, idempotencyKey: 'k-ship' });
      await market.orders.transition(order.id, 'deliver', { actor: seller });
      const replay = await market.orders.transition(order.id, 'ship', { actor: seller, idempotencyKey: 'k-ship' });
      expect(replay).toEqual(shipped);
      expect(replay.state).toBe('shipped');
      expect((await market.orders.get(order.id))?.state).toBe('delivered');
      expect((await market.orders.history(order.id)).filter((e) => e.transition === 'ship')).toHaveLength(1);
    });

    it('refunds once when a partial refund is retried with its key', async () => {
      const order = await market.orders.checkout({
        buyerId: 'alice',
        listingId,
        quantity: 1,
        paymentMethod: 'tok_visa',
      });
      const refunded = psp.effects().refundedMinor;
      const call = () =>
        market.orders.transition(order.id, 'refundPartial', {
          actor: seller,
          amountMinor: 5_00n,
          idempotencyKey: 'k-refund',
        });
      const [a, b] = [await call(), await call()];
      expect(b).toEqual(a);
      expect(psp.effects().refundedMinor - refunded).toBe(5_00n);
      await checkMarketInvariants(market);
    });
  });
}

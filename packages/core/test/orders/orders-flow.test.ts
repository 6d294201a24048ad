import { createMarketplace, type Marketplace, Money, type Order } from '@marketkit/core';
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
const operator = { role: 'operator', id: 'ops-1' } as const;

for (const backend of testBackends()) {
  describe(`orders on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    const clock = new ManualClock();
    const psp = new SandboxPaymentProvider();
    let listingId: string;

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({
        adapter: database.adapter(),
        clock,
        payments: psp,
        commission: { kind: 'percentage', percent: '12.5', minimumMinor: 100n },
      });
      await market.migrate();
      listingId = (
        await market.listings.create({ sellerId: 'bob', title: 'Lamp', price: Money.of('40.00', 'USD'), quantity: 20 })
      ).id;
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    const checkout = (quantity = 1, paymentMethod = 'tok_visa') =>
      market.orders.checkout({ buyerId: 'alice', listingId, quantity, paymentMethod });

    it('runs checkout → paid → shipped → delivered → completed and releases escrow minus commission', async () => {
      const order = await checkout(3);
      expect(order).toMatchObject({ state: 'paid', sellerId: 'bob' });
      expect(order.escrowBalance.minor).toBe(120_00n);
      await market.orders.transition(order.id, 'ship', { actor: seller });
      await market.orders.transition(order.id, 'deliver', { actor: seller });
      const done = await market.orders.transition(order.id, 'confirm', { actor: buyer });
      expect(done).toMatchObject({ state: 'completed' });
      expect(done.escrowBalance.isZero()).toBe(true);
      expect(done.commission.minor).toBe(15_00n);
      const history = await market.orders.history(order.id);
      expect(history.map((e) => `${e.from}->${e.to}:${e.actor.role}`)).toEqual([
        'null->checkout:buyer',
        'checkout->paid:system',
        'paid->shipped:seller',
        'shipped->delivered:seller',
        'delivered->completed:buyer',
      ]);
      await checkMarketInvariants(market);
    });

    it('cancels before shipping with a full refund and the stock back', async () => {
      const before = await market.listings.get(listingId);
      const order = await checkout(2);
      const cancelled = await market.orders.transition(order.id, 'cancel', { actor: buyer, reason: 'changed my mind' });
      expect(cancelled).toMatchObject({ state: 'cancelled' });
      expect(cancelled.refunded.minor).toBe(80_00n);
      expect((await market.listings.get(listingId))?.available).toBe(before?.available);
      await checkMarketInvariants(market);
    });

    it('cancels a declined checkout and releases its stock', async () => {
      const before = await market.listings.get(listingId);
      await expect(checkout(1, 'tok_decline')).rejects.toMatchObject({ code: 'PAYMENT_DECLINED' });
      expect((await market.listings.get(listingId))?.available).toBe(before?.available);
      await checkMarketInvariants(market);
    });

    it('freezes escrow in a dispute and splits it on resolution', async () => {
      const order = await checkout(1);
      await market.orders.transition(order.id, 'ship', { actor: seller });
      await market.orders.transition(order.id, 'openDispute', { actor: buyer, reason: 'arrived broken' });
      await expect(market.orders.transition(order.id, 'confirm', { actor: buyer })).rejects.toMatchObject({
        code: 'INVALID_TRANSITION',
      });
      const split = await market.orders.transition(order.id, 'resolveSplit', { actor: operator, buyerPercent: 25 });
      expect(split).toMatchObject({ state: 'split' });
      expect(split.refunded.minor).toBe(10_00n);
      expect(split.escrowBalance.isZero()).toBe(true);
      await checkMarketInvariants(market);
    });

    it('refunds in parts, then releases what is left', async () => {
      const order = await checkout(1);
      await market.orders.transition(order.id, 'refundPartial', { actor: seller, amountMinor: 5_00n });
      await market.orders.transition(order.id, 'refundPartial', { actor: operator, amountMinor: 2_50n });
      await expect(
        market.orders.transition(order.id, 'refundPartial', { actor: seller, amountMinor: 40_00n }),
      ).rejects.toMatchObject({ code: 'INSUFFICIENT_FUNDS' });
      await market.orders.transition(order.id, 'ship', { actor: seller });
      await market.orders.transition(order.id, 'deliver', { actor: buyer });
      const done = await market.orders.transition(order.id, 'confirm', { actor: buyer });
      expect(done.refunded.minor).toBe(7_50n);
      expect(done.escrowBalance.isZero()).toBe(true);
      expect(psp.effects().refundedMinor).toBeGreaterThanOrEqual(7_50n);
      await checkMarketInvariants(market);
    });

    it('auto-completes three days after delivery and auto-cancels unpaid orders on the timer', async () => {
      const order = await checkout(1);
      await market.orders.transition(order.id, 'ship', { actor: seller });
      await market.orders.transition(order.id, 'deliver', { actor: seller });
      clock.advance(72 * 3600 * 1000 + 1);
      expect(await market.orders.fireDueTransitions()).toBeGreaterThanOrEqual(1);
      expect((await market.orders.get(order.id))?.state).toBe('completed');
      await checkMarketInvariants(market);
    });

    it('lets a worker finish a checkout the provider interrupted, charging once', async () => {
      psp.injectFault('capture', 'errorAfterApply');
      const orderId = `resume-${backend.name}`;
      await expect(
        market.orders.checkout({ orderId, buyerId: 'alice', listingId, quantity: 1, paymentMethod: 'tok_visa' }),
      ).rejects.toMatchObject({ code: 'PROVIDER_TIMEOUT' });
      expect((await market.orders.get(orderId))?.state).toBe('checkout');
      const captures = psp.effects().counts.capture;
      clock.advance(61_000);
      await market.worker().runOnce();
      expect((await market.orders.get(orderId))?.state).toBe('paid');
      expect(psp.effects().counts.capture).toBe(captures);
      await checkMarketInvariants(market);
    });

    it('refuses actors who are not parties or whose role may not fire, and changes nothing', async () => {
      const order = await checkout(1);
      const stranger = { role: 'buyer', id: 'mallory' } as const;
      await expect(market.orders.transition(order.id, 'ship', { actor: buyer })).rejects.toMatchObject({
        code: 'FORBIDDEN',
      });
      await expect(market.orders.transition(order.id, 'cancel', { actor: stranger })).rejects.toMatchObject({
        code: 'FORBIDDEN',
      });
      const after: Order | undefined = await market.orders.get(order.id);
      expect(after).toMatchObject({ state: 'paid', version: order.version });
      expect(await market.orders.history(order.id)).toHaveLength(2);
    });
  });
}

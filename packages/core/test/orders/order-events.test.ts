import { createMarketplace, type Marketplace, Money } from '@marketkit/core';
import { ManualClock, SandboxPaymentProvider, type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

for (const backend of testBackends()) {
  describe(`domain events on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({
        adapter: database.adapter(),
        clock: new ManualClock(),
        payments: new SandboxPaymentProvider(),
      });
      await market.migrate();
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    it('delivers order transitions, ledger transfers and payouts to listeners after commit, in order per order', async () => {
      const seen: { type: string; aggregateId: string; payload: Record<string, unknown> }[] = [];
      market.events.onAny((e) => {
        seen.push({ type: e.type, aggregateId: e.aggregateId, payload: e.payload as Record<string, unknown> });
      });
      const listing = await market.listings.create({
        sellerId: 'bob',
        title: 'Lamp',
        price: Money.of('40', 'USD'),
        quantity: 2,
      });
      const order = await market.orders.checkout({
        buyerId: 'alice',
        listingId: listing.id,
        quantity: 1,
        paymentMethod: 'tok_visa',
      });
      expect(seen).toHaveLength(0);
      await market.orders.transition(order.id, 'ship', { actor: { role: 'seller', id: 'bob' } });
      await market.orders.transition(order.id, 'deliver', { actor: { role: 'seller', id: 'bob' } });
      await market.orders.transition(order.id, 'confirm', { actor: { role: 'buyer', id: 'alice' } });
      await market.payouts.request({
        payoutId: 'po-1',
        sellerId: 'bob',
        currency: 'USD',
        amountMinor: 10_00n,
        destination: 'ba_1',
      });
      while ((await market.events.relay.runOnce()) > 0) {}
      const orderEvents = seen.filter((e) => e.aggregateId === order.id).map((e) => e.type);
      expect(orderEvents).toEqual([
        'order.checkout',
        'order.confirmPayment',
        'order.ship',
        'order.deliver',
        'order.confirm',
      ]);
      const transfers = seen.filter((e) => e.type === 'transfer.created').map((e) => e.payload['id']);
      expect(transfers).toEqual(expect.arrayContaining([`${order.id}:capture`, 'po-1:hold', 'po-1:post']));
      expect(seen.filter((e) => e.type.startsWith('payout.')).map((e) => e.type)).toEqual([
        'payout.requested',
        'payout.paid',
      ]);
      const capture = seen.find((e) => e.payload['id'] === `${order.id}:capture`);
      expect(capture?.payload['amount']).toBe('4000');
    });
  });
}

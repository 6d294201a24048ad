import { stripePaymentProvider } from '@marketkit/adapters/stripe';
import { createMarketplace, type Marketplace, Money } from '@marketkit/core';
import { checkMarketInvariants, ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import { type StripeTestServer, startStripeTestServer } from '@marketkit/testing/stripe-server';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const buyer = { role: 'buyer', id: 'alice' } as const;
const seller = { role: 'seller', id: 'bob' } as const;

for (const backend of testBackends()) {
  describe(`Connect payouts to the seller's stored account on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    let server: StripeTestServer;
    const clock = new ManualClock();

    beforeAll(async () => {
      server = await startStripeTestServer({ now: () => clock.now() });
      const stripe = new Stripe('sk_test_marketkit', server.clientConfig);
      database = await backend.createDatabase();
      // No `accountFor`: the destination is the connected account id itself.
      market = createMarketplace({
        adapter: database.adapter(),
        clock,
        payments: stripePaymentProvider({ stripe }),
        commission: { kind: 'percentage', percent: '10', minimumMinor: 0n },
      });
      await market.migrate();
      const listing = await market.listings.create({
        sellerId: 'bob',
        title: 'Lamp',
        price: Money.of('40.00', 'USD'),
        quantity: 10,
      });
      const order = await market.orders.checkout({
        buyerId: 'alice',
        listingId: listing.id,
        quantity: 2,
        paymentMethod: 'pm_card_visa',
      });
      await market.orders.transition(order.id, 'ship', { actor: seller });
      await market.orders.transition(order.id, 'deliver', { actor: seller });
      await market.orders.transition(order.id, 'confirm', { actor: buyer });
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
      await server?.close();
    });

    it('stores the seller’s acct_… once and transfers two payouts without destination to it', async () => {
      await expect(
        market.payouts.request({ payoutId: 'po-none', sellerId: 'bob', currency: 'USD', amountMinor: 10_00n }),
      ).rejects.toMatchObject({ code: 'PAYOUT_DESTINATION_MISSING', details: { sellerId: 'bob' } });
      expect(server.state.transfers.size).toBe(0);

      await market.payouts.setDestination({ sellerId: 'bob', destination: 'acct_1Bob' });
      const first = await market.payouts.request({
        payoutId: 'po-1',
        sellerId: 'bob',
        currency: 'USD',
        amountMinor: 30_00n,
      });
      const second = await market.payouts.request({
        payoutId: 'po-2',
        sellerId: 'bob',
        currency: 'USD',
        amountMinor: 42_00n,
      });
      expect([first, second].map((p) => [p.status, p.destination])).toEqual([
        ['paid', 'acct_1Bob'],
        ['paid', 'acct_1Bob'],
      ]);
      const transfers = [...server.state.transfers.values()].map((t) => ({
        amount: t.amount,
        destination: t.destination,
        group: t.transfer_group,
      }));
      expect(transfers).toEqual([
        { amount: 3000, destination: 'acct_1Bob', group: 'po-1' },
        { amount: 4200, destination: 'acct_1Bob', group: 'po-2' },
      ]);
      await checkMarketInvariants(market);
    });
  });
}

import { stripePaymentProvider } from '@marketkit/adapters/stripe';
import { createMarketplace, escrowAccounts, type Marketplace, Money } from '@marketkit/core';
import { checkMarketInvariants, ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import { type StripeTestServer, startStripeTestServer } from '@marketkit/testing/stripe-server';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const buyer = { role: 'buyer', id: 'alice' } as const;
const seller = { role: 'seller', id: 'bob' } as const;

for (const backend of testBackends()) {
  describe(`checkout with the Stripe provider on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    let server: StripeTestServer;
    let listingId: string;
    let paidOrderId = '';
    const clock = new ManualClock();
    const start = clock.now();

    beforeAll(async () => {
      server = await startStripeTestServer({ now: () => clock.now() });
      const stripe = new Stripe('sk_test_marketkit', server.clientConfig);
      database = await backend.createDatabase();
      market = createMarketplace({
        adapter: database.adapter(),
        clock,
        payments: stripePaymentProvider({ stripe, accountFor: (destination) => `acct_${destination}` }),
        commission: { kind: 'percentage', percent: '10', minimumMinor: 0n },
      });
      await market.migrate();
      listingId = (
        await market.listings.create({ sellerId: 'bob', title: 'Lamp', price: Money.of('40.00', 'USD'), quantity: 10 })
      ).id;
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
      await server?.close();
    });

    const checkout = (quantity: number, paymentMethod = 'pm_card_visa') =>
      market.orders.checkout({ buyerId: 'alice', listingId, quantity, paymentMethod });

    it('captures a checkout to escrow through a PaymentIntent', async () => {
      const order = await checkout(2);
      expect(order).toMatchObject({ state: 'paid' });
      expect(order.escrowBalance.minor).toBe(80_00n);
      paidOrderId = order.id;
      const intents = [...server.state.intents.values()];
      expect(intents).toHaveLength(1);
      expect(intents[0]).toMatchObject({
        status: 'succeeded',
        amount: 8000,
        amount_received: 8000,
        metadata: { marketkit_key: `${order.id}:authorize`, marketkit_capture_key: `${order.id}:capture` },
      });
      await checkMarketInvariants(market);
    });

    it('refunds a cancelled order through a Stripe Refund of its PaymentIntent', async () => {
      const order = await checkout(1);
      const cancelled = await market.orders.transition(order.id, 'cancel', { actor: buyer, reason: 'changed my mind' });
      expect(cancelled).toMatchObject({ state: 'cancelled' });
      expect(cancelled.refunded.minor).toBe(40_00n);
      const refunds = [...server.state.refunds.values()];
      expect(refunds).toHaveLength(1);
      expect(refunds[0]).toMatchObject({ amount: 4000, currency: 'usd', status: 'succeeded' });
      expect(server.state.intents.get(refunds[0]?.payment_intent ?? '')?.metadata['marketkit_reference']).toBe(
        order.id,
      );
      await checkMarketInvariants(market);
    });

    it('declines a checkout whose card Stripe declines and gives the stock back', async () => {
      const before = (await market.listings.get(listingId))?.available;
      await expect(checkout(1, 'pm_card_chargeDeclined')).rejects.toMatchObject({ code: 'PAYMENT_DECLINED' });
      expect((await market.listings.get(listingId))?.available).toBe(before);
      await checkMarketInvariants(market);
    });

    it('pays the seller out with a Connect transfer once the order completes', async () => {
      await market.orders.transition(paidOrderId, 'ship', { actor: seller });
      await market.orders.transition(paidOrderId, 'deliver', { actor: seller });
      await market.orders.transition(paidOrderId, 'confirm', { actor: buyer });
      const account = await market.ledger.getAccount(escrowAccounts.seller('bob', 'USD'));
      expect(account?.creditsPosted).toBe(72_00n);
      const payout = await market.payouts.request({
        payoutId: `po-${backend.name}`,
        sellerId: 'bob',
        currency: 'USD',
        amountMinor: 72_00n,
        destination: 'bob',
      });
      expect(payout.status).toBe('paid');
      const transfers = [...server.state.transfers.values()];
      expect(transfers).toHaveLength(1);
      expect(transfers[0]).toMatchObject({
        amount: 7200,
        currency: 'usd',
        destination: 'acct_bob',
        transfer_group: `po-${backend.name}`,
      });
      await checkMarketInvariants(market);
    });

    it('lets a worker finish a checkout whose capture went through but never answered, capturing once', async () => {
      const before = server.executed('payment_intents.capture');
      server.injectFault('payment_intents.capture', 'dropTwiceAfterApply');
      const orderId = `resume-${backend.name}`;
      await expect(
        market.orders.checkout({ orderId, buyerId: 'alice', listingId, quantity: 1, paymentMethod: 'pm_card_visa' }),
      ).rejects.toMatchObject({ code: 'PROVIDER_TIMEOUT' });
      expect((await market.orders.get(orderId))?.state).toBe('checkout');
      const captures = server.executed('payment_intents.capture');
      expect(captures).toBe(before + 1);
      clock.advance(61_000);
      await market.worker().runOnce();
      expect((await market.orders.get(orderId))?.state).toBe('paid');
      expect(server.executed('payment_intents.capture')).toBe(captures);
      await checkMarketInvariants(market);
    });

    it('reconciles the ledger against what Stripe lists: no discrepancy', async () => {
      const report = await market.payments.reconcile({ from: start, to: clock.now() + 1000 });
      expect(report.discrepancies).toEqual([]);
      expect(report.checked).toMatchObject({ captures: 3, refunds: 1, payouts: 1 });
    });
  });
}

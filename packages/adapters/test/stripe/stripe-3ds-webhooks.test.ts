/**
 * 3-D Secure through Stripe end to end: the checkout answers (over HTTP too) with the order awaiting the customer and
 * the PaymentIntent's client secret; the customer completes or fails the action at the local Stripe server, which
 * sends its signed webhooks to the Express router over a real HTTP server; the handler wakes the checkout, which asks
 * Stripe for the truth. Deliveries twice, late, out of order, dropped or forged change nothing but when it happens.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { stripePaymentProvider, stripeWebhookHandler } from '@marketkit/adapters/stripe';
import { type Actor, createMarketplace, type Marketplace, Money, type Order } from '@marketkit/core';
import { marketkitRouter } from '@marketkit/express';
import { checkMarketInvariants, ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import {
  type StripeTestServer,
  type StripeWebhookDelivery,
  startStripeTestServer,
  stripeSignatureHeader,
} from '@marketkit/testing/stripe-server';
import express from 'express';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const SECRET = 'whsec_marketkit_test_endpoint';
const THREE_DS = 'pm_card_threeDSecure2Required';
const CAPTURABLE = 'payment_intent.amount_capturable_updated';
const CUSTOMER_MS = 30 * 60 * 1000;

/** Test authentication: `Authorization: Test buyer:alice`. */
const authenticate = (req: express.Request): Actor | undefined => {
  const m = /^Test (buyer|seller|operator):(\S+)$/.exec(req.get('authorization') ?? '');
  return m === null ? undefined : { role: m[1] as Actor['role'], id: m[2] as string };
};

for (const backend of testBackends()) {
  describe(`3-D Secure checkout with Stripe webhooks on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    let stripeServer: StripeTestServer;
    let http: Server;
    let api = '';
    let listingId = '';
    const clock = new ManualClock();
    let n = 0;

    beforeAll(async () => {
      stripeServer = await startStripeTestServer({ now: () => clock.now() });
      const stripe = new Stripe('sk_test_marketkit', stripeServer.clientConfig);
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), clock, payments: stripePaymentProvider({ stripe }) });
      await market.migrate();
      const app = express();
      const hooks = stripeWebhookHandler({ market, stripe, endpointSecret: SECRET });
      app.use('/api', marketkitRouter(market, { authenticate, providerWebhooks: { stripe: hooks } }));
      http = createServer(app);
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      api = `http://127.0.0.1:${(http.address() as AddressInfo).port}/api`;
      stripeServer.setWebhookEndpoint({ url: `${api}/v1/webhooks/stripe`, secret: SECRET });
      listingId = (
        await market.listings.create({ sellerId: 'bob', title: 'Lamp', price: Money.of('40.00', 'USD'), quantity: 50 })
      ).id;
    });
    afterAll(async () => {
      await stripeServer?.webhooksSettled();
      await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
      await market?.close();
      await database?.drop();
      await stripeServer?.close();
    });

    const checkout3ds = async (): Promise<Order> => {
      const order = await market.orders.checkout({
        orderId: `ord-3ds-${backend.name}-${++n}`,
        buyerId: 'alice',
        listingId,
        quantity: 2,
        paymentMethod: THREE_DS,
      });
      expect(order).toMatchObject({ state: 'awaitingCustomer', captureId: null });
      return order;
    };
    const captures = () => stripeServer.executed('payment_intents.capture');
    const intent = (order: Order) => stripeServer.state.intents.get(order.authorizationId ?? '');
    const stock = async () => {
      const l = await market.listings.get(listingId);
      return { reserved: l?.reserved, sold: l?.sold };
    };
    const deliveriesOf = (order: Order): StripeWebhookDelivery[] =>
      stripeServer.webhookDeliveries().filter((d) => {
        const e = stripeServer.events().find((x) => x.id === d.eventId);
        return (e?.data.object as { id?: string } | undefined)?.id === order.authorizationId;
      });
    const receipt = (d: StripeWebhookDelivery | undefined) =>
      JSON.parse(d?.response ?? 'null') as Record<string, unknown>;
    const expectPaid = async (order: Order) => {
      const paid = await market.orders.get(order.id);
      expect(paid).toMatchObject({ state: 'paid', escrowBalance: Money.of('80.00', 'USD') });
      expect(intent(order)).toMatchObject({ status: 'succeeded', amount_received: 8000 });
      await checkMarketInvariants(market);
    };

    it('over HTTP: the checkout answers awaitingCustomer with the client secret; the webhook of the completed action pays it', async () => {
      const res = await fetch(`${api}/v1/checkouts`, {
        method: 'POST',
        headers: { authorization: 'Test buyer:alice', 'content-type': 'application/json', 'idempotency-key': 'k-http' },
        body: JSON.stringify({ listingId, quantity: 2, paymentMethod: THREE_DS }),
      });
      expect(res.status).toBe(201);
      const order = (await res.json()) as Order;
      expect(order.state).toBe('awaitingCustomer');
      const pi = intent(order);
      expect(pi).toMatchObject({ status: 'requires_action', metadata: { marketkit_reference: order.id } });
      expect(order.customerAction).toEqual({ clientSecret: pi?.client_secret });
      const read = await fetch(`${api}/v1/orders/${order.id}`, { headers: { authorization: 'Test buyer:alice' } });
      expect(((await read.json()) as Order).customerAction?.clientSecret).toBe(pi?.client_secret);
      expect(await stock()).toMatchObject({ reserved: 2 });

      const before = captures();
      stripeServer.completeThreeDSecure(order.authorizationId ?? '', 'succeeded');
      await stripeServer.webhooksSettled();
      await expectPaid(order);
      expect(captures()).toBe(before + 1);
      const capturable = deliveriesOf(order).find((d) => d.type === CAPTURABLE);
      expect(capturable?.status).toBe(200);
      expect(receipt(capturable)).toMatchObject({
        received: true,
        handled: true,
        duplicate: false,
        orderState: 'paid',
      });
      // The other events of the PaymentIntent were answered too: requires_action ignored, succeeded (the capture) a no-op.
      const types = deliveriesOf(order).map((d) => [d.type, d.status, receipt(d)['handled']]);
      expect(types).toEqual(
        expect.arrayContaining([
          ['payment_intent.requires_action', 200, false],
          ['payment_intent.succeeded', 200, true],
        ]),
      );
      expect(await stock()).toMatchObject({ reserved: 0 });
    });

    it('a webhook delivered twice captures once; the second is a duplicate', async () => {
      const order = await checkout3ds();
      const before = captures();
      stripeServer.injectWebhookFault('twice', { type: CAPTURABLE });
      stripeServer.completeThreeDSecure(order.authorizationId ?? '', 'succeeded');
      await stripeServer.webhooksSettled();
      const twice = deliveriesOf(order).filter((d) => d.type === CAPTURABLE);
      expect(twice.map((d) => [d.status, receipt(d)['duplicate']])).toEqual([
        [200, false],
        [200, true],
      ]);
      expect(captures()).toBe(before + 1);
      await expectPaid(order);
    });

    it('a late webhook, after the saga’s own polling paid the order, changes nothing', async () => {
      const order = await checkout3ds();
      const before = captures();
      stripeServer.injectWebhookFault({ delayMs: 1500 }, { type: CAPTURABLE });
      stripeServer.completeThreeDSecure(order.authorizationId ?? '', 'succeeded');
      clock.advance(6_000);
      await market.worker().runOnce();
      await expectPaid(order);
      await stripeServer.webhooksSettled();
      const late = deliveriesOf(order).find((d) => d.type === CAPTURABLE);
      expect(late?.status).toBe(200);
      expect(receipt(late)).toMatchObject({ handled: true, duplicate: false, orderState: 'paid' });
      expect(captures()).toBe(before + 1);
      await expectPaid(order);
    });

    it('out of order: a payment_failed arriving after the amount_capturable_updated it preceded leaves the order paid', async () => {
      const order = await checkout3ds();
      const before = captures();
      // The customer fails the first attempt, then pays with another card on the same PaymentIntent (Stripe.js);
      // the failure's webhook is held back and delivered last.
      stripeServer.injectWebhookFault('hold', { type: 'payment_intent.payment_failed' });
      stripeServer.completeThreeDSecure(order.authorizationId ?? '', 'failed');
      const stripe = new Stripe('sk_test_marketkit', stripeServer.clientConfig);
      await stripe.paymentIntents.confirm(order.authorizationId ?? '', { payment_method: 'pm_card_visa' });
      await stripeServer.webhooksSettled();
      await expectPaid(order);
      const [failed] = await stripeServer.releaseHeldWebhooks();
      expect(failed).toMatchObject({ type: 'payment_intent.payment_failed', status: 200 });
      expect(receipt(failed)).toMatchObject({ handled: true, duplicate: false, orderState: 'paid' });
      expect(captures()).toBe(before + 1);
      await expectPaid(order);
    });

    it('old events after new: held and resent events, newest first, after the order was paid change nothing', async () => {
      const order = await checkout3ds();
      const before = captures();
      stripeServer.injectWebhookFault('hold', { type: CAPTURABLE });
      stripeServer.completeThreeDSecure(order.authorizationId ?? '', 'succeeded');
      clock.advance(6_000);
      await market.worker().runOnce(); // the saga's polling pays it; payment_intent.succeeded goes out
      await stripeServer.webhooksSettled();
      await expectPaid(order);
      const released = await stripeServer.releaseHeldWebhooks('reversed');
      expect(released.map((d) => [d.type, d.status, receipt(d)['orderState']])).toEqual([[CAPTURABLE, 200, 'paid']]);
      const succeeded = stripeServer
        .events()
        .find(
          (e) =>
            e.type === 'payment_intent.succeeded' && (e.data.object as { id: string }).id === order.authorizationId,
        );
      const again = await stripeServer.redeliverWebhook(succeeded?.id ?? '');
      expect(receipt(again)).toMatchObject({ handled: true, duplicate: true });
      expect(captures()).toBe(before + 1);
      await expectPaid(order);
    });

    it('a failed action cancels the order: hold canceled at Stripe, stock released, nothing captured', async () => {
      const order = await checkout3ds();
      const before = captures();
      const stockBefore = await stock();
      stripeServer.completeThreeDSecure(order.authorizationId ?? '', 'failed');
      await stripeServer.webhooksSettled();
      const failed = deliveriesOf(order).find((d) => d.type === 'payment_intent.payment_failed');
      expect(receipt(failed)).toMatchObject({ handled: true, orderState: 'cancelled' });
      expect(await market.orders.get(order.id)).toMatchObject({ state: 'cancelled', captureId: null });
      expect(intent(order)?.status).toBe('canceled');
      expect(await stock()).toEqual({ reserved: (stockBefore.reserved ?? 0) - 2, sold: stockBefore.sold });
      expect(captures()).toBe(before);
      expect((await market.sagas.get(`checkout:${order.id}`))?.status).toBe('compensated');
      await checkMarketInvariants(market);
    });

    it('no webhook at all (dropped): the saga’s polling completes the order', async () => {
      const order = await checkout3ds();
      const before = captures();
      stripeServer.injectWebhookFault('drop', { type: CAPTURABLE });
      stripeServer.completeThreeDSecure(order.authorizationId ?? '', 'succeeded');
      await stripeServer.webhooksSettled();
      expect(deliveriesOf(order).find((d) => d.type === CAPTURABLE)?.status).toBeNull();
      expect((await market.orders.get(order.id))?.state).toBe('awaitingCustomer');
      clock.advance(6_000);
      await market.worker().runOnce();
      await expectPaid(order);
      expect(captures()).toBe(before + 1);
    });

    it('a bad, missing or stale signature answers 400 WEBHOOK_SIGNATURE_INVALID and changes nothing', async () => {
      const order = await checkout3ds();
      stripeServer.injectWebhookFault('hold', { type: CAPTURABLE });
      stripeServer.completeThreeDSecure(order.authorizationId ?? '', 'succeeded');
      const event = stripeServer
        .events()
        .find((e) => e.type === CAPTURABLE && (e.data.object as { id: string }).id === order.authorizationId);
      const body = JSON.stringify(event);
      const post = (signature: string | undefined) =>
        fetch(`${api}/v1/webhooks/stripe`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(signature === undefined ? {} : { 'stripe-signature': signature }),
          },
          body,
        });
      const forged = [
        stripeSignatureHeader(body, 'whsec_not_the_endpoint_secret'),
        undefined,
        stripeSignatureHeader(body, SECRET, Math.floor(Date.now() / 1000) - 3600),
        stripeSignatureHeader(`${body} `, SECRET),
        'garbage',
      ];
      for (const signature of forged) {
        const res = await post(signature);
        expect(res.status, String(signature)).toBe(400);
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(await res.json()).toMatchObject({
          code: 'WEBHOOK_SIGNATURE_INVALID',
          details: { provider: 'stripe', reason: expect.any(String) },
        });
      }
      expect((await market.orders.get(order.id))?.state).toBe('awaitingCustomer');
      // The refused deliveries recorded nothing: the genuine one is no duplicate, and pays the order.
      const [genuine] = await stripeServer.releaseHeldWebhooks();
      expect(receipt(genuine)).toMatchObject({ handled: true, duplicate: false, orderState: 'paid' });
      await stripeServer.webhooksSettled();
      await expectPaid(order);
    });

    it('many orders at once, each webhook dropped, doubled, held or late: every order paid, one capture each', async () => {
      const faults = ['drop', 'twice', 'hold', { delayMs: 100 }, undefined] as const;
      const before = captures();
      const orders = await Promise.all(Array.from({ length: 10 }, () => checkout3ds()));
      for (const [i, order] of orders.entries()) {
        const fault = faults[i % faults.length];
        if (fault !== undefined) stripeServer.injectWebhookFault(fault, { type: CAPTURABLE });
        stripeServer.completeThreeDSecure(order.authorizationId ?? '', 'succeeded');
      }
      await stripeServer.webhooksSettled();
      await stripeServer.releaseHeldWebhooks('reversed');
      await stripeServer.webhooksSettled();
      clock.advance(6_000);
      await market.worker().runOnce(); // the dropped ones: the saga's polling
      for (const order of orders) await expectPaid(order);
      expect(captures()).toBe(before + orders.length);
      const duplicates = stripeServer.webhookDeliveries().filter((d) => d.status === 200 && receipt(d)['duplicate']);
      expect(duplicates.length).toBeGreaterThanOrEqual(2);
    });

    it('times out: cancelled, hold canceled, stock released; the customer acting afterwards captures nothing', async () => {
      const order = await checkout3ds();
      const before = captures();
      clock.advance(CUSTOMER_MS + 1);
      await market.worker().runOnce();
      await market.orders.fireDueTransitions();
      await market.worker().runOnce();
      await stripeServer.webhooksSettled();
      expect(await market.orders.get(order.id)).toMatchObject({ state: 'cancelled', captureId: null });
      expect(intent(order)?.status).toBe('canceled');
      expect(stripeServer.completeThreeDSecure(order.authorizationId ?? '', 'succeeded').status).toBe('canceled');
      await stripeServer.webhooksSettled();
      expect(captures()).toBe(before);
      expect(await stock()).toMatchObject({ reserved: 0 });
      await checkMarketInvariants(market);
    });
  });
}

/**
 * `marketkit_webhook_deliveries_total`: every attempt the dispatcher makes is counted once, by its outcome, as the
 * receiver saw it.
 */
import { createMarketplace, type Marketplace, Money, silentLogger } from '@marketkit/core';
import { ManualClock, SandboxPaymentProvider, type TestDatabase, testBackends } from '@marketkit/testing';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drain, TestReceiver } from '../webhooks/webhook-fixture.js';

for (const backend of testBackends()) {
  describe(`webhook delivery metric on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    let receiver: TestReceiver & { url: string };
    const registry = new Registry();
    const clock = new ManualClock();

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({
        adapter: database.adapter(),
        clock,
        payments: new SandboxPaymentProvider(),
        webhooks: { allowPrivateTargets: true, timeoutMs: 2_000 },
        metrics: { registry },
        logger: silentLogger,
      });
      await market.migrate();
      receiver = await TestReceiver.start(clock);
      await market.webhooks.create({ url: receiver.url, eventTypes: ['order.*'] });
    });
    afterAll(async () => {
      await receiver?.close();
      await market?.close();
      await database?.drop();
    });

    const counted = async (): Promise<Record<string, number>> => {
      const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === 'marketkit_webhook_deliveries_total');
      const values = (metric?.values ?? []) as { value: number; labels: Record<string, string | number> }[];
      return Object.fromEntries(values.map((v) => [String(v.labels['outcome']), v.value]));
    };
    const checkout = async (n: number) => {
      const listing = await market.listings.create({
        sellerId: 'bob',
        title: `Lamp ${n}`,
        price: Money.of('10.00', 'USD'),
        quantity: 1,
      });
      await market.orders.checkout({ buyerId: 'alice', listingId: listing.id, quantity: 1, paymentMethod: 'tok_visa' });
    };

    it('counts each delivered attempt and each failed one, as many as the receiver answered', async () => {
      await checkout(1);
      await drain(market);
      const delivered = receiver.received.filter((r) => r.status === 204).length;
      expect(delivered).toBeGreaterThan(0);
      expect(await counted()).toEqual({ delivered });

      receiver.mode = 'fail';
      await checkout(2);
      await drain(market);
      const failed = receiver.received.filter((r) => r.status === 500).length;
      expect(failed).toBeGreaterThan(0);
      expect(await counted()).toEqual({ delivered, failed });
    });
  });
}

/**
 * `GET /metrics` when the router is given the marketplace's registry: Prometheus's text format with the `marketkit_*`
 * metrics, for an operator only (401 without an actor, 403 for any other role), and absent when not asked for.
 */
import { createMarketplace, type Marketplace, Money, silentLogger } from '@marketkit/core';
import { marketkitRouter } from '@marketkit/express';
import { SandboxPaymentProvider, type TestDatabase, testBackends } from '@marketkit/testing';
import express from 'express';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROLES: Record<string, { role: 'buyer' | 'seller' | 'operator'; id: string }> = {
  'Bearer operator': { role: 'operator', id: 'ops' },
  'Bearer buyer': { role: 'buyer', id: 'alice' },
};

for (const backend of testBackends()) {
  describe(`GET /metrics on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    const registry = new Registry();
    let app: express.Express;

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({
        adapter: database.adapter(),
        payments: new SandboxPaymentProvider(),
        logger: silentLogger,
        metrics: { registry },
      });
      await market.migrate();
      app = express();
      const authenticate = (req: express.Request) => ROLES[req.get('authorization') ?? ''];
      app.use('/api', marketkitRouter(market, { authenticate, metrics: { registry } }));
      app.use('/plain', marketkitRouter(market, { authenticate }));
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    it('serves the registry to an operator, with the checkout it counted and the outbox it read', async () => {
      const listing = await market.listings.create({
        sellerId: 'bob',
        title: 'Lamp',
        price: Money.of('5.00', 'USD'),
        quantity: 2,
      });
      const order = await market.orders.checkout({
        buyerId: 'alice',
        listingId: listing.id,
        quantity: 1,
        paymentMethod: 'tok_visa',
      });
      const res = await request(app).get('/api/metrics').set('authorization', 'Bearer operator');
      expect(res.status).toBe(200);
      expect(res.get('content-type')).toContain('text/plain');
      expect(res.text).toContain(`marketkit_checkouts_total{tenant="",outcome="${order.state}"} 1`);
      expect(res.text).toMatch(/marketkit_outbox_backlog\{tenant=""\} [1-9]/);
    });

    it('refuses anyone but an operator, and is absent unless asked for', async () => {
      const anonymous = await request(app).get('/api/metrics');
      expect(anonymous.status).toBe(401);
      const buyer = await request(app).get('/api/metrics').set('authorization', 'Bearer buyer');
      expect(buyer.status).toBe(403);
      expect(buyer.body.code).toBe('FORBIDDEN');
      const plain = await request(app).get('/plain/metrics').set('authorization', 'Bearer operator');
      expect(plain.status).toBe(404);
    });
  });
}

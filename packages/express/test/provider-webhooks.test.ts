import {
  createMarketplace,
  MarketkitError,
  type Marketplace,
  type ProviderWebhookHandler,
  type ProviderWebhookOutcome,
} from '@marketkit/core';
import { type Authenticate, marketkitRouter } from '@marketkit/express';
import { SandboxPaymentProvider, type TestDatabase, testBackends } from '@marketkit/testing';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** Only `Bearer buyer:alice` is an actor. */
const authenticate: Authenticate = (req) =>
  req.get('Authorization') === 'Bearer buyer:alice' ? { role: 'buyer', id: 'alice' } : undefined;

/** A provider webhook handler that records what the router hands it, and answers with `answer`. */
function recordingHandler(answer: (body: Buffer) => Promise<ProviderWebhookOutcome>) {
  const calls: { body: Buffer; signature: string | undefined }[] = [];
  const handler: ProviderWebhookHandler = {
    provider: 'stripe',
    handleProviderWebhook(rawBody, signature) {
      const body = Buffer.from(rawBody);
      calls.push({ body, signature });
      return answer(body);
    },
  };
  return { calls, handler };
}

const outcome: ProviderWebhookOutcome = {
  eventId: 'evt_1',
  type: 'payment_intent.succeeded',
  handled: true,
  duplicate: false,
  orderId: 'ord_1',
  orderState: 'paid',
};

for (const backend of testBackends()) {
  describe(`provider webhooks in the router on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), payments: new SandboxPaymentProvider() });
      await market.migrate();
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    const app = (handler: ProviderWebhookHandler) => {
      const a = express();
      a.use(
        '/api',
        marketkitRouter(market, {
          authenticate,
          rateLimits: { classes: { write: { points: 1, duration: 60 } } },
          providerWebhooks: { stripe: handler },
        }),
      );
      return a;
    };

    it('hands the raw bytes and the Stripe-Signature to the handler, without authentication or rate limits', async () => {
      const { calls, handler } = recordingHandler(async () => outcome);
      const server = app(handler);
      const body = '{ "id": "evt_1",\n  "amount": 1.50 }';
      for (let i = 0; i < 3; i++) {
        const res = await request(server)
          .post('/api/v1/webhooks/stripe')
          .set('Content-Type', 'application/json; charset=utf-8')
          .set('Stripe-Signature', 't=1,v1=abc')
          .send(body);
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ received: true, ...outcome });
      }
      expect(calls).toHaveLength(3);
      expect(calls[0]?.body.toString('utf8')).toBe(body);
      expect(calls[0]?.signature).toBe('t=1,v1=abc');
      // The per-actor limit (1 write a minute) still applies to the actor's routes.
      const writes = [];
      for (let i = 0; i < 2; i++)
        writes.push(
          (await request(server).post('/api/v1/listings').set('Authorization', 'Bearer buyer:alice').send({})).status,
        );
      expect(writes[1]).toBe(429);
    });

    it('answers the handler’s refusal as its problem: 400 WEBHOOK_SIGNATURE_INVALID; a crash as 500', async () => {
      let fail: () => Error = () =>
        new MarketkitError('WEBHOOK_SIGNATURE_INVALID', {
          message: 'Stripe webhook refused: no signatures found.',
          details: { provider: 'stripe', reason: 'no signatures found' },
        });
      const { calls, handler } = recordingHandler(() => Promise.reject(fail()));
      const server = app(handler);
      const refused = await request(server).post('/api/v1/webhooks/stripe').send('{}');
      expect(refused.status).toBe(400);
      expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(refused.body).toMatchObject({ code: 'WEBHOOK_SIGNATURE_INVALID', details: { provider: 'stripe' } });
      expect(calls[0]?.signature).toBeUndefined();
      // No body at all: handed on empty (the handler refuses it: nothing is signed).
      expect((await request(server).post('/api/v1/webhooks/stripe').set('Stripe-Signature', 't=1,v1=x')).status).toBe(
        400,
      );
      expect(calls[1]?.body.length).toBe(0);
      fail = () => new Error('database away');
      expect((await request(server).post('/api/v1/webhooks/stripe').send('{}')).status).toBe(500);
    });

    it('says so when a host’s body parser ran first (the signed bytes are gone), without calling the handler', async () => {
      const { calls, handler } = recordingHandler(async () => outcome);
      const server = express()
        .use(express.json())
        .use('/api', marketkitRouter(market, { authenticate, providerWebhooks: { stripe: handler } }));
      const res = await request(server).post('/api/v1/webhooks/stripe').send({ id: 'evt_1' });
      expect(res.status).toBe(500);
      expect(res.body).toMatchObject({ code: 'INTERNAL', detail: expect.stringMatching(/before any body parser/) });
      expect(calls).toEqual([]);
    });

    it('is not mounted without providerWebhooks: the path is an ordinary /v1 path behind authentication', async () => {
      const server = express().use('/api', marketkitRouter(market, { authenticate }));
      expect((await request(server).post('/api/v1/webhooks/stripe').send('{}')).status).toBe(401);
    });
  });
}

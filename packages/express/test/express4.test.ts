// The router under Express 4: `express` itself resolves to Express 4 here (the devDependency alias `express4`), for
// the test's app and for @marketkit/express's own `import express from 'express'` (its Router and body parser), as
// in a host that installed Express 4 only.
import { once } from 'node:events';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMarketplace, type Marketplace, type ProviderWebhookHandler } from '@marketkit/core';
import { type Authenticate, marketkitRouter, operatorConsole } from '@marketkit/express';
import { SandboxPaymentProvider, type TestDatabase, testBackends } from '@marketkit/testing';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.mock('express', async () => {
  const express4 = (await import('express4')).default;
  return { default: express4, ...express4 };
});

/** Actors by bearer token: `Bearer buyer:alice` is the buyer alice (the JWT path is router.test.ts's concern). */
const byToken: Authenticate = (req) => {
  const match = /^Bearer (buyer|seller|operator):(\w+)$/.exec(req.get('Authorization') ?? '');
  return match?.[1] === undefined || match[2] === undefined
    ? undefined
    : { role: match[1] as 'buyer' | 'seller' | 'operator', id: match[2] };
};
const as = (role: string, id: string) => ({ Authorization: `Bearer ${role}:${id}` });

/** Every problem answer has the RFC 9457 shape and media type. */
function expectProblem(res: request.Response, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toEqual({
    type: `urn:marketkit:error:${code}`,
    title: expect.any(String),
    status,
    detail: expect.any(String),
    code,
    details: expect.any(Object),
  });
}

/** A stream opened with `GET path`: its status and headers, and the text received so far. */
interface OpenStream {
  readonly status: number;
  readonly headers: Record<string, unknown>;
  /** Resolves with the text received once `done` holds for it (rejects after 10 s). */
  until(done: (text: string) => boolean): Promise<string>;
  close(): void;
}

/** Opens `GET path` as an event stream; resolves once the response headers arrived. */
function openStream(port: number, path: string, headers: Record<string, string>): Promise<OpenStream> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { Accept: 'text/event-stream', ...headers } });
    req.on('response', (res) => {
      let text = '';
      const waiters: (() => void)[] = [];
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        for (const w of waiters.splice(0)) w();
      });
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        until: (done) =>
          new Promise((ok, fail) => {
            const timer = setTimeout(() => fail(new Error(`stream: timed out; received ${text}`)), 10_000);
            const check = () => {
              if (done(text)) {
                clearTimeout(timer);
                ok(text);
              } else waiters.push(check);
            };
            check();
          }),
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}

for (const backend of testBackends()) {
  describe(`@marketkit/express under Express 4 on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    let app: express.Express;
    let server: Server;
    let port = 0;

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), payments: new SandboxPaymentProvider() });
      await market.migrate();
      app = express();
      app.use('/api', marketkitRouter(market, { authenticate: byToken, bodyLimit: '2kb' }));
      server = createServer(app);
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      port = (server.address() as AddressInfo).port;
    });
    afterAll(async () => {
      server?.closeAllConnections();
      await new Promise((r) => server?.close(r));
      await market?.close();
      await database?.drop();
    });

    it('runs on Express 4 (the mock took: express is 4.x)', async () => {
      const { createRequire } = await import('node:module');
      const version = (createRequire(import.meta.url)('express4/package.json') as { version: string }).version;
      expect(version).toMatch(/^4\./);
      expect((await import('express')).default).toBe((await import('express4')).default);
      // The router @marketkit/express builds is Express 4's own (its layers match paths with a RegExp; Express 5's
      // router has matchers instead).
      const router = marketkitRouter(market, { authenticate: byToken }) as unknown as { stack: { regexp?: unknown }[] };
      expect(router.stack.every((layer) => layer.regexp instanceof RegExp)).toBe(true);
    });

    it('serves the operator console: the page, its panels to operators only, and JSON-only actions', async () => {
      const ops = express().use('/console', operatorConsole(market, { authenticate: byToken, reconciliation: false }));
      for (const path of ['/console', '/console/']) {
        const page = await request(ops).get(path);
        expect(page.status).toBe(200);
        expect(page.headers['content-security-policy']).toMatch(/script-src 'sha256-/);
      }
      expectProblem(await request(ops).get('/console/panels'), 401, 'UNAUTHENTICATED');
      expectProblem(await request(ops).get('/console/panels').set(as('seller', 'bob')), 403, 'FORBIDDEN');
      const panels = await request(ops).get('/console/panels').set(as('operator', 'ops'));
      expect(panels.status).toBe(200);
      expect(panels.text).toContain('No saga is parked.');
      const form = await request(ops)
        .post('/console/sagas/s1/retry')
        .set(as('operator', 'ops'))
        .type('form')
        .send('a=1');
      expectProblem(form, 415, 'VALIDATION_FAILED');
      expectProblem(
        await request(ops).post('/console/sagas/s1/retry').set(as('operator', 'ops')).send({}),
        404,
        'NOT_FOUND',
      );
      const malformed = await request(ops)
        .post('/console/sagas/s1/resolve')
        .set(as('operator', 'ops'))
        .set('Content-Type', 'application/json')
        .send('{"note": ');
      expectProblem(malformed, 400, 'VALIDATION_FAILED');
    });

    it('hands a provider webhook its raw bytes (and an empty body as empty), outside authentication', async () => {
      const bodies: string[] = [];
      const stripe: ProviderWebhookHandler = {
        provider: 'stripe',
        async handleProviderWebhook(raw, signature) {
          bodies.push(`${signature}|${Buffer.from(raw).toString('utf8')}`);
          return { eventId: 'evt_1', type: 't', handled: false, duplicate: false, orderId: null, orderState: null };
        },
      };
      const hooks = express().use(
        '/api',
        marketkitRouter(market, { authenticate: byToken, providerWebhooks: { stripe } }),
      );
      const body = '{ "id": "evt_1",  "n": 1.50 }';
      const res = await request(hooks)
        .post('/api/v1/webhooks/stripe')
        .set('Content-Type', 'application/json')
        .set('Stripe-Signature', 'sig')
        .send(body);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ received: true, eventId: 'evt_1' });
      expect((await request(hooks).post('/api/v1/webhooks/stripe').set('Stripe-Signature', 'sig')).status).toBe(200);
      expect(bodies).toEqual([`sig|${body}`, 'sig|']);
    });

    it('creates a listing, checks out, replays the checkout, and reads the order', async () => {
      const created = await request(app)
        .post('/api/v1/listings')
        .set(as('seller', 'bob'))
        .send({ title: 'Lamp', price: { amount: '4000', currency: 'USD' }, quantity: 5 });
      expect(created.status).toBe(201);
      expect(created.headers['content-type']).toMatch(/^application\/json/);
      expect(created.headers['etag']).toBe('"0.0.0"');
      const listingId = created.body.id as string;

      const got = await request(app).get(`/api/v1/listings/${listingId}`).set(as('buyer', 'alice'));
      expect(got.status).toBe(200);
      expect(got.body).toMatchObject({ id: listingId, title: 'Lamp', sellerId: 'bob' });

      const checkout = () =>
        request(app)
          .post('/api/v1/checkouts')
          .set(as('buyer', 'alice'))
          .set('Idempotency-Key', 'e4-1')
          .send({ listingId, quantity: 1, paymentMethod: 'tok_visa' });
      const first = await checkout();
      expect(first.status).toBe(201);
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      const replay = await checkout();
      expect(replay.status).toBe(201);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.body.id).toBe(first.body.id);

      const order = await request(app).get(`/api/v1/orders/${first.body.id}`).set(as('buyer', 'alice'));
      expect(order.status).toBe(200);
      expect(order.body).toMatchObject({ id: first.body.id, buyerId: 'alice' });
      // Query strings parse under Express 4's `qs` too.
      const balance = await request(app).get('/api/v1/balances?currency=USD').set(as('seller', 'bob'));
      expect(balance.status).toBe(200);
      expect(balance.body).toMatchObject({ sellerId: 'bob', currency: 'USD' });
    });

    it('answers problems: 401, 403, 404, 400 bad body and bad JSON, 413, 412 and 428', async () => {
      const anonymous = await request(app).get('/api/v1/listings/x');
      expectProblem(anonymous, 401, 'UNAUTHENTICATED');
      expect(anonymous.headers['www-authenticate']).toBe('Bearer');
      expectProblem(
        await request(app).post('/api/v1/listings').set(as('buyer', 'alice')).send({ title: 'x' }),
        403,
        'FORBIDDEN',
      );
      expectProblem(await request(app).get('/api/v1/listings/none').set(as('buyer', 'alice')), 404, 'NOT_FOUND');
      expectProblem(
        await request(app).post('/api/v1/listings').set(as('seller', 'bob')).send({ title: 42 }),
        400,
        'VALIDATION_FAILED',
      );
      expectProblem(
        await request(app)
          .post('/api/v1/listings')
          .set(as('seller', 'bob'))
          .set('Content-Type', 'application/json')
          .send('{"title": '),
        400,
        'VALIDATION_FAILED',
      );
      expectProblem(
        await request(app)
          .post('/api/v1/listings')
          .set(as('seller', 'bob'))
          .send({ title: 'x'.repeat(4000) }),
        413,
        'VALIDATION_FAILED',
      );
      const created = await request(app)
        .post('/api/v1/listings')
        .set(as('seller', 'bob'))
        .send({ title: 'Desk', price: { amount: '100', currency: 'USD' }, quantity: 1 });
      const edit = (ifMatch?: string) => {
        const r = request(app).patch(`/api/v1/listings/${created.body.id}`).set(as('seller', 'bob'));
        return (ifMatch === undefined ? r : r.set('If-Match', ifMatch)).send({ title: 'Desk 2' });
      };
      expectProblem(await edit(), 428, 'VALIDATION_FAILED');
      expectProblem(await edit('"7"'), 412, 'CONCURRENCY_CONFLICT');
      expect((await edit('"0"')).status).toBe(200);
    });

    it('serves the Server-Sent Events stream with its headers, and an order’s events on it', async () => {
      const stream = await openStream(port, '/api/v1/events', as('buyer', 'carol'));
      try {
        expect(stream.status).toBe(200);
        expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
        expect(stream.headers['cache-control']).toMatch(/no-cache/);
        expect(await stream.until((text) => text.includes('event: ready'))).toMatch(/^retry: \d+$/m);
        const listing = await request(app)
          .post('/api/v1/listings')
          .set(as('seller', 'bob'))
          .send({ title: 'Chair', price: { amount: '900', currency: 'USD' }, quantity: 3 });
        const order = await request(app)
          .post('/api/v1/checkouts')
          .set(as('buyer', 'carol'))
          .set('Idempotency-Key', 'e4-sse')
          .send({ listingId: listing.body.id, quantity: 1, paymentMethod: 'tok_visa' });
        expect(order.status).toBe(201);
        expect(await stream.until((text) => text.includes(order.body.id as string))).toMatch(/^event: /m);
      } finally {
        stream.close();
      }
    });
  });
}

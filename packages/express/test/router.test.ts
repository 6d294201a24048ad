import { postgresAdapter } from '@marketkit/adapters/postgres';
import { createMarketplace, MarketkitError, type Marketplace, silentLogger } from '@marketkit/core';
import { jwtAuthenticator, marketkitRouter } from '@marketkit/express';
import { SandboxPaymentProvider, type TestDatabase, testBackends } from '@marketkit/testing';
import express from 'express';
import { SignJWT } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const SECRET = 'a-test-secret-of-at-least-32-bytes!!';
const auth = { secret: SECRET, issuer: 'test-shop', audience: 'test-api' } as const;

async function token(
  claims: Record<string, unknown>,
  o: { secret?: string; audience?: string; expiresIn?: string | number } = {},
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(auth.issuer)
    .setAudience(o.audience ?? auth.audience)
    .setIssuedAt()
    .setExpirationTime(o.expiresIn ?? '5m')
    .sign(new TextEncoder().encode(o.secret ?? SECRET));
}

const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });

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

for (const backend of testBackends()) {
  describe(`@marketkit/express on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    let app: express.Express;
    const tokens: Record<string, string> = {};
    const as = (who: string) => bearer(tokens[who] ?? '');

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), payments: new SandboxPaymentProvider() });
      await market.migrate();
      app = express();
      app.use('/api', marketkitRouter(market, { authenticate: jwtAuthenticator(auth), bodyLimit: '2kb' }));
      tokens['buyer'] = await token({ sub: 'alice', role: 'buyer' });
      tokens['carol'] = await token({ sub: 'carol', role: 'buyer' });
      tokens['seller'] = await token({ sub: 'bob', role: 'seller' });
      tokens['dave'] = await token({ sub: 'dave', role: 'seller' });
      tokens['operator'] = await token({ sub: 'ops-1', role: 'operator' });
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    const newListing = async (quantity = 10) => {
      const res = await request(app)
        .post('/api/v1/listings')
        .set(as('seller'))
        .send({ title: 'Lamp', price: { amount: '4000', currency: 'USD' }, quantity });
      expect(res.status).toBe(201);
      return res.body as { id: string; version: number };
    };
    const checkout = (listingId: string, key: string, quantity = 1) =>
      request(app)
        .post('/api/v1/checkouts')
        .set(as('buyer'))
        .set('Idempotency-Key', key)
        .send({ listingId, quantity, paymentMethod: 'tok_visa' });

    it('answers 503 PROVIDER_UNAVAILABLE with Retry-After to a checkout while the provider breaker is open', async () => {
      const psp = new SandboxPaymentProvider();
      const guarded = createMarketplace({
        adapter: database.adapter(),
        payments: psp,
        providerBreaker: { threshold: 1, resetTimeoutMs: 60_000 },
        logger: silentLogger,
      });
      try {
        const guardedApp = express();
        guardedApp.use('/api', marketkitRouter(guarded, { authenticate: jwtAuthenticator(auth) }));
        const { id } = await newListing(2);
        psp.injectFault('authorize', 'error');
        const call = { idempotencyKey: 'k', amountMinor: 1n, currency: 'USD', paymentMethod: 'tok', reference: 'r' };
        await expect(guarded.payments.breaker!.provider.authorize(call)).rejects.toMatchObject({
          code: 'PROVIDER_ERROR',
        });
        const res = await request(guardedApp)
          .post('/api/v1/checkouts')
          .set(as('buyer'))
          .set('Idempotency-Key', 'breaker-open-1')
          .send({ listingId: id, quantity: 1, paymentMethod: 'tok_visa' });
        expectProblem(res, 503, 'PROVIDER_UNAVAILABLE');
        expect(res.body.details).toMatchObject({ provider: 'sandbox', operation: 'checkout' });
        expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(60);
        expect(await market.listings.get(id)).toMatchObject({ available: 2, reserved: 0 });
        expect(psp.effects().calls.authorize).toBe(1);
      } finally {
        await guarded.close();
      }
    });

    it('answers /healthz and /readyz without authentication, with helmet headers', async () => {
      const health = await request(app).get('/api/healthz');
      expect(health.status).toBe(200);
      expect(health.headers['x-content-type-options']).toBe('nosniff');
      expect((await request(app).get('/api/readyz')).status).toBe(200);
    });

    it('creates, reads and edits a listing with ETag / If-Match (200, 201, 412, 428, 403, 404, 400)', async () => {
      const created = await request(app)
        .post('/api/v1/listings')
        .set(as('seller'))
        .send({ title: 'Chair', price: { amount: '1500', currency: 'USD' }, quantity: 3 });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ sellerId: 'bob', title: 'Chair', version: 0 });
      expect(created.headers['etag']).toBe('"0.0.0"');
      const id = created.body.id as string;

      const read = await request(app).get(`/api/v1/listings/${id}`).set(as('buyer'));
      expect(read.status).toBe(200);
      expect(read.headers['etag']).toBe('"0.0.0"');

      // Stock moves without bumping the version: the ETag still changes, so a conditional read is not a stale 304.
      const hold = await market.listings.reserve({ listingId: id, quantity: 1 });
      const after = await request(app).get(`/api/v1/listings/${id}`).set(as('buyer')).set('If-None-Match', '"0.0.0"');
      expect(after.status).toBe(200);
      expect(after.headers['etag']).toBe('"0.0.1"');
      expect(after.body).toMatchObject({ reserved: 1, version: 0 });
      const unchanged = await request(app)
        .get(`/api/v1/listings/${id}`)
        .set(as('buyer'))
        .set('If-None-Match', '"0.0.1"');
      expect(unchanged.status).toBe(304);
      await market.listings.release(hold.id);

      const edit = (who: string, ifMatch: string | undefined, body: object = { title: 'Armchair' }) => {
        const r = request(app).patch(`/api/v1/listings/${id}`).set(as(who));
        return (ifMatch === undefined ? r : r.set('If-Match', ifMatch)).send(body);
      };
      expectProblem(await edit('seller', undefined), 428, 'VALIDATION_FAILED');
      expectProblem(await edit('seller', '"7"'), 412, 'CONCURRENCY_CONFLICT');
      expectProblem(await edit('seller', '*'), 400, 'VALIDATION_FAILED');
      expectProblem(await edit('dave', '"0"'), 403, 'FORBIDDEN');
      expectProblem(await edit('buyer', '"0"'), 403, 'FORBIDDEN');
      expectProblem(await edit('seller', '"0"', { sellerId: 'dave' }), 400, 'VALIDATION_FAILED');
      // If-Match compares the version: the full ETag of a read before the stock moved, weak or strong, still matches.
      const ok = await edit('seller', 'W/"0.0.0"');
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ title: 'Armchair', version: 1 });
      expect(ok.headers['etag']).toBe('"1.0.0"');
      expectProblem(await edit('seller', '"0"'), 412, 'CONCURRENCY_CONFLICT');
      const byOperator = await edit('operator', '"1"', { status: 'closed' });
      expect(byOperator.body).toMatchObject({ status: 'closed', version: 2 });

      expectProblem(await request(app).get('/api/v1/listings/nope').set(as('buyer')), 404, 'NOT_FOUND');
      expectProblem(
        await request(app)
          .post('/api/v1/listings')
          .set(as('buyer'))
          .send({ title: 'X', price: { amount: '1', currency: 'USD' }, quantity: 1 }),
        403,
        'FORBIDDEN',
      );
      expectProblem(
        await request(app)
          .post('/api/v1/listings')
          .set(as('seller'))
          .send({ title: 'X', price: { amount: '1', currency: 'USD' }, quantity: -1 }),
        400,
        'VALIDATION_FAILED',
      );
    });

    it('checks out with an Idempotency-Key: replay header, 422 on reuse, 400 without a key', async () => {
      const listing = await newListing();
      const first = await checkout(listing.id, 'k-1');
      expect(first.status).toBe(201);
      expect(first.body).toMatchObject({ buyerId: 'alice', sellerId: 'bob', state: 'paid' });
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      const again = await checkout(listing.id, 'k-1');
      expect(again.status).toBe(201);
      expect(again.body).toEqual(first.body);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expectProblem(await checkout(listing.id, 'k-1', 2), 422, 'IDEMPOTENCY_KEY_REUSED');
      expectProblem(
        await request(app)
          .post('/api/v1/checkouts')
          .set(as('buyer'))
          .send({ listingId: listing.id, quantity: 1, paymentMethod: 'tok_visa' }),
        400,
        'VALIDATION_FAILED',
      );
      expectProblem(
        await request(app)
          .post('/api/v1/checkouts')
          .set(as('seller'))
          .set('Idempotency-Key', 'k-2')
          .send({ listingId: listing.id, quantity: 1, paymentMethod: 'tok_visa' }),
        403,
        'FORBIDDEN',
      );
      expectProblem(await checkout(listing.id, 'k-3', 50), 409, 'INSUFFICIENT_STOCK');
    });

    it('reads orders for parties only, fires transitions, and pays out the seller balance', async () => {
      const listing = await newListing();
      const order = (await checkout(listing.id, 'k-order')).body as { id: string };
      const get = (who: string, path = '') => request(app).get(`/api/v1/orders/${order.id}${path}`).set(as(who));
      for (const who of ['buyer', 'seller', 'operator']) expect((await get(who)).status).toBe(200);
      expectProblem(await get('carol'), 404, 'NOT_FOUND');
      expectProblem(await get('dave', '/history'), 404, 'NOT_FOUND');
      const history = await get('buyer', '/history');
      expect(history.status).toBe(200);
      expect(history.body.events.map((e: { to: string }) => e.to)).toEqual(['checkout', 'paid']);

      const fire = (who: string, name: string, key?: string) => {
        const r = request(app).post(`/api/v1/orders/${order.id}/transitions/${name}`).set(as(who));
        return (key === undefined ? r : r.set('Idempotency-Key', key)).send({});
      };
      expectProblem(await fire('buyer', 'ship'), 403, 'FORBIDDEN');
      const shipped = await fire('seller', 'ship', 't-1');
      expect(shipped.status).toBe(200);
      expect(shipped.body.state).toBe('shipped');
      const replay = await fire('seller', 'ship', 't-1');
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.body).toEqual(shipped.body);
      expectProblem(await fire('seller', 'ship'), 409, 'INVALID_TRANSITION');
      expect((await fire('seller', 'deliver')).status).toBe(200);
      expect((await fire('buyer', 'confirm')).status).toBe(200);

      const balances = await request(app).get('/api/v1/balances?currency=USD').set(as('seller'));
      expect(balances.status).toBe(200);
      expect(balances.body).toEqual({
        sellerId: 'bob',
        currency: 'USD',
        posted: '3600',
        pendingDebits: '0',
        available: '3600',
      });
      expectProblem(await request(app).get('/api/v1/balances').set(as('seller')), 400, 'VALIDATION_FAILED');
      expectProblem(await request(app).get('/api/v1/balances?currency=USD').set(as('buyer')), 403, 'FORBIDDEN');

      const payout = (key: string | undefined, amountMinor: string) => {
        const r = request(app).post('/api/v1/payouts').set(as('seller'));
        return (key === undefined ? r : r.set('Idempotency-Key', key)).send({
          currency: 'USD',
          amountMinor,
          destination: 'ba_1',
        });
      };
      expectProblem(await payout(undefined, '100'), 400, 'VALIDATION_FAILED');
      expectProblem(await payout('p-big', '999999'), 422, 'INSUFFICIENT_FUNDS');
      const paid = await payout('p-1', '1000');
      expect(paid.status).toBe(201);
      expect(paid.body).toMatchObject({ sellerId: 'bob', amountMinor: '1000', status: 'paid' });
      const paidAgain = await payout('p-1', '1000');
      expect(paidAgain.headers['idempotent-replayed']).toBe('true');
      expect(paidAgain.body).toEqual(paid.body);
      expectProblem(await payout('p-1', '2000'), 422, 'IDEMPOTENCY_KEY_REUSED');

      // Without `destination`: the seller's stored one, set with PUT /v1/payouts/destination.
      const stored = (key: string) =>
        request(app)
          .post('/api/v1/payouts')
          .set(as('seller'))
          .set('Idempotency-Key', key)
          .send({ currency: 'USD', amountMinor: '100' });
      const missing = await stored('p-nodest');
      expectProblem(missing, 422, 'PAYOUT_DESTINATION_MISSING');
      expect(missing.body.details).toEqual({ sellerId: 'bob' });
      const setDestination = (who: string, body: unknown) =>
        request(app)
          .put('/api/v1/payouts/destination')
          .set(as(who))
          .send(body as object);
      expectProblem(await setDestination('buyer', { destination: 'acct_1' }), 403, 'FORBIDDEN');
      expectProblem(await setDestination('seller', { destination: '' }), 400, 'VALIDATION_FAILED');
      expectProblem(
        await setDestination('seller', { destination: 'acct_1', sellerId: 'dave' }),
        400,
        'VALIDATION_FAILED',
      );
      const set = await setDestination('seller', { destination: 'acct_1Bob' });
      expect(set.status).toBe(200);
      expect(set.body).toMatchObject({ sellerId: 'bob', destination: 'acct_1Bob' });
      expect(await market.payouts.getDestination('dave')).toBeUndefined();
      // The refused key was not stored: the same key now goes through, to the stored destination.
      const toStored = await stored('p-nodest');
      expect(toStored.status).toBe(201);
      expect(toStored.body).toMatchObject({ sellerId: 'bob', amountMinor: '100', destination: 'acct_1Bob' });
    });

    it('lets operators only list, retry and resolve parked sagas', async () => {
      const list = await request(app).get('/api/v1/operator/sagas?status=failed').set(as('operator'));
      expect(list.status).toBe(200);
      expect(list.body).toEqual({ sagas: [] });
      expectProblem(await request(app).get('/api/v1/operator/sagas').set(as('seller')), 403, 'FORBIDDEN');
      expectProblem(
        await request(app).get('/api/v1/operator/sagas?status=running').set(as('operator')),
        400,
        'VALIDATION_FAILED',
      );
      expectProblem(await request(app).post('/api/v1/operator/sagas/s-1/retry').set(as('buyer')), 403, 'FORBIDDEN');
      expectProblem(await request(app).post('/api/v1/operator/sagas/nope/retry').set(as('operator')), 404, 'NOT_FOUND');
      expectProblem(
        await request(app).post('/api/v1/operator/sagas/nope/resolve').set(as('operator')).send({ note: 'refunded' }),
        404,
        'NOT_FOUND',
      );
    });

    it('answers 401 without a valid token: none, expired, bad signature, wrong audience, unknown role', async () => {
      const bad = [
        {},
        bearer('not-a-jwt'),
        bearer(await token({ sub: 'alice', role: 'buyer' }, { expiresIn: Math.floor(Date.now() / 1000) - 60 })),
        bearer(await token({ sub: 'alice', role: 'buyer' }, { secret: 'another-secret-of-at-least-32-bytes!' })),
        bearer(await token({ sub: 'alice', role: 'buyer' }, { audience: 'other-api' })),
        bearer(await token({ sub: 'alice', role: 'system' })),
        bearer(await token({ sub: 'alice', role: 'admin' })),
        bearer(await token({ role: 'buyer' })),
      ];
      for (const headers of bad) {
        const res = await request(app).get('/api/v1/listings/x').set(headers);
        expectProblem(res, 401, 'UNAUTHENTICATED');
        expect(res.headers['www-authenticate']).toBe('Bearer');
      }
    });

    it('answers malformed JSON with 400 and a body over the limit with 413', async () => {
      const malformed = await request(app)
        .post('/api/v1/listings')
        .set(as('seller'))
        .set('Content-Type', 'application/json')
        .send('{"title": ');
      expectProblem(malformed, 400, 'VALIDATION_FAILED');
      const big = await request(app)
        .post('/api/v1/listings')
        .set(as('seller'))
        .send({ title: 'x'.repeat(4000), price: { amount: '1', currency: 'USD' }, quantity: 1 });
      expectProblem(big, 413, 'VALIDATION_FAILED');
    });

    it('answers an unexpected error with a 500 that leaks nothing, and a conflict with Retry-After', async () => {
      const secret = 'SELECT * FROM mk_orders WHERE card = 4242424242424242';
      const broken = {
        ...market,
        listings: {
          get: () => Promise.reject(new Error(secret)),
        },
        orders: {
          checkout: () =>
            Promise.reject(
              new MarketkitError('IDEMPOTENCY_CONFLICT', {
                details: { key: 'k', actor: 'alice', operation: 'orders.checkout', retryAfterMs: 2500 },
              }),
            ),
        },
      } as unknown as Marketplace;
      const brokenApp = express().use(marketkitRouter(broken, { authenticate: jwtAuthenticator(auth) }));
      const res = await request(brokenApp).get('/v1/listings/l-1').set(as('buyer'));
      expectProblem(res, 500, 'INTERNAL');
      expect(res.text).not.toContain('SELECT');
      expect(res.text).not.toContain('4242');
      expect(res.text).not.toContain('at ');
      const conflict = await request(brokenApp)
        .post('/v1/checkouts')
        .set(as('buyer'))
        .set('Idempotency-Key', 'k')
        .send({ listingId: 'l-1', quantity: 1, paymentMethod: 'tok_visa' });
      expectProblem(conflict, 409, 'IDEMPOTENCY_CONFLICT');
      // Not the 3 s until the claim lapses: the request in flight usually ends well within a second.
      expect(conflict.headers['retry-after']).toBe('1');
      expect(conflict.body.details.retryAfterMs).toBe(2500);
    });
  });
}
describe('@marketkit/express /readyz', () => {
  it('answers 503 when the database is unreachable', async () => {
    const unreachable = createMarketplace({
      adapter: postgresAdapter({ connectionString: 'postgres://root@127.0.0.1:1/none' }),
    });
    try {
      const res = await request(express().use(marketkitRouter(unreachable, { authenticate: () => undefined }))).get(
        '/readyz',
      );
      expectProblem(res, 503, 'CONNECTION_LOST');
    } finally {
      await unreachable.close();
    }
  });
});

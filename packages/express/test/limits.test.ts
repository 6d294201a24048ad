import { postgresAdapter } from '@marketkit/adapters/postgres';
import { createMarketplace, type Marketplace } from '@marketkit/core';
import { type Authenticate, marketkitRouter, type RateLimiterLike, type RouteClass } from '@marketkit/express';
import { ManualClock, SandboxPaymentProvider, type TestDatabase, testBackends } from '@marketkit/testing';
import express from 'express';
import pg from 'pg';
import { RateLimiterMemory, RateLimiterPostgres } from 'rate-limiter-flexible';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** Actors by bearer token: `Bearer buyer:alice` is the buyer alice (the JWT path is router.test.ts's concern). */
const byToken: Authenticate = (req) => {
  const match = /^Bearer (buyer|seller|operator):(\w+)$/.exec(req.get('Authorization') ?? '');
  return match?.[1] === undefined || match[2] === undefined
    ? undefined
    : { role: match[1] as 'buyer' | 'seller' | 'operator', id: match[2] };
};
const as = (role: string, id: string) => ({ Authorization: `Bearer ${role}:${id}` });

/** A promise with its resolve function outside. */
function gate(): { readonly promise: Promise<void>; readonly open: () => void } {
  let open = (): void => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Every problem answer has the RFC 9457 shape and media type. */
function expectProblem(res: request.Response, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ type: `urn:marketkit:error:${code}`, status, code, details: expect.any(Object) });
}

for (const backend of testBackends()) {
  describe(`@marketkit/express limits on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    const clock = new ManualClock(Date.now());

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), payments: new SandboxPaymentProvider(), clock });
      await market.migrate();
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    const newListing = async (app: express.Express, quantity: number) => {
      const res = await request(app)
        .post('/v1/listings')
        .set(as('seller', 'bob'))
        .send({ title: 'Lamp', price: { amount: '4000', currency: 'USD' }, quantity });
      expect(res.status).toBe(201);
      return res.body.id as string;
    };
    const checkout = (app: express.Express, listingId: string, key: string) =>
      request(app)
        .post('/v1/checkouts')
        .set(as('buyer', 'alice'))
        .set('Idempotency-Key', key)
        .send({ listingId, quantity: 1, paymentMethod: 'tok_visa' });
    const taken = async (listingId: string) => {
      const listing = await market.listings.get(listingId);
      return (listing?.quantity ?? 0) - (listing?.available ?? 0);
    };

    it('answers 503 OVERLOADED with Retry-After past the in-flight bound, at once, and writes nothing for it', async () => {
      const held = gate();
      let waiting = 0;
      const authenticate: Authenticate = async (req) => {
        if (req.path === '/checkouts') {
          waiting++;
          await held.promise;
        }
        return byToken(req);
      };
      const app = express().use(marketkitRouter(market, { authenticate, maxInFlight: 2 }));
      const listingId = await newListing(app, 100);
      const first = [checkout(app, listingId, 'held-1'), checkout(app, listingId, 'held-2')].map((r) => r.then());
      while (waiting < 2) await new Promise((r) => setTimeout(r, 5));
      const shed = await checkout(app, listingId, 'shed-1');
      expectProblem(shed, 503, 'OVERLOADED');
      expect(shed.headers['retry-after']).toBe('1');
      expect(shed.body.details).toEqual({ resource: 'requests', retryAfterMs: 1000 });
      held.open();
      expect((await Promise.all(first)).map((r) => r.status)).toEqual([201, 201]);
      expect(await taken(listingId)).toBe(2);
      // The shed key was never used: the same request now runs for the first time (no replay).
      const retried = await checkout(app, listingId, 'shed-1');
      expect(retried.status).toBe(201);
      expect(retried.headers['idempotent-replayed']).toBeUndefined();
    });

    it('answers 503 OVERLOADED with Retry-After when no database connection comes free in time, writing nothing', async (ctx) => {
      ctx.skip(backend.name === 'sqlite', 'SQLite has one connection and no pool to wait for');
      // The marketplace's own pool: one connection, a short wait for it.
      const small = createMarketplace({
        adapter: postgresAdapter({ connectionString: database.location, max: 1, connectionTimeoutMs: 300 }),
        payments: new SandboxPaymentProvider(),
      });
      const app = express().use(marketkitRouter(small, { authenticate: byToken }));
      // Another session locks the listings table, so the first request holds the pool's one connection while it waits.
      const blocker = new pg.Client({ connectionString: database.location });
      await blocker.connect();
      try {
        await blocker.query('begin');
        await blocker.query('lock table mk_listings in access exclusive mode');
        const first = request(app).get('/v1/listings/held').set(as('buyer', 'alice')).then();
        // pg_stat_activity is read once per transaction unless its snapshot is cleared.
        const waitingOnLock = async () =>
          Number(
            (
              await blocker.query(
                `select pg_stat_clear_snapshot(), count(*) as n from pg_stat_activity
                  where datname = current_database() and application_name = 'marketkit' and wait_event_type = 'Lock'`,
              )
            ).rows[0]?.n,
          );
        while ((await waitingOnLock()) < 1) await new Promise((r) => setTimeout(r, 10));
        const started = Date.now();
        const refused = await request(app)
          .post('/v1/listings')
          .set(as('seller', 'bob'))
          .send({ title: 'Pool overflow', price: { amount: '4000', currency: 'USD' }, quantity: 1 });
        expect(Date.now() - started).toBeLessThan(5000);
        expectProblem(refused, 503, 'OVERLOADED');
        expect(refused.headers['retry-after']).toBe('1');
        expect(refused.body.details).toEqual({ resource: 'database-connections', retryAfterMs: 1000 });
        // The detail is the code's own message, never the driver's.
        expect(refused.body.detail).not.toMatch(/timeout exceeded/);
        await blocker.query('commit');
        expectProblem(await first, 404, 'NOT_FOUND');
        const written = await blocker.query(`select count(*) as n from mk_listings where title = 'Pool overflow'`);
        expect(Number(written.rows[0]?.n)).toBe(0);
        // The pool serves again once its connection is back.
        expect((await newListing(app, 1)).length).toBeGreaterThan(0);
      } finally {
        await blocker.end();
        await small.close();
      }
    });

    it('a burst beyond the in-flight bound gets 503s, never a crash or a lost write', async () => {
      // A token check that takes a moment (a JWKS fetch, say) keeps requests in flight together on either backend.
      const slowAuthenticate: Authenticate = async (req) => {
        await new Promise((r) => setTimeout(r, 25));
        return byToken(req);
      };
      const app = express().use(marketkitRouter(market, { authenticate: slowAuthenticate, maxInFlight: 3 }));
      const listingId = await newListing(app, 200);
      const keys = Array.from({ length: 60 }, (_, i) => `burst-${i}`);
      const answers = await Promise.all(keys.map((k) => checkout(app, listingId, k).then((r) => r)));
      const created = keys.filter((_, i) => answers[i]?.status === 201);
      const shed = keys.filter((_, i) => answers[i]?.status === 503);
      expect(created.length + shed.length).toBe(keys.length);
      expect(created.length).toBeGreaterThanOrEqual(3);
      expect(shed.length).toBeGreaterThan(0);
      for (const [i, res] of answers.entries()) {
        if (res.status === 503) expectProblem(res, 503, 'OVERLOADED');
        else expect(res.status, keys[i]).toBe(201);
      }
      // Every 201 is in the database, and only they are.
      expect(await taken(listingId)).toBe(created.length);
      const orderIds = answers.filter((r) => r.status === 201).map((r) => r.body.id as string);
      for (const id of orderIds) {
        expect((await market.orders.get(id, { actor: { role: 'buyer', id: 'alice' } })).id).toBe(id);
      }
      // A 201's key replays its order; a 503's key runs afresh: nothing was stored under it.
      for (const [i, key] of keys.entries()) {
        const res = await checkout(app, listingId, key);
        expect(res.status).toBe(201);
        const wasCreated = answers[i]?.status === 201;
        expect(res.headers['idempotent-replayed']).toBe(wasCreated ? 'true' : undefined);
        if (wasCreated) expect(res.body.id).toBe(answers[i]?.body.id);
      }
      expect(await taken(listingId)).toBe(keys.length);
    });

    it('answers 429 RATE_LIMITED with Retry-After and RateLimit headers, per actor and route class', async () => {
      const app = express().use(
        marketkitRouter(market, {
          authenticate: byToken,
          rateLimits: { classes: { read: { points: 3, duration: 60 }, money: { points: 1, duration: 60 } } },
        }),
      );
      const read = () => request(app).get('/v1/listings/nope').set(as('buyer', 'alice'));
      const first = await read();
      expect(first.status).toBe(404);
      expect(first.headers['ratelimit-limit']).toBe('3');
      expect(first.headers['ratelimit-remaining']).toBe('2');
      expect(first.headers['ratelimit-policy']).toBe('3;w=60');
      await read();
      await read();
      const limited = await read();
      expectProblem(limited, 429, 'RATE_LIMITED');
      expect(limited.body.title).toBe('Too Many Requests');
      expect(limited.body.details).toMatchObject({ routeClass: 'read', limit: 3 });
      expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
      expect(limited.headers['ratelimit-remaining']).toBe('0');
      // Another actor, and another class of the same actor, have their own counts; `write` is not limited.
      expect((await request(app).get('/v1/listings/nope').set(as('buyer', 'carol'))).status).toBe(404);
      const listingId = await newListing(app, 5);
      expect((await checkout(app, listingId, 'rl-1')).status).toBe(201);
      expectProblem(await checkout(app, listingId, 'rl-2'), 429, 'RATE_LIMITED');
      expect(await taken(listingId)).toBe(1);
    });

    it('shares the limits across two routers (two processes) through one store', async () => {
      const pool = backend.name === 'postgres' ? new pg.Pool({ connectionString: database.location }) : undefined;
      const memory = new Map<RouteClass, RateLimiterLike>();
      let tableReady: Promise<void> | undefined;
      const limiter = (cls: RouteClass, o: { points: number; duration: number; keyPrefix: string }) => {
        if (pool === undefined) {
          // SQLite runs in one process: one memory limiter stands for the shared store.
          const shared = memory.get(cls) ?? new RateLimiterMemory(o);
          memory.set(cls, shared);
          return shared;
        }
        return new RateLimiterPostgres({ ...o, storeClient: pool, tableName: 'mk_rate_limits', tableCreated: true });
      };
      try {
        if (pool !== undefined) {
          tableReady = new Promise<void>((resolve, reject) => {
            new RateLimiterPostgres(
              { points: 1, duration: 1, storeClient: pool, tableName: 'mk_rate_limits' },
              (e?: unknown) => (e === undefined || e === null ? resolve() : reject(e)),
            );
          });
          await tableReady;
        }
        const options = {
          authenticate: byToken,
          rateLimits: { classes: { read: { points: 4, duration: 60 } }, limiter },
        };
        const one = express().use(marketkitRouter(market, options));
        const two = express().use(marketkitRouter(market, options));
        const read = (app: express.Express) => request(app).get('/v1/listings/nope').set(as('buyer', 'shared'));
        const statuses = [];
        for (const app of [one, two, one, two, one, two]) statuses.push((await read(app)).status);
        expect(statuses).toEqual([404, 404, 404, 404, 429, 429]);
      } finally {
        await pool?.end();
      }
    });

    it('reports not ready while migrations are pending, and ready once they ran', async () => {
      const fresh = await backend.createDatabase();
      const behind = createMarketplace({ adapter: fresh.adapter(), payments: new SandboxPaymentProvider() });
      try {
        const app = express().use(marketkitRouter(behind, { authenticate: byToken }));
        const notReady = await request(app).get('/readyz');
        expect(notReady.status).toBe(503);
        expect(notReady.body.status).toBe('not ready');
        expect(notReady.body.pendingMigrations.length).toBeGreaterThan(0);
        await behind.migrate();
        const ready = await request(app).get('/readyz');
        expect(ready.status).toBe(200);
        expect(ready.body).toEqual({ status: 'ready', pendingMigrations: [], outboxLagMs: null });
      } finally {
        await behind.close();
        await fresh.drop();
      }
    });

    it('reports not ready while the oldest undelivered outbox event is older than the bound', async () => {
      const app = express().use(
        marketkitRouter(market, { authenticate: byToken, readiness: { maxOutboxLagMs: 1000 } }),
      );
      while ((await market.events.runOnce()) > 0) {}
      expect((await request(app).get('/readyz')).body).toMatchObject({ status: 'ready', outboxLagMs: null });
      const listingId = await newListing(app, 3);
      expect((await checkout(app, listingId, 'lag-1')).status).toBe(201);
      expect((await request(app).get('/readyz')).status).toBe(200);
      clock.advance(5000);
      const lagging = await request(app).get('/readyz');
      expect(lagging.status).toBe(503);
      expect(lagging.body).toMatchObject({ status: 'not ready', pendingMigrations: [] });
      expect(lagging.body.outboxLagMs).toBeGreaterThanOrEqual(5000);
      const off = express().use(
        marketkitRouter(market, { authenticate: byToken, readiness: { maxOutboxLagMs: false } }),
      );
      expect((await request(off).get('/readyz')).status).toBe(200);
      while ((await market.events.runOnce()) > 0) {}
      expect((await request(app).get('/readyz')).body).toEqual({
        status: 'ready',
        pendingMigrations: [],
        outboxLagMs: null,
      });
    });

    it('answers a CORS preflight before authentication, only for the configured origin', async () => {
      const app = express().use(
        marketkitRouter(market, {
          authenticate: byToken,
          cors: {
            origin: 'https://shop.example',
            allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key'],
          },
        }),
      );
      const preflight = await request(app)
        .options('/v1/checkouts')
        .set('Origin', 'https://shop.example')
        .set('Access-Control-Request-Method', 'POST')
        .set('Access-Control-Request-Headers', 'authorization,idempotency-key');
      expect(preflight.status).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBe('https://shop.example');
      expect(preflight.headers['access-control-allow-headers']).toContain('Idempotency-Key');
      const read = await request(app)
        .get('/v1/listings/nope')
        .set('Origin', 'https://shop.example')
        .set(as('buyer', 'alice'));
      expect(read.headers['access-control-allow-origin']).toBe('https://shop.example');
      const plain = express().use(marketkitRouter(market, { authenticate: byToken }));
      const none = await request(plain).get('/healthz').set('Origin', 'https://shop.example');
      expect(none.headers['access-control-allow-origin']).toBeUndefined();
    });
  });
}

// Every /v1 route × every kind of caller, as data: one row per route (the rows must be exactly the /v1 routes of
// src/openapi/operations.ts, so a new route cannot escape the table), one expected status per role; then one row per
// error status the HTTP API answers. Each cell asserts the status, and for an error the problem's shape.
import { once } from 'node:events';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { postgresAdapter } from '@marketkit/adapters/postgres';
import { stripeWebhookHandler } from '@marketkit/adapters/stripe';
import { createMarketplace, type Marketplace, Money } from '@marketkit/core';
import { type Authenticate, jwtAuthenticator, marketkitRouter } from '@marketkit/express';
import { SandboxPaymentProvider, type TestDatabase, testBackends } from '@marketkit/testing';
import express from 'express';
import { SignJWT } from 'jose';
import pg from 'pg';
import Stripe from 'stripe';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATIONS } from '../src/openapi/operations.js';

const SECRET = 'a-test-secret-of-at-least-32-bytes!!';
const auth = { secret: SECRET, issuer: 'test-shop', audience: 'test-api' } as const;

/** The callers: no token, two of each role that owns things, an operator, and a token claiming `system`. */
const ROLES = {
  anonymous: undefined,
  buyer: { sub: 'alice', role: 'buyer' },
  otherBuyer: { sub: 'carol', role: 'buyer' },
  seller: { sub: 'bob', role: 'seller' },
  otherSeller: { sub: 'dave', role: 'seller' },
  operator: { sub: 'ops-1', role: 'operator' },
  // jwtAuthenticator never grants `system` (the host's own code acts as system, not a request): 401.
  system: { sub: 'cron', role: 'system' },
} as const;
type Role = keyof typeof ROLES;

/** RFC 9457 titles the router gives each status. */
const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

/** The code the role table expects for each error status it holds. */
const ROLE_TABLE_CODES: Readonly<Record<number, string>> = {
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  422: 'INSUFFICIENT_FUNDS',
};

/** What a cell got back. */
interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, unknown>>;
  readonly body: unknown;
}

/** Fixtures every row may use, made fresh for each cell that changes them. */
interface Fixtures {
  readonly listingId: string;
  readonly orderId: string;
}

/** What a row's request gets: the app, the caller's headers, the fixtures, a key unique to the cell. */
interface CellContext {
  readonly app: express.Express;
  readonly port: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly fx: Fixtures;
  readonly key: string;
}

type Send = (c: CellContext) => Promise<Answer>;

/** One route: how to call it in its successful form, and the status each role gets. */
interface RouteRow {
  /** Fresh fixtures for every cell (the call changes them: an edit, a transition). Default: shared ones. */
  readonly fresh?: boolean;
  readonly send: Send;
  readonly expected: Readonly<Record<Role, number>>;
}

/** One error answer: a route, a caller, how to get it, and the status and code. */
interface ErrorRow {
  readonly name: string;
  readonly route: string;
  readonly role: Role;
  readonly status: number;
  readonly code: string;
  /** Backends the answer can arise on. Default: all. */
  readonly only?: 'postgres';
  readonly send: (
    c: CellContext & { readonly market: Marketplace; readonly database: TestDatabase },
  ) => Promise<Answer>;
  /** A header the answer must carry, with its value. */
  readonly header?: readonly [string, string];
}

const answer = async (r: request.Test): Promise<Answer> => {
  const res = await r;
  return { status: res.status, headers: res.headers, body: res.body };
};

/** Opens the event stream and hangs up once the headers (or an error's body) arrived. */
function openEvents(port: number, headers: Readonly<Record<string, string>>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/v1/events', headers });
    req.on('response', (res) => {
      if (res.statusCode === 200) {
        resolve({ status: 200, headers: res.headers, body: undefined });
        req.destroy();
        return;
      }
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const listingBody = { title: 'Lamp', price: { amount: '4000', currency: 'USD' }, quantity: 5 };
const checkoutBody = (listingId: string, quantity = 1) => ({ listingId, quantity, paymentMethod: 'tok_visa' });

const all = (status: number): Record<Role, number> => ({
  anonymous: 401,
  buyer: status,
  otherBuyer: status,
  seller: status,
  otherSeller: status,
  operator: status,
  system: 401,
});
const only = (roles: readonly Role[], status: number): Record<Role, number> => {
  const cells = all(403);
  for (const r of roles) cells[r] = status;
  return cells;
};
const publicRoute = (status: number): Record<Role, number> => ({ ...all(status), anonymous: status, system: status });

/** Stripe's webhooks: signed with the endpoint's secret, whoever else the caller claims to be. */
const stripe = new Stripe('sk_test_route_table');
const STRIPE_SECRET = 'whsec_route_table';
const stripeEvent = (id: string) =>
  JSON.stringify({ id, object: 'event', type: 'charge.succeeded', created: 1, data: { object: { id: 'ch_1' } } });
const sendStripeEvent = (c: CellContext, secret: string) => {
  const payload = stripeEvent(`evt_${c.key}`);
  const signature = stripe.webhooks.generateTestHeaderString({ payload, secret });
  return answer(
    request(c.app)
      .post('/v1/webhooks/stripe')
      .set(c.headers)
      .set('Content-Type', 'application/json')
      .set('Stripe-Signature', signature)
      .send(payload),
  );
};

/** Every /v1 route, keyed `METHOD path` as in operations.ts. */
const ROUTES: Readonly<Record<string, RouteRow>> = {
  'POST /v1/listings': {
    send: (c) => answer(request(c.app).post('/v1/listings').set(c.headers).send(listingBody)),
    expected: only(['seller', 'otherSeller'], 201),
  },
  'GET /v1/listings/:id': {
    send: (c) => answer(request(c.app).get(`/v1/listings/${c.fx.listingId}`).set(c.headers)),
    expected: all(200),
  },
  'PATCH /v1/listings/:id': {
    fresh: true,
    send: (c) =>
      answer(
        request(c.app)
          .patch(`/v1/listings/${c.fx.listingId}`)
          .set(c.headers)
          .set('If-Match', '"0"')
          .send({ title: 'Brass lamp' }),
      ),
    // The listing's seller or an operator.
    expected: only(['seller', 'operator'], 200),
  },
  'POST /v1/checkouts': {
    send: (c) =>
      answer(
        request(c.app)
          .post('/v1/checkouts')
          .set(c.headers)
          .set('Idempotency-Key', c.key)
          .send(checkoutBody(c.fx.listingId)),
      ),
    expected: only(['buyer', 'otherBuyer'], 201),
  },
  'GET /v1/orders/:id': {
    send: (c) => answer(request(c.app).get(`/v1/orders/${c.fx.orderId}`).set(c.headers)),
    // The parties and operators; anyone else is told it does not exist.
    expected: { ...all(200), otherBuyer: 404, otherSeller: 404 },
  },
  'GET /v1/orders/:id/history': {
    send: (c) => answer(request(c.app).get(`/v1/orders/${c.fx.orderId}/history`).set(c.headers)),
    expected: { ...all(200), otherBuyer: 404, otherSeller: 404 },
  },
  'POST /v1/orders/:id/transitions/:name': {
    fresh: true,
    // `cancel` from `paid`: buyer, seller or operator (docs/orders.md); a non-party may not.
    send: (c) => answer(request(c.app).post(`/v1/orders/${c.fx.orderId}/transitions/cancel`).set(c.headers).send({})),
    expected: only(['buyer', 'seller', 'operator'], 200),
  },
  'POST /v1/payouts': {
    fresh: true,
    send: (c) =>
      answer(
        request(c.app)
          .post('/v1/payouts')
          .set(c.headers)
          .set('Idempotency-Key', c.key)
          .send({ currency: 'USD', amountMinor: '100', destination: 'ba_1' }),
      ),
    // bob has a completed sale's proceeds; dave has none to pay out.
    expected: { ...only(['seller'], 201), otherSeller: 422 },
  },
  'PUT /v1/payouts/destination': {
    send: (c) => answer(request(c.app).put('/v1/payouts/destination').set(c.headers).send({ destination: 'acct_1' })),
    // A seller sets their own (the seller is the actor, so never another's).
    expected: only(['seller', 'otherSeller'], 200),
  },
  'GET /v1/balances': {
    send: (c) => answer(request(c.app).get('/v1/balances?currency=USD').set(c.headers)),
    expected: only(['seller', 'otherSeller'], 200),
  },
  'GET /v1/events': {
    send: (c) => openEvents(c.port, c.headers),
    expected: all(200),
  },
  'GET /v1/operator/sagas': {
    send: (c) => answer(request(c.app).get('/v1/operator/sagas').set(c.headers)),
    expected: only(['operator'], 200),
  },
  'POST /v1/operator/sagas/:id/retry': {
    send: (c) => answer(request(c.app).post('/v1/operator/sagas/no-such-saga/retry').set(c.headers)),
    expected: only(['operator'], 404),
  },
  'POST /v1/operator/sagas/:id/resolve': {
    send: (c) =>
      answer(request(c.app).post('/v1/operator/sagas/no-such-saga/resolve').set(c.headers).send({ note: 'refunded' })),
    expected: only(['operator'], 404),
  },
  'GET /v1/openapi.json': {
    send: (c) => answer(request(c.app).get('/v1/openapi.json').set(c.headers)),
    expected: publicRoute(200),
  },
  'GET /v1/docs': {
    send: (c) => answer(request(c.app).get('/v1/docs').set(c.headers)),
    expected: publicRoute(200),
  },
  'POST /v1/webhooks/stripe': {
    send: (c) => sendStripeEvent(c, STRIPE_SECRET),
    expected: publicRoute(200),
  },
};

/** A promise with its resolve function outside. */
function gate(): { readonly promise: Promise<void>; readonly open: () => void } {
  let open = (): void => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** The error answers, each on the route and caller it arises for. */
const ERRORS: readonly ErrorRow[] = [
  {
    name: 'a webhook not signed with the endpoint’s secret',
    route: 'POST /v1/webhooks/stripe',
    role: 'operator',
    status: 400,
    code: 'WEBHOOK_SIGNATURE_INVALID',
    send: (c) => sendStripeEvent(c, 'whsec_someone_else'),
  },
  {
    name: 'a body of the wrong shape',
    route: 'POST /v1/listings',
    role: 'seller',
    status: 400,
    code: 'VALIDATION_FAILED',
    send: (c) => answer(request(c.app).post('/v1/listings').set(c.headers).send({ title: 42 })),
  },
  {
    name: 'a checkout without Idempotency-Key',
    route: 'POST /v1/checkouts',
    role: 'buyer',
    status: 400,
    code: 'VALIDATION_FAILED',
    send: (c) => answer(request(c.app).post('/v1/checkouts').set(c.headers).send(checkoutBody(c.fx.listingId))),
  },
  {
    name: 'a resolution without its note',
    route: 'POST /v1/operator/sagas/:id/resolve',
    role: 'operator',
    status: 400,
    code: 'VALIDATION_FAILED',
    send: (c) => answer(request(c.app).post('/v1/operator/sagas/s-1/resolve').set(c.headers).send({})),
  },
  {
    name: 'a checkout of more than the stock',
    route: 'POST /v1/checkouts',
    role: 'buyer',
    status: 409,
    code: 'INSUFFICIENT_STOCK',
    send: (c) =>
      answer(
        request(c.app)
          .post('/v1/checkouts')
          .set(c.headers)
          .set('Idempotency-Key', c.key)
          .send(checkoutBody(c.fx.listingId, 99)),
      ),
  },
  {
    name: 'a transition the order’s state does not have',
    route: 'POST /v1/orders/:id/transitions/:name',
    role: 'buyer',
    status: 409,
    code: 'INVALID_TRANSITION',
    send: (c) => answer(request(c.app).post(`/v1/orders/${c.fx.orderId}/transitions/confirm`).set(c.headers).send({})),
  },
  {
    name: 'an edit of another version',
    route: 'PATCH /v1/listings/:id',
    role: 'seller',
    status: 412,
    code: 'CONCURRENCY_CONFLICT',
    send: (c) =>
      answer(
        request(c.app)
          .patch(`/v1/listings/${c.fx.listingId}`)
          .set(c.headers)
          .set('If-Match', '"9"')
          .send({ title: 'x' }),
      ),
  },
  {
    name: 'a body over bodyLimit',
    route: 'POST /v1/listings',
    role: 'seller',
    status: 413,
    code: 'VALIDATION_FAILED',
    send: (c) =>
      answer(
        request(c.app)
          .post('/v1/listings')
          .set(c.headers)
          .send({ ...listingBody, title: 'x'.repeat(4000) }),
      ),
  },
  {
    name: 'an idempotency key reused with another body',
    route: 'POST /v1/checkouts',
    role: 'buyer',
    status: 422,
    code: 'IDEMPOTENCY_KEY_REUSED',
    send: async (c) => {
      const post = (quantity: number) =>
        request(c.app)
          .post('/v1/checkouts')
          .set(c.headers)
          .set('Idempotency-Key', c.key)
          .send(checkoutBody(c.fx.listingId, quantity));
      expect((await post(1)).status).toBe(201);
      return answer(post(2));
    },
  },
  {
    name: 'a caller over its rate limit',
    route: 'GET /v1/listings/:id',
    role: 'buyer',
    status: 429,
    code: 'RATE_LIMITED',
    header: ['retry-after', '60'],
    send: async (c) => {
      const limited = express().use(
        marketkitRouter(c.market, {
          authenticate: jwtAuthenticator(auth),
          rateLimits: { classes: { read: { points: 1, duration: 60 } } },
        }),
      );
      const read = () => request(limited).get(`/v1/listings/${c.fx.listingId}`).set(c.headers);
      expect((await read()).status).toBe(200);
      return answer(read());
    },
  },
  {
    name: 'a process past maxInFlight',
    route: 'POST /v1/checkouts',
    role: 'buyer',
    status: 503,
    code: 'OVERLOADED',
    header: ['retry-after', '1'],
    send: async (c) => {
      const held = gate();
      let waiting = false;
      const jwt = jwtAuthenticator(auth);
      const authenticate: Authenticate = async (req) => {
        if (req.get('X-Hold') !== undefined) {
          waiting = true;
          await held.promise;
        }
        return jwt(req);
      };
      const small = express().use(marketkitRouter(c.market, { authenticate, maxInFlight: 1 }));
      const first = request(small).get(`/v1/listings/${c.fx.listingId}`).set(c.headers).set('X-Hold', '1').then();
      while (!waiting) await new Promise((r) => setTimeout(r, 5));
      const shed = await answer(
        request(small)
          .post('/v1/checkouts')
          .set(c.headers)
          .set('Idempotency-Key', c.key)
          .send(checkoutBody(c.fx.listingId)),
      );
      held.open();
      expect((await first).status).toBe(200);
      return shed;
    },
  },
  {
    name: 'no database connection free within connectionTimeoutMs',
    route: 'POST /v1/listings',
    role: 'seller',
    status: 503,
    code: 'OVERLOADED',
    only: 'postgres',
    header: ['retry-after', '1'],
    send: async (c) => {
      const one = createMarketplace({
        adapter: postgresAdapter({ connectionString: c.database.location, max: 1, connectionTimeoutMs: 200 }),
        payments: new SandboxPaymentProvider(),
      });
      const app = express().use(marketkitRouter(one, { authenticate: jwtAuthenticator(auth) }));
      const blocker = new pg.Client({ connectionString: c.database.location });
      await blocker.connect();
      try {
        await blocker.query('begin');
        await blocker.query('lock table mk_listings in access exclusive mode');
        // Holds the pool's one connection, waiting on the lock.
        const first = request(app).get(`/v1/listings/${c.fx.listingId}`).set(c.headers).then();
        const waiting = async () =>
          Number(
            (
              await blocker.query(
                `select pg_stat_clear_snapshot(), count(*) as n from pg_stat_activity
                  where datname = current_database() and application_name = 'marketkit' and wait_event_type = 'Lock'`,
              )
            ).rows[0]?.n,
          );
        while ((await waiting()) < 1) await new Promise((r) => setTimeout(r, 10));
        const refused = await answer(request(app).post('/v1/listings').set(c.headers).send(listingBody));
        await blocker.query('commit');
        expect((await first).status).toBe(200);
        return refused;
      } finally {
        await blocker.end();
        await one.close();
      }
    },
  },
];

/** Asserts an answer: the status, and for an error the RFC 9457 problem with its type, title, status and code. */
function expectAnswer(a: Answer, status: number, code: string | undefined, where: string): void {
  expect(a.status, where).toBe(status);
  if (status < 400) return;
  expect(a.headers['content-type'], where).toMatch(/^application\/problem\+json/);
  expect(a.body, where).toMatchObject({
    type: `urn:marketkit:error:${code}`,
    title: TITLES[status],
    status,
    code,
    detail: expect.any(String),
  });
}

const routeKey = (op: { readonly method: string; readonly path: string }) => `${op.method.toUpperCase()} ${op.path}`;
const V1_ROUTES = OPERATIONS.filter((op) => op.path.startsWith('/v1/')).map(routeKey);

describe('the route × role table', () => {
  it('has a row for every /v1 route of operations.ts, and no other', () => {
    expect(Object.keys(ROUTES).sort()).toEqual([...V1_ROUTES].sort());
    for (const row of ERRORS) expect(V1_ROUTES, row.name).toContain(row.route);
  });

  it('covers every status the API answers', () => {
    const statuses = new Set([
      ...Object.values(ROUTES).flatMap((r) => Object.values(r.expected)),
      ...ERRORS.map((e) => e.status),
    ]);
    for (const s of [200, 201, 400, 401, 403, 404, 409, 412, 413, 422, 429, 503]) expect(statuses).toContain(s);
  });
});

for (const backend of testBackends()) {
  describe(`every /v1 route × every role on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    let app: express.Express;
    let server: Server;
    let port = 0;
    let shared: Fixtures;
    const headers: Partial<Record<Role, Record<string, string>>> = {};
    let keys = 0;

    /** A listing of bob's and alice's paid order of it. */
    const fixtures = async (): Promise<Fixtures> => {
      const listing = await market.listings.create({
        sellerId: 'bob',
        title: 'Lamp',
        price: Money.of('40.00', 'USD'),
        quantity: 50,
      });
      const order = await market.orders.checkout({
        buyerId: 'alice',
        listingId: listing.id,
        quantity: 1,
        paymentMethod: 'tok_visa',
        idempotencyKey: `fx-${++keys}`,
      });
      return { listingId: listing.id, orderId: order.id };
    };

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), payments: new SandboxPaymentProvider() });
      await market.migrate();
      app = express();
      app.use(
        marketkitRouter(market, {
          authenticate: jwtAuthenticator(auth),
          bodyLimit: '2kb',
          liveEvents: { heartbeatMs: 60_000 },
          providerWebhooks: { stripe: stripeWebhookHandler({ market, stripe, endpointSecret: STRIPE_SECRET }) },
        }),
      );
      server = createServer(app);
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      port = (server.address() as AddressInfo).port;
      for (const [role, claims] of Object.entries(ROLES) as [Role, (typeof ROLES)[Role]][]) {
        if (claims === undefined) {
          headers[role] = {};
          continue;
        }
        const jwt = await new SignJWT({ ...claims })
          .setProtectedHeader({ alg: 'HS256' })
          .setIssuer(auth.issuer)
          .setAudience(auth.audience)
          .setIssuedAt()
          .setExpirationTime('10m')
          .sign(new TextEncoder().encode(SECRET));
        headers[role] = { Authorization: `Bearer ${jwt}` };
      }
      shared = await fixtures();
      // bob's proceeds of a completed sale, for the payout row.
      const sold = await fixtures();
      const seller = { role: 'seller', id: 'bob' } as const;
      await market.orders.transition(sold.orderId, 'ship', { actor: seller });
      await market.orders.transition(sold.orderId, 'deliver', { actor: seller });
      await market.orders.transition(sold.orderId, 'confirm', { actor: { role: 'buyer', id: 'alice' } });
    });
    afterAll(async () => {
      server?.closeAllConnections();
      await new Promise((r) => server?.close(r));
      await market?.close();
      await database?.drop();
    });

    for (const [route, row] of Object.entries(ROUTES)) {
      it(route, async () => {
        for (const [role, status] of Object.entries(row.expected) as [Role, number][]) {
          const fx = row.fresh === true ? await fixtures() : shared;
          const got = await row.send({ app, port, headers: headers[role] ?? {}, fx, key: `cell-${++keys}` });
          expectAnswer(got, status, ROLE_TABLE_CODES[status], `${route} as ${role}`);
          if (status === 401) expect(got.headers['www-authenticate'], `${route} as ${role}`).toBe('Bearer');
          if (route === 'GET /v1/events' && status === 200) {
            expect(got.headers['content-type']).toMatch(/^text\/event-stream/);
          }
        }
      });
    }

    for (const row of ERRORS) {
      it(`${row.status} ${row.code}: ${row.name} (${row.route} as ${row.role})`, async (ctx) => {
        ctx.skip(row.only !== undefined && row.only !== backend.name, `${row.only} only`);
        const fx = await fixtures();
        const got = await row.send({
          app,
          port,
          headers: headers[row.role] ?? {},
          fx,
          key: `err-${++keys}`,
          market,
          database,
        });
        expectAnswer(got, row.status, row.code, row.name);
        if (row.header !== undefined) expect(got.headers[row.header[0]]).toBe(row.header[1]);
      });
    }
  });
}

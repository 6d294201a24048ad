import { createMarketplace, type Marketplace, Money, silentLogger } from '@marketkit/core';
import { jwtAuthenticator, marketkitRouter, operatorConsole } from '@marketkit/express';
import { ManualClock, SandboxPaymentProvider, type TestDatabase, testBackends } from '@marketkit/testing';
import express from 'express';
import { SignJWT } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConsoleScenario, parkingSaga, seedConsoleScenario, XSS } from './fixtures/console-scenario.js';

const SECRET = 'a-test-secret-of-at-least-32-bytes!!';
const auth = { secret: SECRET, issuer: 'test-shop', audience: 'test-api' } as const;

const token = (sub: string, role: string) =>
  new SignJWT({ role })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuer(auth.issuer)
    .setAudience(auth.audience)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRET));

/** The problem document shape every refusal has, on the API and on the console alike. */
function expectProblem(res: request.Response, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ type: `urn:marketkit:error:${code}`, status, code, detail: expect.any(String) });
}

for (const backend of testBackends()) {
  describe(`operator console on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    let app: express.Express;
    let scenario: ConsoleScenario;
    const parking = parkingSaga();
    const clock = new ManualClock(Date.UTC(2026, 2, 10, 0, 0));
    const provider = new SandboxPaymentProvider({ clock });
    const bearer: Record<string, string> = {};
    const as = (role: string) => ({ Authorization: `Bearer ${bearer[role] ?? ''}` });

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({
        adapter: database.adapter(),
        clock,
        payments: provider,
        providerBreaker: { threshold: 5 },
        sagas: [parking.definition],
        webhooks: { allowPrivateTargets: true },
        logger: silentLogger,
      });
      await market.migrate();
      scenario = await seedConsoleScenario(market, clock, { days: 4, provider });
      const authenticate = jwtAuthenticator(auth);
      app = express();
      app.use('/api', marketkitRouter(market, { authenticate }));
      app.use(
        '/console',
        operatorConsole(market, { authenticate, now: () => clock.now(), reconciliation: { settleMs: 0 } }),
      );
      bearer['operator'] = await token('ops-1', 'operator');
      bearer['buyer'] = await token('alice', 'buyer');
      bearer['seller'] = await token('bob', 'seller');
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    it('serves the page shell without data, under a CSP that allows only its own script and style', async () => {
      const res = await request(app).get('/console/');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      const csp = String(res.headers['content-security-policy']);
      expect(csp).toMatch(/default-src 'none'/);
      expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'(;|$)/);
      expect(csp).toMatch(/frame-ancestors 'none'/);
      expect(res.text).not.toContain('parked-plain');
      expect(res.headers['cache-control']).toBe('no-store');
    });

    it('refuses the panels and the actions to anyone but an operator, with the API’s problems', async () => {
      const anonymous = await request(app).get('/console/panels');
      expectProblem(anonymous, 401, 'UNAUTHENTICATED');
      expect(anonymous.headers['www-authenticate']).toBe('Bearer');
      expectProblem(
        await request(app).get('/console/panels').set({ Authorization: 'Bearer nope' }),
        401,
        'UNAUTHENTICATED',
      );
      for (const role of ['buyer', 'seller']) {
        const refused = await request(app).get('/console/panels').set(as(role));
        expectProblem(refused, 403, 'FORBIDDEN');
        expect(refused.body.details).toMatchObject({ role, operation: 'open the operator console' });
        // The API refuses the same actor the same way.
        const api = await request(app).get('/api/v1/operator/sagas').set(as(role));
        expectProblem(api, 403, 'FORBIDDEN');
        for (const action of ['retry', 'resolve']) {
          const post = await request(app)
            .post(`/console/sagas/parked-plain/${action}`)
            .set(as(role))
            .send({ note: 'x' });
          expectProblem(post, 403, 'FORBIDDEN');
        }
      }
      expectProblem(await request(app).post('/console/sagas/parked-plain/retry').send({}), 401, 'UNAUTHENTICATED');
      expect((await market.sagas.get('parked-plain'))?.status).toBe('failed');
    });

    it('shows every panel to an operator, with money formatted exactly from minor units', async () => {
      const res = await request(app).get('/console/panels').set(as('operator'));
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.headers['cache-control']).toBe('no-store');
      const page = res.text;
      for (const id of ['sagas', 'stuck', 'backlog', 'breaker', 'reconciliation', 'charts']) {
        expect(page).toContain(`id="${id}"`);
      }
      for (const id of scenario.parked) expect(page).toContain(`data-saga="${id}"`);
      expect(page).toContain(scenario.stuckOrderId);
      const stuck = await market.orders.stuckCheckouts();
      expect(stuck.map((s) => s.orderId)).toEqual([scenario.stuckOrderId]);
      expect(page).toContain('$40.00'); // 4000 minor units of USD
      const backlog = await market.events.backlog();
      expect(backlog.undelivered).toBeGreaterThan(0);
      expect(page).toContain(`<dd id="outbox-undelivered">${backlog.undelivered}</dd>`);
      const pending = await market.webhooks.listDeliveries({ status: 'pending' });
      expect(pending.length).toBeGreaterThan(0);
      expect(page).toContain(`<dd id="webhooks-pending">${pending.length}</dd>`);
      expect(page).toContain('<span class="state" id="breaker-state">closed</span>');
      expect(page).toContain('authorization_left_open');
    });

    it('charts GMV, take rate and escrow by day from market.analytics.daily, with exact tooltips', async () => {
      const page = (await request(app).get('/console/panels').set(as('operator'))).text;
      const DAY = 86_400_000;
      const today = Math.floor(clock.now() / DAY) * DAY;
      const days = await market.analytics.daily({ from: new Date(today - 29 * DAY), to: new Date(today + DAY) });
      const paid = days.filter((d) => d.gmv > 0n);
      expect(paid.length).toBeGreaterThanOrEqual(4);
      expect(page).toContain('data-currency="USD"');
      expect(page.match(/<svg /g)).toHaveLength(3);
      for (const d of paid) {
        const gmv = Money.fromMinor(d.gmv, 'USD').format();
        expect(page).toContain(`<title>${d.day}: ${gmv}</title>`);
        const escrow = Money.fromMinor(d.escrowOutstanding, 'USD').format();
        expect(page).toContain(`<title>${d.day}: ${escrow}</title>`);
      }
      expect(paid.some((d) => d.commission > 0n)).toBe(true);
      expect(page).toMatch(/<title>\d{4}-\d{2}-\d{2}: [1-9][\d.]* %<\/title>/);
    });

    it('escapes every value: hostile text in a saga’s error shows as text, never as markup', async () => {
      const page = (await request(app).get('/console/panels').set(as('operator'))).text;
      expect((await market.sagas.get('parked-hostile'))?.lastError?.message).toBe(XSS);
      expect(page).not.toContain('<script');
      expect(page).not.toContain('<img');
      expect(page).toContain('&lt;script&gt;document.title=&#39;owned&#39;&lt;/script&gt;');
      expect(page).toContain('onerror=&quot;document.title=&#39;owned&#39;&quot;');
    });

    it('mutates only on an authenticated JSON POST: no GET, no form post, no cross-site request', async () => {
      expect((await request(app).get('/console/sagas/parked-plain/retry').set(as('operator'))).status).toBe(404);
      const form = await request(app)
        .post('/console/sagas/parked-plain/retry')
        .set(as('operator'))
        .type('form')
        .send('x=1');
      expectProblem(form, 415, 'VALIDATION_FAILED');
      const crossSite = await request(app)
        .post('/console/sagas/parked-plain/retry')
        .set(as('operator'))
        .set('Sec-Fetch-Site', 'cross-site')
        .send({});
      expectProblem(crossSite, 403, 'FORBIDDEN');
      expect((await market.sagas.get('parked-plain'))?.status).toBe('failed');
      expectProblem(
        await request(app).post('/console/sagas/nope/retry').set(as('operator')).send({}),
        404,
        'NOT_FOUND',
      );
      expectProblem(
        await request(app).post('/console/sagas/parked-plain/resolve').set(as('operator')).send({}),
        400,
        'VALIDATION_FAILED',
      );
    });

    it('retries and resolves parked sagas, and the panels no longer list them', async () => {
      parking.repaired.add('parked-plain');
      const retried = await request(app).post('/console/sagas/parked-plain/retry').set(as('operator')).send({});
      expect(retried.status).toBe(200);
      expect(retried.body).toMatchObject({ id: 'parked-plain', status: 'compensating' });
      const resolved = await request(app)
        .post('/console/sagas/parked-hostile/resolve')
        .set(as('operator'))
        .send({ note: 'released by hand <b>in</b> the dashboard' });
      expect(resolved.status).toBe(200);
      expect(resolved.body).toMatchObject({ id: 'parked-hostile', status: 'resolved' });
      expect((await market.sagas.get('parked-hostile'))?.resolution).toBe('released by hand <b>in</b> the dashboard');
      expectProblem(
        await request(app).post('/console/sagas/parked-hostile/retry').set(as('operator')).send({}),
        409,
        'INVALID_TRANSITION',
      );
      const page = (await request(app).get('/console/panels').set(as('operator'))).text;
      expect(page).not.toContain('data-saga="parked-plain"');
      expect(page).not.toContain('data-saga="parked-hostile"');
      expect(page).toContain('No saga is parked.');
    });

    it('refuses bad options with VALIDATION_FAILED', () => {
      const authenticate = jwtAuthenticator(auth);
      expect(() => operatorConsole(market, { authenticate, chartDays: 0 })).toThrow(/chartDays/);
      expect(() => operatorConsole(market, { authenticate: 'x' as never })).toThrow(/authenticate/);
    });
  });
}

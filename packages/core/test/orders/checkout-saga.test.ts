/**
 * Every checkout is a `marketkit.checkout` saga (order → authorize → capture → confirm), whichever path wrote it:
 * the compiled statements (guarded-update stock) or the saga runner itself (row-lock stock). Operators see it in
 * `market.sagas`; declines compensate it, provider timeouts leave it waiting for a retry with backoff, and a worker
 * or the caller's retry finishes it with the same provider keys.
 */
import { createMarketplace, type Marketplace, Money } from '@marketkit/core';
import { checkMarketInvariants, ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import { Kysely, sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HookedProvider } from './fixtures/hooked-provider.js';

const RESERVATION_MS = 15 * 60 * 1000;
const steps = (log: readonly { stepName: string; phase: string; outcome: string }[]) =>
  log.map((e) => `${e.stepName}:${e.phase}:${e.outcome}`);

for (const backend of testBackends()) {
  for (const stockStrategy of ['guardedUpdate', 'rowLock'] as const) {
    describe(`checkout saga on ${backend.name} (${stockStrategy})`, () => {
      let database: TestDatabase;
      let market: Marketplace;
      const clock = new ManualClock();
      const psp = new HookedProvider();
      let n = 0;

      beforeAll(async () => {
        database = await backend.createDatabase();
        market = createMarketplace({
          adapter: database.adapter(),
          clock,
          payments: psp,
          listings: { stockStrategy },
        });
        await market.migrate();
      });
      afterAll(async () => {
        await market?.close();
        await database?.drop();
      });
      beforeEach(() => {
        psp.clearFaults();
        psp.afterCapture = undefined;
        psp.afterAuthorize = undefined;
      });

      const listing = async (quantity = 5) =>
        (
          await market.listings.create({
            sellerId: `seller-${++n}`,
            title: 'Lamp',
            price: Money.of('20.00', 'USD'),
            quantity,
          })
        ).id;
      const checkout = (orderId: string, listingId: string, paymentMethod = 'tok_visa') =>
        market.orders.checkout({ orderId, buyerId: 'alice', listingId, quantity: 2, paymentMethod });

      it('records a checkout as a completed marketkit.checkout saga with its four steps logged', async () => {
        const listingId = await listing();
        const orderId = `ord-done-${n}`;
        const order = await checkout(orderId, listingId);
        expect(order.state).toBe('paid');
        const saga = await market.sagas.get(`checkout:${orderId}`);
        expect(saga).toMatchObject({
          name: 'marketkit.checkout',
          status: 'completed',
          stepIndex: 4,
          input: { orderId, buyerId: 'alice', listingId, quantity: 2, paymentMethod: 'tok_visa' },
          attempts: 0,
          nextRunAt: null,
          leaseOwner: null,
          lastError: null,
        });
        expect(saga?.outputs).toEqual({
          order: null,
          authorize: { authorizationId: expect.any(String) },
          capture: { captureId: order.captureId },
          confirm: null,
        });
        expect(steps(await market.sagas.history(`checkout:${orderId}`))).toEqual([
          'order:run:completed',
          'authorize:run:completed',
          'capture:run:completed',
          'confirm:run:completed',
        ]);
        await checkMarketInvariants(market);
      });

      it('compensates a declined checkout: saga compensated, order cancelled, stock back, nothing authorized', async () => {
        const listingId = await listing();
        const orderId = `ord-declined-${n}`;
        const before = psp.effects();
        await expect(checkout(orderId, listingId, 'tok_decline')).rejects.toMatchObject({
          code: 'PAYMENT_DECLINED',
          retryable: false,
        });
        expect(await market.orders.get(orderId)).toMatchObject({ state: 'cancelled', captureId: null });
        expect(await market.listings.get(listingId)).toMatchObject({ reserved: 0, sold: 0, available: 5 });
        const saga = await market.sagas.get(`checkout:${orderId}`);
        expect(saga).toMatchObject({ status: 'compensated', nextRunAt: null, lastError: { code: 'PAYMENT_DECLINED' } });
        expect(steps(await market.sagas.history(`checkout:${orderId}`))).toEqual([
          'order:run:completed',
          'authorize:run:failed',
          'authorize:compensate:completed',
        ]);
        expect(psp.effects().openAuthorizedMinor).toBe(before.openAuthorizedMinor);
        await checkMarketInvariants(market);
      });

      it('keeps a checkout whose capture timed out waiting with backoff; the caller’s retry finishes it, charging once', async () => {
        const listingId = await listing();
        const orderId = `ord-timeout-${n}`;
        psp.injectFault('capture', 'errorAfterApply');
        await expect(checkout(orderId, listingId)).rejects.toMatchObject({ code: 'PROVIDER_TIMEOUT', retryable: true });
        const waiting = await market.sagas.get(`checkout:${orderId}`);
        expect(waiting).toMatchObject({
          status: 'running',
          stepIndex: 2,
          attempts: 1,
          leaseOwner: null,
          lastError: { code: 'PROVIDER_TIMEOUT' },
        });
        expect(waiting?.nextRunAt).toBeGreaterThan(clock.now());
        expect(await market.orders.get(orderId)).toMatchObject({ state: 'checkout' });
        const captures = psp.effects().counts.capture;

        // The caller retries at once (before the backoff): the saga goes on in the caller, with the same keys.
        const paid = await checkout(orderId, listingId);
        expect(paid).toMatchObject({ id: orderId, state: 'paid' });
        expect(psp.effects().counts.capture).toBe(captures);
        expect(await market.sagas.get(`checkout:${orderId}`)).toMatchObject({ status: 'completed', attempts: 0 });
        expect(steps(await market.sagas.history(`checkout:${orderId}`))).toEqual([
          'order:run:completed',
          'authorize:run:completed',
          'capture:run:retrying',
          'capture:run:completed',
          'confirm:run:completed',
        ]);
        // A retry after it finished returns the order and runs nothing.
        expect(await checkout(orderId, listingId)).toMatchObject({ state: 'paid' });
        await checkMarketInvariants(market);
      });

      it('answers CONCURRENCY_CONFLICT to a second caller while the first one runs the checkout', async () => {
        const listingId = await listing();
        const orderId = `ord-busy-${n}`;
        let second: unknown;
        const before = psp.effects();
        psp.afterCapture = async () => {
          second = await checkout(orderId, listingId).catch((e: unknown) => e);
        };
        expect(await checkout(orderId, listingId)).toMatchObject({ state: 'paid' });
        expect(second).toMatchObject({ code: 'CONCURRENCY_CONFLICT', retryable: true });
        // This checkout's own: one authorization and one capture, none by the refused second caller.
        const after = psp.effects();
        expect(after.counts.authorize - before.counts.authorize).toBe(1);
        expect(after.counts.capture - before.counts.capture).toBe(1);
        expect((await market.orders.history(orderId)).map((e) => e.transition)).toEqual(['checkout', 'confirmPayment']);
      });

      it('compensates a checkout whose reservation expired while it waited: authorization voided, no charge', async () => {
        const listingId = await listing();
        const orderId = `ord-expired-${n}`;
        psp.injectFault('capture', 'timeout');
        await expect(checkout(orderId, listingId)).rejects.toMatchObject({ code: 'PROVIDER_TIMEOUT' });
        const before = psp.effects();
        clock.advance(RESERVATION_MS + 1);
        expect(await market.orders.fireDueTransitions()).toBeGreaterThanOrEqual(1);
        expect(await market.orders.get(orderId)).toMatchObject({ state: 'cancelled' });
        // The worker's retry finds the authorization voided: the capture is refused and the saga compensates.
        await market.worker().runOnce();
        expect(await market.sagas.get(`checkout:${orderId}`)).toMatchObject({ status: 'compensated' });
        const after = psp.effects();
        expect(after.capturedMinor).toBe(before.capturedMinor);
        expect(after.openAuthorizedMinor).toBeLessThan(before.openAuthorizedMinor);
        expect(await market.listings.get(listingId)).toMatchObject({ reserved: 0, sold: 0 });
        await checkMarketInvariants(market);
      });

      it('voids an authorization that went through unseen once the reservation expired: nothing stays on hold', async () => {
        const listingId = await listing();
        const orderId = `ord-unseen-auth-${n}`;
        const before = psp.effects();
        psp.injectFault('authorize', 'errorAfterApply');
        await expect(checkout(orderId, listingId)).rejects.toMatchObject({ code: 'PROVIDER_TIMEOUT' });
        // The provider holds 40.00 for an order that does not know the authorization's id.
        expect(psp.effects().openAuthorizedMinor - before.openAuthorizedMinor).toBe(4000n);
        expect(await market.orders.get(orderId)).toMatchObject({ state: 'checkout', authorizationId: null });
        clock.advance(RESERVATION_MS + 1);
        expect(await market.orders.fireDueTransitions()).toBeGreaterThanOrEqual(1);
        expect(await market.orders.get(orderId)).toMatchObject({ state: 'cancelled' });
        // The saga's retry learns the authorization by replaying its key, voids it, and compensates.
        await market.worker().runOnce();
        expect(await market.sagas.get(`checkout:${orderId}`)).toMatchObject({
          status: 'compensated',
          lastError: { code: 'INVALID_TRANSITION' },
        });
        const after = psp.effects();
        expect(after.openAuthorizedMinor).toBe(before.openAuthorizedMinor);
        expect(after.counts.authorize - before.counts.authorize).toBe(1);
        expect(after.counts.void - before.counts.void).toBe(1);
        expect(after.capturedMinor).toBe(before.capturedMinor);
        expect(await market.listings.get(listingId)).toMatchObject({ reserved: 0, sold: 0 });
        await checkMarketInvariants(market);
      });

      it('never charges an order the buyer cancelled while its authorization was on the way: it is voided', async () => {
        const listingId = await listing();
        const orderId = `ord-cancel-race-${n}`;
        const before = psp.effects();
        psp.afterAuthorize = async () => {
          await market.orders.transition(orderId, 'cancelUnpaid', { actor: { role: 'buyer', id: 'alice' } });
        };
        await expect(checkout(orderId, listingId)).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
        expect(await market.orders.get(orderId)).toMatchObject({ state: 'cancelled', captureId: null });
        const after = psp.effects();
        expect(after.capturedMinor).toBe(before.capturedMinor);
        expect(after.counts.capture).toBe(before.counts.capture);
        expect(after.openAuthorizedMinor).toBe(before.openAuthorizedMinor);
        expect(after.counts.void - before.counts.void).toBe(1);
        expect(await market.sagas.get(`checkout:${orderId}`)).toMatchObject({ status: 'compensated' });
        expect(await market.listings.get(listingId)).toMatchObject({ reserved: 0, sold: 0 });
        expect((await market.orders.history(orderId)).map((e) => e.transition)).toEqual(['checkout', 'cancelUnpaid']);
        await checkMarketInvariants(market);
      });

      it('reports a checkout saga that disagrees with its order, and an order without one', async () => {
        const listingId = await listing();
        const orderId = `ord-audit-${n}`;
        psp.injectFault('authorize', 'timeout');
        await expect(checkout(orderId, listingId)).rejects.toMatchObject({ code: 'PROVIDER_TIMEOUT' });
        expect((await market.orders.verifyCheckouts()).ok).toBe(true);
        const db = new Kysely<Record<string, Record<string, unknown>>>({ dialect: database.adapter().dialect });
        const setStatus = (status: string) =>
          sql`update mk_saga_instances set status = ${status} where id = ${`checkout:${orderId}`}`.execute(db);
        try {
          await setStatus('completed');
          expect((await market.orders.verifyCheckouts()).problems).toEqual([
            `order ${orderId} (checkout), checkout saga completed: the saga completed but the order is still in checkout`,
            `order ${orderId} (checkout), checkout saga completed: the order's capture null is not the saga's undefined`,
          ]);
          await expect(checkMarketInvariants(market)).rejects.toThrow(/the saga completed/);
          await sql`update mk_saga_instances set id = 'moved' where id = ${`checkout:${orderId}`}`.execute(db);
          expect((await market.orders.verifyCheckouts()).problems).toEqual([
            `order ${orderId}: no checkout saga`,
            'checkout saga moved (completed): its order does not exist',
          ]);
          await sql`update mk_saga_instances set id = ${`checkout:${orderId}`} where id = 'moved'`.execute(db);
        } finally {
          await setStatus('running');
          await db.destroy();
        }
        expect((await market.orders.verifyCheckouts()).ok).toBe(true);
      });
    });
  }
}

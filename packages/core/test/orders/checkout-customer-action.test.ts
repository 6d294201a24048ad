/**
 * Payments that need the customer (3-D Secure): the checkout answers with the order in `awaitingCustomer` and the
 * client secret, its saga waits durably (polling the provider without spending its retry budget) and is woken by
 * `market.payments.customerActionCompleted`; the provider's status, never the event, decides: one capture at most,
 * a timeout cancels the order, voids the hold and releases the stock.
 */
import { createMarketplace, type Marketplace, Money, purchaseProcess } from '@marketkit/core';
import {
  checkMarketInvariants,
  ManualClock,
  SANDBOX_3DS_PAYMENT_METHOD,
  SandboxPaymentProvider,
  type TestDatabase,
  testBackends,
} from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CUSTOMER_MS = 30 * 60 * 1000;
const steps = (log: readonly { stepName: string; phase: string; outcome: string }[]) =>
  log.map((e) => `${e.stepName}:${e.phase}:${e.outcome}`);

for (const backend of testBackends()) {
  for (const stockStrategy of ['guardedUpdate', 'rowLock'] as const) {
    describe(`checkout needing the customer on ${backend.name} (${stockStrategy})`, () => {
      let database: TestDatabase;
      let market: Marketplace;
      const clock = new ManualClock();
      const psp = new SandboxPaymentProvider({ clock });
      let n = 0;

      beforeAll(async () => {
        database = await backend.createDatabase();
        market = createMarketplace({ adapter: database.adapter(), clock, payments: psp, listings: { stockStrategy } });
        await market.migrate();
      });
      afterAll(async () => {
        await market?.close();
        await database?.drop();
      });

      const listing = async () =>
        (
          await market.listings.create({
            sellerId: `seller-${++n}`,
            title: 'Lamp',
            price: Money.of('20.00', 'USD'),
            quantity: 5,
          })
        ).id;
      const checkout3ds = async (idempotencyKey?: string) => {
        const listingId = await listing();
        const orderId = `ord-3ds-${n}`;
        const order = await market.orders.checkout({
          orderId,
          buyerId: 'alice',
          listingId,
          quantity: 2,
          paymentMethod: SANDBOX_3DS_PAYMENT_METHOD,
          ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
        });
        return { order, orderId, listingId, authorizationId: order.authorizationId! };
      };
      const stock = async (listingId: string) => {
        const l = (await market.listings.get(listingId))!;
        return { reserved: l.reserved, sold: l.sold };
      };

      it('answers with the order awaiting the customer, the client secret and the stock reserved', async () => {
        const { order, orderId, listingId, authorizationId } = await checkout3ds(`key-${n + 1}`);
        expect(order.state).toBe('awaitingCustomer');
        expect(order.captureId).toBeNull();
        expect(order.customerAction).toEqual({ clientSecret: `${authorizationId}_secret_sandbox` });
        expect(await stock(listingId)).toEqual({ reserved: 2, sold: 0 });
        const saga = await market.sagas.get(`checkout:${orderId}`);
        expect(saga).toMatchObject({ status: 'running', stepIndex: 1, attempts: 0, leaseOwner: null, lastError: null });
        expect(steps(await market.sagas.history(`checkout:${orderId}`))).toEqual([
          'order:run:completed',
          'authorize:run:waiting',
        ]);
        // The buyer's page reads it back; a retry with the key replays it.
        expect((await market.orders.get(orderId))?.customerAction?.clientSecret).toBe(
          order.customerAction?.clientSecret,
        );
        const replay = await market.orders.checkout({
          orderId,
          buyerId: 'alice',
          listingId,
          quantity: 2,
          paymentMethod: SANDBOX_3DS_PAYMENT_METHOD,
          idempotencyKey: `key-${n}`,
        });
        expect(replay).toMatchObject({ id: orderId, state: 'awaitingCustomer', customerAction: order.customerAction });
        expect(psp.effects().counts.authorize).toBeGreaterThanOrEqual(1);
        await checkMarketInvariants(market);
      });

      it('captures once the customer acted and the event wakes it; duplicate, late and contrary events change nothing', async () => {
        const { orderId, listingId, authorizationId } = await checkout3ds();
        const captures = psp.effects().counts.capture;
        const captured = psp.effects().capturedMinor;
        // An event before the customer acted (out of order): the provider still says requires_action.
        const early = await market.payments.customerActionCompleted({ authorizationId, eventId: `evt-early-${n}` });
        expect(early).toMatchObject({ duplicate: false, order: { state: 'awaitingCustomer' } });
        expect(psp.completeCustomerAction(authorizationId, 'succeeded')).toBe('authorized');
        const done = await market.payments.customerActionCompleted({
          authorizationId,
          eventId: `evt-ok-${n}`,
          type: 'payment_intent.succeeded',
        });
        expect(done.duplicate).toBe(false);
        expect(done.order).toMatchObject({ state: 'paid', escrowBalance: Money.of('40.00', 'USD') });
        expect(done.order?.captureId).not.toBeNull();
        expect(await stock(listingId)).toEqual({ reserved: 0, sold: 2 });
        // The same event again: a duplicate, nothing runs.
        expect(await market.payments.customerActionCompleted({ authorizationId, eventId: `evt-ok-${n}` })).toEqual({
          duplicate: true,
          order: null,
        });
        // A failure after the success (out of order), by order id: the provider says authorized; nothing moves.
        expect(psp.completeCustomerAction(authorizationId, 'failed')).toBe('authorized');
        const late = await market.payments.customerActionCompleted({ orderId, eventId: `evt-failed-${n}` });
        expect(late.order).toMatchObject({ state: 'paid', captureId: done.order?.captureId });
        await market.worker().runOnce();
        expect(psp.effects().counts.capture).toBe(captures + 1);
        expect(psp.effects().capturedMinor - captured).toBe(4000n);
        expect((await market.sagas.get(`checkout:${orderId}`))?.status).toBe('completed');
        await checkMarketInvariants(market);
      });

      it('finishes by its own polling when no event comes, without spending its retry budget', async () => {
        const { orderId } = await checkout3ds();
        // Many polls while the customer dawdles: each a wait, never a failed attempt.
        for (let i = 0; i < 15; i++) {
          clock.advance(61_000);
          await market.worker().runOnce();
        }
        const waiting = await market.sagas.get(`checkout:${orderId}`);
        expect(waiting).toMatchObject({ status: 'running', attempts: 0 });
        expect((await market.orders.get(orderId))?.state).toBe('awaitingCustomer');
        psp.completeCustomerAction((await market.orders.get(orderId))!.authorizationId!, 'succeeded');
        clock.advance(61_000);
        await market.worker().runOnce();
        expect((await market.orders.get(orderId))?.state).toBe('paid');
        expect((await market.sagas.get(`checkout:${orderId}`))?.status).toBe('completed');
        await checkMarketInvariants(market);
      });

      it('cancels, voids the hold and releases the stock when the customer fails the action', async () => {
        const { orderId, listingId, authorizationId } = await checkout3ds();
        const open = psp.effects().openAuthorizedMinor;
        psp.completeCustomerAction(authorizationId, 'failed');
        const out = await market.payments.customerActionCompleted({ authorizationId, eventId: `evt-fail-${n}` });
        expect(out.order).toMatchObject({ state: 'cancelled', captureId: null });
        expect(await stock(listingId)).toEqual({ reserved: 0, sold: 0 });
        expect(psp.effects().openAuthorizedMinor).toBe(open - 4000n);
        expect((await market.sagas.get(`checkout:${orderId}`))?.status).toBe('compensated');
        await checkMarketInvariants(market);
      });

      it('times out: cancelled, hold voided, stock released; a customer acting after that captures nothing', async () => {
        const { orderId, listingId, authorizationId } = await checkout3ds();
        const captures = psp.effects().counts.capture;
        clock.advance(CUSTOMER_MS + 1);
        await market.worker().runOnce();
        await market.orders.fireDueTransitions();
        await market.worker().runOnce();
        const order = await market.orders.get(orderId);
        expect(order?.state).toBe('cancelled');
        expect(await stock(listingId)).toEqual({ reserved: 0, sold: 0 });
        expect(await psp.authorizationStatus(authorizationId)).toBe('canceled');
        // Design: the hold was voided, so the customer's late success cannot make it capturable; nothing is captured.
        expect(psp.completeCustomerAction(authorizationId, 'succeeded')).toBe('canceled');
        const late = await market.payments.customerActionCompleted({ authorizationId, eventId: `evt-late-${n}` });
        expect(late.order).toMatchObject({ state: 'cancelled', captureId: null });
        await market.worker().runOnce();
        expect(psp.effects().counts.capture).toBe(captures);
        expect((await market.sagas.get(`checkout:${orderId}`))?.status).toBe('compensated');
        await checkMarketInvariants(market);
      });

      it('captures once when two different events wake it at the same time', async () => {
        const { orderId, authorizationId } = await checkout3ds();
        const captures = psp.effects().counts.capture;
        psp.completeCustomerAction(authorizationId, 'succeeded');
        const [a, b] = await Promise.all([
          market.payments.customerActionCompleted({ authorizationId, eventId: `evt-a-${n}` }),
          market.payments.customerActionCompleted({ orderId, eventId: `evt-b-${n}` }),
        ]);
        expect([a.duplicate, b.duplicate]).toEqual([false, false]);
        await market.worker().runOnce();
        clock.advance(61_000);
        await market.worker().runOnce();
        expect((await market.orders.get(orderId))?.state).toBe('paid');
        expect(psp.effects().counts.capture).toBe(captures + 1);
        await checkMarketInvariants(market);
      });

      it('gives up by itself past the timeout when no timer cancelled the order: cancelled, hold voided', async () => {
        const { orderId, listingId, authorizationId } = await checkout3ds();
        clock.advance(CUSTOMER_MS + 10_000);
        // Woken before any worker fired the order's timer: the saga sees the deadline passed and compensates.
        const out = await market.payments.customerActionCompleted({ orderId });
        expect(out.order).toMatchObject({ state: 'cancelled', captureId: null });
        expect((await market.orders.history(orderId)).at(-1)?.transition).toBe('cancelUnpaid');
        expect(await psp.authorizationStatus(authorizationId)).toBe('canceled');
        expect(await stock(listingId)).toEqual({ reserved: 0, sold: 0 });
        expect((await market.sagas.get(`checkout:${orderId}`))?.status).toBe('compensated');
        await checkMarketInvariants(market);
      });

      it('validates the event and ignores one for an authorization it does not know', async () => {
        await expect(market.payments.customerActionCompleted({})).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
        await expect(
          market.payments.customerActionCompleted({ orderId: 'a', authorizationId: 'b' }),
        ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
        expect(await market.payments.customerActionCompleted({ authorizationId: 'auth_nobody' })).toEqual({
          duplicate: false,
          order: null,
        });
      });
    });
  }

  describe(`a process without a customer-action state on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    const psp = new SandboxPaymentProvider();

    beforeAll(async () => {
      database = await backend.createDatabase();
      const base = purchaseProcess();
      const process = {
        ...base,
        name: 'no-3ds',
        states: Object.fromEntries(Object.entries(base.states).filter(([s]) => s !== 'awaitingCustomer')),
        transitions: base.transitions
          .filter((t) => t.name !== 'awaitCustomer' && t.name !== 'expireCustomerAction')
          .map((t) => (t.name === 'confirmPayment' || t.name === 'cancelUnpaid' ? { ...t, from: 'checkout' } : t)),
      };
      market = createMarketplace({ adapter: database.adapter(), payments: psp, process });
      await market.migrate();
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    it('fails the checkout with CUSTOMER_ACTION_UNSUPPORTED and voids the hold', async () => {
      const listingId = (
        await market.listings.create({ sellerId: 's', title: 'Lamp', price: Money.of('20.00', 'USD'), quantity: 5 })
      ).id;
      await expect(
        market.orders.checkout({
          orderId: 'ord-no3ds',
          buyerId: 'alice',
          listingId,
          quantity: 1,
          paymentMethod: SANDBOX_3DS_PAYMENT_METHOD,
        }),
      ).rejects.toMatchObject({ code: 'CUSTOMER_ACTION_UNSUPPORTED' });
      expect((await market.orders.get('ord-no3ds'))?.state).toBe('cancelled');
      expect(psp.effects().openAuthorizedMinor).toBe(0n);
      expect((await market.listings.get(listingId))?.reserved).toBe(0);
      await checkMarketInvariants(market);
    });
  });
}

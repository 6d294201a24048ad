/**
 * Money the provider moved for a checkout is always accounted for: payment confirmation belongs to the checkout saga
 * (no role can fire it, `system` included), and a capture whose confirmation can no longer commit is refunded by
 * the saga's compensation, once, with what it did in its step log and an `order.paymentReversed` event.
 */
import {
  type ActorRole,
  createMarketplace,
  defineProcess,
  type Marketplace,
  Money,
  type OutboxEvent,
  purchaseProcess,
} from '@marketkit/core';
import { checkMarketInvariants, ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HookedProvider } from './fixtures/hooked-provider.js';

const ROLES: readonly ActorRole[] = ['buyer', 'seller', 'operator', 'system'];
const actorFor = (role: ActorRole) => ({ role, id: role === 'buyer' ? 'alice' : role === 'seller' ? 'bob' : role });

/** The default process, but a `cancelUnpaid` that only releases the stock (it knows nothing of the provider). */
const forgetfulCancel = () => {
  const p = purchaseProcess();
  return defineProcess({
    ...p,
    transitions: p.transitions.map((t) => (t.name === 'cancelUnpaid' ? { ...t, effects: ['releaseStock'] } : t)),
  });
};

for (const backend of testBackends()) {
  for (const variant of ['default', 'forgetful cancel'] as const) {
    describe(`money a checkout moved is accounted for on ${backend.name} (${variant} process)`, () => {
      let database: TestDatabase;
      let market: Marketplace;
      const clock = new ManualClock();
      const psp = new HookedProvider();
      const events: OutboxEvent[] = [];
      let listingId: string;
      let n = 0;

      beforeAll(async () => {
        database = await backend.createDatabase();
        market = createMarketplace({
          adapter: database.adapter(),
          clock,
          payments: psp,
          ...(variant === 'default' ? {} : { process: forgetfulCancel() }),
        });
        await market.migrate();
        market.events.onAny((e) => {
          events.push(e);
        });
        listingId = (
          await market.listings.create({
            sellerId: 'bob',
            title: 'Lamp',
            price: Money.of('20.00', 'USD'),
            quantity: 100,
          })
        ).id;
      });
      afterAll(async () => {
        await market?.close();
        await database?.drop();
      });
      beforeEach(() => {
        psp.clearFaults();
        psp.afterAuthorize = undefined;
        psp.afterCapture = undefined;
      });
      const checkout = (orderId: string) =>
        market.orders.checkout({ orderId, buyerId: 'alice', listingId, quantity: 1, paymentMethod: 'tok_visa' });
      const relayed = async (orderId: string) => {
        while ((await market.events.relay.runOnce()) > 0) {}
        return events.filter((e) => e.aggregateId === orderId).map((e) => e.type);
      };

      it('refuses confirmPayment through orders.transition for every role, and the checkout still pays once', async () => {
        const orderId = `engine-${n++}`;
        psp.injectFault('capture', 'error');
        await expect(checkout(orderId)).rejects.toMatchObject({ code: 'PROVIDER_ERROR' });
        const before = await market.orders.get(orderId);
        expect(before).toMatchObject({ state: 'checkout', captureId: null });
        expect(before?.escrowBalance.minor).toBe(0n);
        for (const role of ROLES) {
          await expect(
            market.orders.transition(orderId, 'confirmPayment', { actor: actorFor(role) }),
          ).rejects.toMatchObject({
            code: 'FORBIDDEN',
            details: { role, actorId: actorFor(role).id, operation: 'confirmPayment' },
          });
        }
        expect(await market.orders.get(orderId)).toEqual(before);
        expect(await market.orders.history(orderId)).toHaveLength(1);
        const captures = psp.effects().counts.capture;
        const paid = await checkout(orderId);
        expect(paid).toMatchObject({ state: 'paid', captureId: expect.any(String) });
        expect(paid.escrowBalance.minor).toBe(2000n);
        expect(psp.effects().counts.capture).toBe(captures + 1);
        await checkMarketInvariants(market, { provider: psp });
      });

      it('refunds, once, a capture whose confirmation was refused because the order was cancelled meanwhile', async () => {
        const orderId = `refused-${n++}`;
        const before = psp.effects();
        const listed = await market.listings.get(listingId);
        psp.afterCapture = async () => {
          await market.orders.transition(orderId, 'cancelUnpaid', { actor: actorFor('buyer') });
        };
        await expect(checkout(orderId)).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
        expect(await market.orders.get(orderId)).toMatchObject({ state: 'cancelled', captureId: null });
        const after = psp.effects();
        expect(after.capturedMinor - before.capturedMinor).toBe(2000n);
        expect(after.refundedMinor - before.refundedMinor).toBe(2000n);
        expect(after.counts.refund - before.counts.refund).toBe(1);
        expect(after.openAuthorizedMinor).toBe(before.openAuthorizedMinor);
        const saga = `checkout:${orderId}`;
        expect(await market.sagas.get(saga)).toMatchObject({ status: 'compensated' });
        const compensation = (await market.sagas.history(saga)).find((e) => e.phase === 'compensate');
        expect(compensation).toMatchObject({
          stepName: 'authorize',
          outcome: 'completed',
          detail: {
            cancelled: false,
            reversal: { action: 'refunded', captureId: expect.any(String), amountMinor: '2000' },
          },
        });
        expect(await relayed(orderId)).toContain('order.paymentReversed');
        expect(await market.listings.get(listingId)).toMatchObject({ sold: listed?.sold, reserved: 0 });
        await checkMarketInvariants(market, { provider: psp });
      });

      it('voids, once, an authorization the order never recorded when the order was cancelled meanwhile', async () => {
        const orderId = `unrecorded-${n++}`;
        const before = psp.effects();
        psp.afterAuthorize = async () => {
          await market.orders.transition(orderId, 'cancelUnpaid', { actor: actorFor('seller') });
        };
        await expect(checkout(orderId)).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
        const after = psp.effects();
        expect(after.counts.void - before.counts.void).toBe(1);
        expect(after.openAuthorizedMinor).toBe(before.openAuthorizedMinor);
        expect(after.capturedMinor).toBe(before.capturedMinor);
        expect(await relayed(orderId)).toContain('order.paymentReversed');
        await checkMarketInvariants(market, { provider: psp });
      });
    });
  }
}

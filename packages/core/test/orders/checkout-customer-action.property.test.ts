/**
 * Payments that need the customer, under any order of what the outside world does: the customer succeeding or
 * failing, provider events (duplicated, early, late, naming the authorization or the order), time passing, workers
 * and timers running. Whatever the sequence, the order ends paid with exactly one capture only where the provider
 * says the hold is authorized, or cancelled with nothing captured, the hold not left open and the stock released;
 * and the market's invariants hold.
 */
import { createMarketplace, type Marketplace, Money } from '@marketkit/core';
import {
  checkMarketInvariants,
  ManualClock,
  propertyRuns,
  SANDBOX_3DS_PAYMENT_METHOD,
  SandboxPaymentProvider,
  type TestDatabase,
  testBackends,
} from '@marketkit/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

type Step =
  | { readonly kind: 'customer'; readonly outcome: 'succeeded' | 'failed' }
  | { readonly kind: 'event'; readonly id: number; readonly by: 'authorization' | 'order' }
  | { readonly kind: 'advance'; readonly ms: number }
  | { readonly kind: 'worker' }
  | { readonly kind: 'timers' };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('customer' as const),
    outcome: fc.constantFrom('succeeded' as const, 'failed' as const),
  }),
  fc.record({
    kind: fc.constant('event' as const),
    id: fc.integer({ min: 0, max: 2 }),
    by: fc.constantFrom('authorization' as const, 'order' as const),
  }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(1000, 61_000, 10 * 60_000, 31 * 60_000) }),
  fc.record({ kind: fc.constant('worker' as const) }),
  fc.record({ kind: fc.constant('timers' as const) }),
);

for (const backend of testBackends()) {
  describe(`checkout needing the customer, any sequence of events, on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    const clock = new ManualClock();
    const psp = new SandboxPaymentProvider({ clock });
    let run = 0;

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), clock, payments: psp });
      await market.migrate();
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    it('captures at most once, only what the provider authorized; otherwise cancels with the hold not left open', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(step, { maxLength: 12 }), async (steps) => {
          run++;
          const listing = await market.listings.create({
            sellerId: `seller-${run}`,
            title: 'Lamp',
            price: Money.of('20.00', 'USD'),
            quantity: 3,
          });
          const orderId = `ord-p-${run}`;
          const placed = await market.orders.checkout({
            orderId,
            buyerId: 'alice',
            listingId: listing.id,
            quantity: 1,
            paymentMethod: SANDBOX_3DS_PAYMENT_METHOD,
          });
          expect(placed.state).toBe('awaitingCustomer');
          const authorizationId = placed.authorizationId!;
          const captures = psp.effects().counts.capture;
          for (const s of steps) {
            if (s.kind === 'customer') psp.completeCustomerAction(authorizationId, s.outcome);
            else if (s.kind === 'event')
              await market.payments.customerActionCompleted({
                ...(s.by === 'order' ? { orderId } : { authorizationId }),
                eventId: `evt-${run}-${s.id}`,
              });
            else if (s.kind === 'advance') clock.advance(s.ms);
            else if (s.kind === 'worker') await market.worker().runOnce();
            else await market.orders.fireDueTransitions();
          }
          // Then the world goes quiet: the customer's window passes, timers and workers finish what is left.
          clock.advance(31 * 60_000);
          for (let i = 0; i < 3; i++) {
            await market.orders.fireDueTransitions();
            await market.worker().runOnce();
            clock.advance(61_000);
          }
          const order = (await market.orders.get(orderId))!;
          const status = await psp.authorizationStatus(authorizationId);
          const captured = psp.effects().counts.capture - captures;
          const after = (await market.listings.get(listing.id))!;
          if (order.state === 'paid') {
            expect(status).toBe('authorized');
            expect(captured).toBe(1);
            expect(order.escrowBalance).toEqual(Money.of('20.00', 'USD'));
            expect([after.sold, after.reserved]).toEqual([1, 0]);
          } else {
            expect(order.state).toBe('cancelled');
            expect(captured).toBe(0);
            expect(['failed', 'canceled']).toContain(status);
            expect([after.sold, after.reserved]).toEqual([0, 0]);
          }
          expect((await market.sagas.get(`checkout:${orderId}`))?.status).toBe(
            order.state === 'paid' ? 'completed' : 'compensated',
          );
        }),
        { numRuns: propertyRuns(15) },
      );
      await checkMarketInvariants(market);
    });
  });
}

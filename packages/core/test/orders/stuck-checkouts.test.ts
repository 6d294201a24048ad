/**
 * `orders.stuckCheckouts()`: orders still awaiting payment once their window closed — in checkout past the reservation
 * window (from checkout), waiting for the customer past the customer-action window (from entering that state) — and
 * no other; and `events.backlog()`: the outbox events no sink has yet, counted exactly up to the cap.
 */
import { createMarketplace, hasErrorCode, type Marketplace, Money } from '@marketkit/core';
import {
  ManualClock,
  SANDBOX_3DS_PAYMENT_METHOD,
  SandboxPaymentProvider,
  type TestDatabase,
  testBackends,
} from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MINUTE = 60_000;
const RESERVATION_MS = 15 * MINUTE;
const CUSTOMER_MS = 30 * MINUTE;

for (const backend of testBackends()) {
  describe(`stuck checkouts and the outbox backlog on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    const clock = new ManualClock();
    const psp = new SandboxPaymentProvider({ clock });
    let listingId: string;

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), clock, payments: psp });
      await market.migrate();
      listingId = (
        await market.listings.create({ sellerId: 'bob', title: 'Lamp', price: Money.of('20.00', 'USD'), quantity: 50 })
      ).id;
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    const ids = async () => (await market.orders.stuckCheckouts()).map((s) => s.orderId);

    it('lists an order in checkout from the moment its reservation window closes, with how long ago', async () => {
      psp.injectFault('capture', 'timeout', 1000); // the saga waits to retry the capture: the order stays in checkout
      const at = clock.now();
      const refused = await market.orders
        .checkout({ orderId: 'ord-held', buyerId: 'alice', listingId, quantity: 1, paymentMethod: 'tok_visa' })
        .catch((e: unknown) => e);
      psp.clearFaults('capture');
      expect(hasErrorCode(refused, 'PROVIDER_TIMEOUT')).toBe(true);
      expect((await market.orders.get('ord-held'))?.state).toBe('checkout');
      await market.orders.checkout({
        orderId: 'ord-paid',
        buyerId: 'alice',
        listingId,
        quantity: 1,
        paymentMethod: 'tok_visa',
      });

      clock.set(at + RESERVATION_MS - 1);
      expect(await ids()).toEqual([]);
      clock.set(at + RESERVATION_MS);
      const [held, ...rest] = await market.orders.stuckCheckouts();
      expect(rest).toEqual([]);
      expect(held).toMatchObject({
        orderId: 'ord-held',
        state: 'checkout',
        buyerId: 'alice',
        sellerId: 'bob',
        listingId,
        createdAt: at,
        deadline: at + RESERVATION_MS,
        overdueMs: 0,
      });
      expect(held?.amount.equals(Money.of('20.00', 'USD'))).toBe(true);
      clock.advance(MINUTE);
      expect((await market.orders.stuckCheckouts({ limit: 1 }))[0]?.overdueMs).toBe(MINUTE);
    });

    it('lists an order waiting for the customer only once the customer-action window closes', async () => {
      const entered = clock.now();
      const order = await market.orders.checkout({
        orderId: 'ord-3ds',
        buyerId: 'carol',
        listingId,
        quantity: 1,
        paymentMethod: SANDBOX_3DS_PAYMENT_METHOD,
      });
      expect(order.state).toBe('awaitingCustomer');
      clock.set(entered + CUSTOMER_MS - 1);
      expect(await ids()).toEqual(['ord-held']);
      clock.set(entered + CUSTOMER_MS);
      expect(await ids()).toEqual(['ord-held', 'ord-3ds']);
      expect((await market.orders.stuckCheckouts({ limit: 1 })).map((s) => s.orderId)).toEqual(['ord-held']);
    });

    it('lists none once a worker has expired them', async () => {
      await market.orders.fireDueTransitions();
      expect((await market.orders.get('ord-held'))?.state).toBe('cancelled');
      expect((await market.orders.get('ord-3ds'))?.state).toBe('cancelled');
      expect(await ids()).toEqual([]);
    });

    it('counts the undelivered outbox events exactly, up to the cap, and none once the relay ran', async () => {
      const before = await market.events.backlog();
      expect(before.undelivered).toBeGreaterThan(2);
      expect(before.capped).toBe(false);
      expect(before.oldestAgeMs).toBe(await market.events.oldestUndeliveredAgeMs());
      expect(await market.events.backlog({ cap: 2 })).toEqual({
        undelivered: 2,
        capped: true,
        oldestAgeMs: before.oldestAgeMs,
      });
      expect(await market.events.backlog({ cap: before.undelivered + 1 })).toMatchObject({
        undelivered: before.undelivered,
        capped: false,
      });
      while ((await market.events.runOnce()) > 0);
      expect(await market.events.backlog()).toEqual({ undelivered: 0, capped: false, oldestAgeMs: null });
    });
  });
}

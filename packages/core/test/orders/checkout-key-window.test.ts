/**
 * A checkout idempotency key lives for the key window (`idempotency.ttlMs`, 24 h by default) and then counts as
 * never used, as the docs (and Stripe) say: inside the window it replays or refuses another request; past it, any
 * request with the key is a new checkout of a new order, swept or not.
 */
import { isReplayed, Money } from '@marketkit/core';
import { checkMarketInvariants, ManualClock, SandboxPaymentProvider, testBackends } from '@marketkit/testing';
import { describe, expect, it } from 'vitest';
import { useMarketWithListing } from './fixtures/market-with-listing.js';

const DAY = 24 * 3600 * 1000;
const MINUTE = 60 * 1000;

for (const backend of testBackends()) {
  for (const stockStrategy of ['guardedUpdate', 'rowLock'] as const) {
    describe(`checkout key window on ${backend.name} (${stockStrategy})`, () => {
      const clock = new ManualClock();
      const psp = new SandboxPaymentProvider();
      let n = 0;
      const f = useMarketWithListing(
        backend,
        { clock, payments: psp, listings: { stockStrategy } },
        { price: Money.of('10.00', 'USD'), quantity: 1000 },
      );
      const checkout = (idempotencyKey: string, quantity = 1) =>
        f.market.orders.checkout({
          buyerId: 'alice',
          listingId: f.listingId,
          quantity,
          paymentMethod: 'tok_visa',
          idempotencyKey,
        });

      it('replays the same request and refuses another one until the window is one minute from its end', async () => {
        const key = `k-inside-${n++}`;
        const first = await checkout(key);
        expect(isReplayed(first)).toBe(false);
        clock.advance(DAY - MINUTE);
        await f.market.idempotency.sweepExpired();
        const captures = psp.effects().counts.capture;
        await expect(checkout(key, 2)).rejects.toMatchObject({
          code: 'IDEMPOTENCY_KEY_REUSED',
          details: { key, actor: 'alice', operation: 'orders.checkout' },
        });
        const again = await checkout(key);
        expect(again).toEqual(first);
        expect(isReplayed(again)).toBe(true);
        expect(psp.effects().counts.capture).toBe(captures);
      });

      it('takes another request with the key one minute after the window as a new checkout of a new order', async () => {
        const key = `k-other-${n++}`;
        const first = await checkout(key);
        clock.advance(DAY + MINUTE);
        const captures = psp.effects().counts.capture;
        const second = await checkout(key, 2);
        expect(second).toMatchObject({ state: 'paid', quantity: 2 });
        expect(second.id).not.toBe(first.id);
        expect(isReplayed(second)).toBe(false);
        expect(psp.effects().counts.capture).toBe(captures + 1);
        // The first order is untouched; the key now names the second one.
        expect(await f.market.orders.get(first.id)).toMatchObject({ state: 'paid', quantity: 1 });
        const replay = await checkout(key, 2);
        expect(replay.id).toBe(second.id);
        expect(isReplayed(replay)).toBe(true);
      });

      it('takes the same request with the key one minute after the window as a new checkout, swept or not', async () => {
        for (const sweep of [false, true]) {
          const key = `k-same-${sweep}-${n++}`;
          const first = await checkout(key);
          clock.advance(DAY + MINUTE);
          if (sweep) expect(await f.market.idempotency.sweepExpired()).toBeGreaterThanOrEqual(1);
          const captures = psp.effects().counts.capture;
          const second = await checkout(key);
          expect(second).toMatchObject({ state: 'paid', quantity: 1 });
          expect(second.id).not.toBe(first.id);
          expect(isReplayed(second)).toBe(false);
          expect(psp.effects().counts.capture).toBe(captures + 1);
          // A third window names a third order.
          clock.advance(DAY + MINUTE);
          const third = await checkout(key);
          expect(new Set([first.id, second.id, third.id]).size).toBe(3);
        }
        await checkMarketInvariants(f.market, { provider: psp });
      });
    });
  }
}

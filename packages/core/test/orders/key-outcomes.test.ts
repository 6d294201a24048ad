/**
 * What an idempotency key stores, and what a replay says (Stripe's rule, docs/idempotency.md): a request refused
 * before it started executing stores nothing, so a corrected retry may use the key; an outcome reached while
 * executing is stored and replayed, errors included; every replay is marked (`isReplayed`), and a replay never turns
 * a failed checkout into a returned order.
 */
import { isMarketkitError, isReplayed, type MarketkitError, Money, STORED_UNDER_KEY } from '@marketkit/core';
import { checkMarketInvariants, ManualClock, SandboxPaymentProvider, testBackends } from '@marketkit/testing';
import { describe, expect, it } from 'vitest';
import { useMarketWithListing } from './fixtures/market-with-listing.js';

const RESERVATION_MS = 15 * 60 * 1000;
const seller = { role: 'seller', id: 'bob' } as const;
const caught = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as MarketkitError,
  );

for (const backend of testBackends()) {
  for (const stockStrategy of ['guardedUpdate', 'rowLock'] as const) {
    describe(`what a key stores and what a replay says on ${backend.name} (${stockStrategy})`, () => {
      const clock = new ManualClock();
      const psp = new SandboxPaymentProvider();
      let n = 0;
      const f = useMarketWithListing(
        backend,
        { clock, payments: psp, listings: { stockStrategy } },
        { price: Money.of('10.00', 'USD'), quantity: 50 },
      );
      const checkout = (idempotencyKey: string, over: Record<string, unknown> = {}) =>
        f.market.orders.checkout({
          buyerId: 'alice',
          listingId: f.listingId,
          quantity: 1,
          paymentMethod: 'tok_visa',
          idempotencyKey,
          ...over,
        });
      const record = (key: string, operation = 'orders.checkout', actor = 'alice') =>
        f.market.idempotency.inspect({ key, actor, operation });

      it('stores nothing for an unknown listing or missing stock: the corrected request checks out with the key', async () => {
        for (const [wrong, code] of [
          [{ listingId: 'lst_missing' }, 'NOT_FOUND'],
          [{ quantity: 51 }, 'INSUFFICIENT_STOCK'],
        ] as const) {
          const key = `k-corrected-${n++}`;
          const error = await caught(checkout(key, wrong));
          expect(error).toMatchObject({ code });
          expect(STORED_UNDER_KEY[error.code]).toBe(false);
          expect(await record(key)).toBeUndefined();
          const order = await checkout(key);
          expect(order).toMatchObject({ state: 'paid', quantity: 1 });
          expect(isReplayed(order)).toBe(false);
        }
      });

      it('stores a decline and replays it as the same error, marked as a replay, without calling the provider', async () => {
        const key = `k-declined-${n++}`;
        const first = await caught(checkout(key, { paymentMethod: 'tok_decline' }));
        expect(first).toMatchObject({ code: 'PAYMENT_DECLINED' });
        expect(isReplayed(first)).toBe(false);
        expect(await record(key)).toMatchObject({ status: 'failed' });
        const calls = psp.effects().calls.authorize;
        const replay = await caught(checkout(key, { paymentMethod: 'tok_decline' }));
        expect(replay).toMatchObject({ code: 'PAYMENT_DECLINED', message: first.message });
        expect(isReplayed(replay)).toBe(true);
        expect(psp.effects().calls.authorize).toBe(calls);
      });

      it('marks replays of checkouts, transitions, payouts and idempotency.execute, and never first runs', async () => {
        const key = `k-marks-${n++}`;
        const order = await checkout(key);
        const replayed = await checkout(key);
        expect([isReplayed(order), isReplayed(replayed)]).toEqual([false, true]);
        expect(replayed).toEqual(order);
        expect(JSON.stringify(replayed, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}` : v))).not.toContain(
          'replayed',
        );

        const ship = () =>
          f.market.orders.transition(order.id, 'ship', { actor: seller, idempotencyKey: `${key}-ship` });
        const shipped = await ship();
        expect([isReplayed(shipped), isReplayed(await ship())]).toEqual([false, true]);

        for (const t of ['deliver', 'confirm'] as const)
          await f.market.orders.transition(order.id, t, {
            actor: t === 'confirm' ? { role: 'buyer', id: 'alice' } : seller,
          });
        const payout = () =>
          f.market.payouts.request({
            sellerId: 'bob',
            currency: 'USD',
            amountMinor: 100n,
            destination: 'ba_bob',
            idempotencyKey: `${key}-payout`,
          });
        const paid = await payout();
        expect([isReplayed(paid), isReplayed(await payout())]).toEqual([false, true]);

        const call = { key: `${key}-exec`, actor: 'alice', operation: 'notes.add', request: { text: 'hi' } };
        const run = () => f.market.idempotency.execute(call, async () => ({ noted: true }));
        expect([isReplayed(await run()), isReplayed(await run())]).toEqual([false, true]);
        const detailed = () => f.market.idempotency.executeDetailed({ ...call, key: `${key}-n` }, async () => 42);
        expect(await detailed()).toEqual({ value: 42, replayed: false });
        expect(await detailed()).toEqual({ value: 42, replayed: true });
      });

      it('replays how a checkout failed, never the order it cancelled, once its reservation expired unpaid', async () => {
        const key = `k-failed-${n++}`;
        psp.injectFault('capture', 'error', 1000);
        try {
          await expect(checkout(key)).rejects.toMatchObject({ code: 'PROVIDER_ERROR', retryable: true });
          // The retryable error stored nothing: the retry resumes (and fails the same way) while the saga waits.
          await expect(checkout(key)).rejects.toMatchObject({ code: 'PROVIDER_ERROR' });
          clock.advance(RESERVATION_MS + 1);
          await f.market.worker().runOnce();
          for (let i = 0; i < 20; i++) {
            clock.advance(60_000);
            await f.market.worker().runOnce();
          }
        } finally {
          psp.clearFaults();
        }
        const first = await caught(checkout(key));
        expect(isMarketkitError(first)).toBe(true);
        expect(first).toMatchObject({ code: 'RESERVATION_EXPIRED', retryable: false });
        const second = await caught(checkout(key));
        expect(second).toMatchObject({ code: first.code });
        expect(isReplayed(second)).toBe(true);
        expect(psp.effects().openAuthorizedMinor).toBe(0n);
        await checkMarketInvariants(f.market, { provider: psp });
      });
    });
  }
}

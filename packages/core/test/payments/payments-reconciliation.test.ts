import {
  createMarketplace,
  type Marketplace,
  Money,
  type PaymentDiscrepancy,
  type PaymentEffect,
  type PaymentProvider,
} from '@marketkit/core';
import {
  checkMarketInvariants,
  httpPaymentProvider,
  ManualClock,
  SandboxPaymentProvider,
  serveSandbox,
  type TestDatabase,
  testBackends,
} from '@marketkit/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawSql } from '../invariants/raw-sql.js';
import { SkewingProvider } from './fixtures/skewing-provider.js';

const buyer = { role: 'buyer', id: 'alice' } as const;
const seller = { role: 'seller', id: 'bob' } as const;
const operator = { role: 'operator', id: 'ops' } as const;
const RESERVATION_MS = 15 * 60 * 1000;
const PRICE = 40_00n;

/** The fields a test asserts on, without messages and times. */
const brief = (d: PaymentDiscrepancy) => ({
  kind: d.kind,
  ...(d.orderId === undefined ? {} : { orderId: d.orderId }),
  ...(d.payoutId === undefined ? {} : { payoutId: d.payoutId }),
  ...(d.key === undefined ? {} : { key: d.key }),
  ...(d.amountMinor === undefined ? {} : { amountMinor: d.amountMinor }),
  ...(d.providerAmountMinor === undefined ? {} : { providerAmountMinor: d.providerAmountMinor }),
});

for (const backend of testBackends()) {
  describe(`payment reconciliation on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    const clock = new ManualClock();
    const psp = new SkewingProvider({ clock });
    let listingId: string;
    let n = 0;

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({
        adapter: database.adapter(),
        clock,
        payments: psp,
        commission: { kind: 'percentage', percent: '10' },
      });
      await market.migrate();
      listingId = (
        await market.listings.create({
          sellerId: 'bob',
          title: 'Lamp',
          price: Money.fromMinor(PRICE, 'USD'),
          quantity: 500,
        })
      ).id;
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    const nextId = (what: string) => `${what}-${backend.name}-${++n}`;
    const checkout = (orderId = nextId('ord'), paymentMethod = 'tok_visa') =>
      market.orders.checkout({ orderId, buyerId: 'alice', listingId, quantity: 1, paymentMethod });
    const complete = async (orderId: string) => {
      await market.orders.transition(orderId, 'ship', { actor: seller });
      await market.orders.transition(orderId, 'deliver', { actor: seller });
      await market.orders.transition(orderId, 'confirm', { actor: buyer });
    };
    /** Starts a window of its own: later than anything an earlier test did. */
    const openWindow = () => {
      clock.advance(24 * 3600 * 1000);
      return clock.now();
    };
    const reconcile = (from: number, provider?: PaymentProvider, pageSize?: number) =>
      market.payments.reconcile({
        from,
        to: clock.now() + 1,
        ...(provider === undefined ? {} : { provider }),
        ...(pageSize === undefined ? {} : { pageSize }),
      });
    /** A checkout the provider declines at authorization: the order is cancelled and no key but authorize is used. */
    const declinedOrder = async () => {
      const orderId = nextId('declined');
      psp.injectFault('authorize', 'decline');
      await expect(checkout(orderId)).rejects.toMatchObject({ code: 'PAYMENT_DECLINED' });
      expect(await market.orders.get(orderId)).toMatchObject({ state: 'cancelled' });
      return orderId;
    };

    it('reports nothing on a clean run of checkouts, refunds, cancellations, expiries and payouts', async () => {
      const from = openWindow();
      const completed = await checkout();
      await complete(completed.id);
      const cancelled = await checkout();
      await market.orders.transition(cancelled.id, 'cancel', { actor: buyer });
      const partial = await checkout();
      await market.orders.transition(partial.id, 'refundPartial', { actor: seller, amountMinor: 5_00n });
      const split = await checkout();
      await market.orders.transition(split.id, 'ship', { actor: seller });
      await market.orders.transition(split.id, 'openDispute', { actor: buyer });
      await market.orders.transition(split.id, 'resolveSplit', { actor: operator, buyerPercent: 30 });
      await declinedOrder();
      psp.injectFault('capture', 'decline'); // authorized, then the capture is refused: the saga voids the hold
      await expect(checkout()).rejects.toMatchObject({ code: 'PAYMENT_DECLINED' });
      psp.injectFault('capture', 'errorAfterApply'); // captured, reported as a timeout: a worker confirms it
      const resumed = nextId('resumed');
      await expect(checkout(resumed)).rejects.toMatchObject({ code: 'PROVIDER_TIMEOUT' });
      clock.advance(61_000);
      await market.worker().runOnce();
      expect(await market.orders.get(resumed)).toMatchObject({ state: 'paid' });
      psp.injectFault('capture', 'errorAfterApply'); // captured unseen, then the reservation expires: refunded
      const capturedUnseen = nextId('captured-unseen');
      await expect(checkout(capturedUnseen)).rejects.toMatchObject({ code: 'PROVIDER_TIMEOUT' });
      psp.injectFault('capture', 'error'); // left in checkout with its authorization until the reservation expires
      const expired = nextId('expired');
      await expect(checkout(expired)).rejects.toMatchObject({ code: 'PROVIDER_ERROR' });
      clock.advance(RESERVATION_MS + 1);
      await market.orders.fireDueTransitions();
      await market.worker().runOnce();
      expect(await market.orders.get(capturedUnseen)).toMatchObject({ state: 'cancelled', captureId: null });
      expect(await market.orders.get(expired)).toMatchObject({ state: 'cancelled' });
      await market.payouts.request({ sellerId: 'bob', currency: 'USD', amountMinor: 10_00n, destination: 'ba_bob' });
      await expect(
        market.payouts.request({ sellerId: 'bob', currency: 'USD', amountMinor: 10n ** 9n, destination: 'ba_bob' }),
      ).rejects.toMatchObject({ code: 'INSUFFICIENT_FUNDS' });

      const report = await reconcile(from);
      expect(report.discrepancies).toEqual([]);
      expect(report).toMatchObject({ ok: true, from, asOf: clock.now() });
      expect(report.checked).toMatchObject({ captures: 6, refunds: 4, payouts: 1, orders: 9, localPayouts: 1 });
      // The same over the sandbox's HTTP bridge, and through the checkers.
      const server = await serveSandbox(psp);
      try {
        expect((await reconcile(from, httpPaymentProvider(server.url))).discrepancies).toEqual([]);
      } finally {
        await server.close();
      }
      await checkMarketInvariants(market, { provider: psp });
    });

    it('reports a capture the provider made under an order key that no order records', async () => {
      const from = openWindow();
      const orderId = await declinedOrder();
      // A second authorization for the same order (a key the checkout never uses), captured under the order's key.
      const { authorizationId } = await psp.authorize({
        idempotencyKey: `${orderId}:manual-authorize`,
        amountMinor: PRICE,
        currency: 'USD',
        paymentMethod: 'tok_visa',
        reference: orderId,
      });
      const { captureId } = await psp.capture({
        idempotencyKey: `${orderId}:capture`,
        authorizationId,
        amountMinor: PRICE,
        currency: 'USD',
      });
      const report = await reconcile(from);
      expect(report.ok).toBe(false);
      expect(report.discrepancies.map(brief)).toEqual([
        { kind: 'capture_not_recorded', orderId, key: `${orderId}:capture`, amountMinor: PRICE },
      ]);
      expect(report.discrepancies[0]).toMatchObject({ providerObjectId: captureId, currency: 'USD' });
      await expect(checkMarketInvariants(market, { provider: psp })).rejects.toThrow(/capture_not_recorded/);
      // Refunded in full under the key a checkout gives back an unrecorded capture with: nothing left to report.
      await psp.refund({
        idempotencyKey: `${orderId}:checkout:refund`,
        captureId,
        amountMinor: PRICE,
        currency: 'USD',
      });
      expect((await reconcile(from)).discrepancies).toEqual([]);
    });

    it('reports authorizations left open: on a terminal order, on no order, and past the reservation window', async () => {
      const from = openWindow();
      const cancelled = await declinedOrder();
      await psp.authorize({
        idempotencyKey: `${cancelled}:authorize-again`,
        amountMinor: PRICE,
        currency: 'USD',
        paymentMethod: 'tok_visa',
        reference: cancelled,
      });
      await psp.authorize({
        idempotencyKey: 'ord-nobody:authorize',
        amountMinor: 7_00n,
        currency: 'USD',
        paymentMethod: 'tok_visa',
        reference: 'ord-nobody',
      });
      psp.injectFault('capture', 'error');
      const waiting = nextId('waiting');
      await expect(checkout(waiting)).rejects.toMatchObject({ code: 'PROVIDER_ERROR' });
      // Young: only the authorization whose order is already cancelled is wrong.
      expect((await reconcile(from)).discrepancies.map(brief)).toEqual([
        {
          kind: 'authorization_left_open',
          orderId: cancelled,
          key: `${cancelled}:authorize-again`,
          amountMinor: PRICE,
        },
      ]);
      clock.advance(RESERVATION_MS + 1);
      expect((await reconcile(from)).discrepancies.map(brief)).toEqual([
        { kind: 'authorization_left_open', key: 'ord-nobody:authorize', amountMinor: 7_00n },
        {
          kind: 'authorization_left_open',
          orderId: cancelled,
          key: `${cancelled}:authorize-again`,
          amountMinor: PRICE,
        },
        { kind: 'authorization_left_open', orderId: waiting, key: `${waiting}:authorize`, amountMinor: PRICE },
      ]);
      // The reservation timer cancels the waiting order and voids its hold; the other two stay reported.
      await market.orders.fireDueTransitions();
      await market.worker().runOnce();
      expect((await reconcile(from)).discrepancies.map((d) => d.key)).toEqual([
        'ord-nobody:authorize',
        `${cancelled}:authorize-again`,
      ]);
    });

    it('reports refunds and payouts the provider made that nothing records', async () => {
      const from = openWindow();
      const order = await checkout();
      const captureId = order.captureId as string;
      // The key the order's next transition (event 3) would refund with, used by someone else first.
      const refundKey = `${order.id}:3:refund:refundBuyerPartial`;
      await psp.refund({ idempotencyKey: refundKey, captureId, amountMinor: 3_00n, currency: 'USD' });
      await psp.refund({ idempotencyKey: 'dashboard-refund-1', captureId, amountMinor: 2_00n, currency: 'USD' });
      await psp.payout({ idempotencyKey: 'po-by-hand', destination: 'ba_x', amountMinor: 9_00n, currency: 'USD' });
      const report = await reconcile(from);
      expect(report.discrepancies.map(brief)).toEqual([
        { kind: 'refund_not_recorded', key: 'dashboard-refund-1', amountMinor: 2_00n },
        { kind: 'refund_not_recorded', orderId: order.id, key: refundKey, amountMinor: 3_00n },
        { kind: 'payout_not_recorded', payoutId: 'po-by-hand', key: 'po-by-hand', amountMinor: 9_00n },
      ]);
    });

    it('reports captures, refunds and payouts the provider does not have', async () => {
      const from = openWindow();
      const order = await checkout();
      await market.orders.transition(order.id, 'refundPartial', { actor: seller, amountMinor: 4_00n });
      await complete(order.id);
      const payout = await market.payouts.request({
        sellerId: 'bob',
        currency: 'USD',
        amountMinor: 1_00n,
        destination: 'ba_bob',
      });
      expect((await reconcile(from)).ok).toBe(true);
      // Reconciled against a provider account that never saw these effects (the wrong account, or lost records).
      const report = await reconcile(from, new SandboxPaymentProvider({ clock }));
      expect(report.discrepancies.map(brief)).toEqual([
        { kind: 'capture_missing_at_provider', orderId: order.id, key: `${order.id}:capture`, amountMinor: PRICE },
        { kind: 'refund_missing_at_provider', orderId: order.id, amountMinor: 4_00n },
        { kind: 'payout_missing_at_provider', payoutId: payout.id, key: payout.id, amountMinor: 1_00n },
      ]);
      expect(report.discrepancies[1]).toMatchObject({ localId: `${order.id}:refund:3` });
    });

    it('reports captures, refunds and payouts of another amount than recorded', async () => {
      const from = openWindow();
      psp.skewMinor = 1n; // the provider moves one minor unit less than asked, on every call
      try {
        const order = await checkout();
        await market.orders.transition(order.id, 'refundPartial', { actor: seller, amountMinor: 4_00n });
        await complete(order.id);
        const payout = await market.payouts.request({
          sellerId: 'bob',
          currency: 'USD',
          amountMinor: 2_00n,
          destination: 'ba_bob',
        });
        const report = await reconcile(from);
        expect(report.discrepancies.map(brief)).toEqual([
          {
            kind: 'capture_mismatch',
            orderId: order.id,
            key: `${order.id}:capture`,
            amountMinor: PRICE,
            providerAmountMinor: PRICE - 1n,
          },
          {
            kind: 'refund_mismatch',
            orderId: order.id,
            key: `${order.id}:3:refund:refundBuyerPartial`,
            amountMinor: 4_00n,
            providerAmountMinor: 3_99n,
          },
          {
            kind: 'payout_mismatch',
            payoutId: payout.id,
            key: payout.id,
            amountMinor: 2_00n,
            providerAmountMinor: 1_99n,
          },
        ]);
      } finally {
        psp.skewMinor = 0n;
      }
    });

    it('reports local records changed by hand: a capture id, a refund amount, a payout amount', async () => {
      const from = openWindow();
      const order = await checkout();
      await market.orders.transition(order.id, 'refundPartial', { actor: seller, amountMinor: 4_00n });
      await complete(order.id);
      const payout = await market.payouts.request({
        sellerId: 'bob',
        currency: 'USD',
        amountMinor: 3_00n,
        destination: 'ba_bob',
      });
      expect((await reconcile(from)).discrepancies).toEqual([]);
      const raw = rawSql(database);
      const refundId = `${order.id}:refund:3`;
      try {
        await raw.run(sql`update mk_orders set capture_id = 'ch_forged' where id = ${order.id}`);
        await raw.run(sql`update mk_transfers set amount = amount + 1 where id = ${refundId}`);
        await raw.run(sql`update mk_payouts set amount_minor = amount_minor + 2 where id = ${payout.id}`);
        const report = await reconcile(from);
        expect(report.discrepancies.map(brief)).toEqual([
          {
            kind: 'capture_mismatch',
            orderId: order.id,
            key: `${order.id}:capture`,
            amountMinor: PRICE,
            providerAmountMinor: PRICE,
          },
          {
            kind: 'refund_mismatch',
            orderId: order.id,
            key: `${order.id}:3:refund:refundBuyerPartial`,
            amountMinor: 4_01n,
            providerAmountMinor: 4_00n,
          },
          {
            kind: 'payout_mismatch',
            payoutId: payout.id,
            key: payout.id,
            amountMinor: 3_02n,
            providerAmountMinor: 3_00n,
          },
        ]);
        expect(report.discrepancies[0]?.message).toContain(
          `Order ${order.id}: escrow records a capture of 4000 USD (ch_forged)`,
        );
        expect(report.discrepancies[1]).toMatchObject({ localId: refundId });
        await expect(checkMarketInvariants(market, { provider: psp })).rejects.toThrow(
          `payments capture_mismatch: Order ${order.id}`,
        );
      } finally {
        await raw.run(sql`update mk_orders set capture_id = ${order.captureId} where id = ${order.id}`);
        await raw.run(sql`update mk_transfers set amount = amount - 1 where id = ${refundId}`);
        await raw.run(sql`update mk_payouts set amount_minor = amount_minor - 2 where id = ${payout.id}`);
        await raw.close();
      }
      expect((await reconcile(from)).discrepancies).toEqual([]);
    });

    it('pages through many effects with a small page size, in the window and by key', async () => {
      const from = openWindow();
      const ids: string[] = [];
      for (let i = 0; i < 12; i++) {
        const order = await checkout();
        ids.push(order.id);
        if (i % 3 === 0) await market.orders.transition(order.id, 'cancel', { actor: buyer });
        clock.advance(1000);
      }
      const small = await reconcile(from, undefined, 2);
      const large = await reconcile(from, undefined, 1000);
      expect(small.discrepancies).toEqual([]);
      expect(small.checked).toMatchObject({ authorizations: 12, captures: 12, refunds: 4, orders: 12 });
      expect(small.checked).toEqual({ ...large.checked, pages: small.checked.pages });
      expect(small.checked.pages).toBeGreaterThan(14); // 28 effects at 2 a page, then the lookups by key
      // The provider's pages themselves: every effect once, in order, whatever the page size.
      const listAll = async (provider: PaymentProvider, limit: number) => {
        const out: PaymentEffect[] = [];
        let cursor: string | undefined;
        do {
          const page = await provider.listEffects!({ from, to: clock.now() + 1, limit, ...(cursor ? { cursor } : {}) });
          expect(page.effects.length).toBeLessThanOrEqual(limit);
          out.push(...page.effects);
          cursor = page.nextCursor ?? undefined;
        } while (cursor !== undefined);
        return out;
      };
      const all = await listAll(psp, 1000);
      expect(all).toHaveLength(28);
      expect(await listAll(psp, 3)).toEqual(all);
      const server = await serveSandbox(psp);
      try {
        expect(await listAll(httpPaymentProvider(server.url), 5)).toEqual(all);
      } finally {
        await server.close();
      }
      const byKey = await psp.listEffects({ keys: [`${ids[0]}:capture`, `${ids[1]}:authorize`], limit: 1 });
      expect(byKey.effects).toMatchObject([{ type: 'capture', idempotencyKey: `${ids[0]}:capture` }]);
      const rest = await psp.listEffects({
        keys: [`${ids[0]}:capture`, `${ids[1]}:authorize`],
        limit: 1,
        cursor: byKey.nextCursor!,
      });
      expect(rest).toMatchObject({
        effects: [{ type: 'authorization', status: 'captured', reference: ids[1] }],
        nextCursor: null,
      });
    });

    it('rejects a bad window and a provider that cannot list its effects', async () => {
      const bad = [
        { from: 10, to: 5 },
        { from: -1, to: 5 },
        { from: 0, to: 1.5 },
        { from: 0 },
        { from: '0', to: 5 },
        { from: 0, to: 5, pageSize: 0 },
        { from: 0, to: 5, pageSize: 1001 },
        { from: 0, to: 5, extra: true },
        { from: 0, to: 5, provider: {} },
      ];
      for (const input of bad) {
        await expect(market.payments.reconcile(input as never)).rejects.toMatchObject({
          code: 'VALIDATION_FAILED',
          retryable: false,
        });
      }
      const blind: PaymentProvider = {
        name: 'blind',
        authorize: (r) => psp.authorize(r),
        capture: (r) => psp.capture(r),
        void: (r) => psp.void(r),
        refund: (r) => psp.refund(r),
        payout: (r) => psp.payout(r),
      };
      await expect(market.payments.reconcile({ from: 0, to: 5, provider: blind })).rejects.toMatchObject({
        code: 'PROVIDER_CAPABILITY_MISSING',
        retryable: false,
        details: { method: 'listEffects' },
      });
    });
  });
}

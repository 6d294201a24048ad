import {
  ANALYTICS_LIMITS,
  createMarketplace,
  ESCROW_CODES,
  escrowAccounts,
  type Marketplace,
  Money,
  purchaseProcess,
} from '@marketkit/core';
import { ManualClock, SandboxPaymentProvider, type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Edge cases of analytics.daily: day boundaries to the millisecond, an empty range, commission given back, and input
// it refuses. The random histories are in analytics-daily.property.test.ts.
const DAY = 24 * 3600 * 1000;
const DAY1 = Date.UTC(2026, 4, 10);
const PRICE = 40_00n;
const PARTIAL = 10_00n;
const FEE = 3_00n; // 10 % of the 30.00 released

for (const backend of testBackends()) {
  describe(`analytics.daily edges on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    const clock = new ManualClock(DAY1 + DAY - 1); // the last millisecond of day 1
    const daily = (from: number, to: number, currency?: string) =>
      market.analytics.daily({
        from: new Date(from),
        to: new Date(to),
        ...(currency === undefined ? {} : { currency }),
      });

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({
        adapter: database.adapter(),
        clock,
        payments: new SandboxPaymentProvider(),
        process: purchaseProcess({ autoCompleteMs: 365 * DAY }),
        commission: { kind: 'percentage', percent: '10' },
      });
      await market.migrate();
      const listing = await market.listings.create({
        sellerId: 'bob',
        title: 'Lamp',
        price: Money.fromMinor(PRICE, 'USD'),
        quantity: 5,
      });
      const seller = { actor: { role: 'seller', id: 'bob' } } as const;
      // paid at 23:59:59.999 of day 1; partly refunded at 00:00 of day 2; released at 00:00 of day 3
      const order = await market.orders.checkout({
        buyerId: 'al',
        listingId: listing.id,
        quantity: 1,
        paymentMethod: 'tok_visa',
      });
      clock.advance(1);
      await market.orders.transition(order.id, 'refundPartial', { ...seller, amountMinor: PARTIAL });
      await market.orders.transition(order.id, 'ship', seller);
      await market.orders.transition(order.id, 'deliver', seller);
      await market.orders.transition(order.id, 'openDispute', { actor: { role: 'buyer', id: 'al' } });
      clock.set(DAY1 + 2 * DAY);
      await market.orders.transition(order.id, 'resolveRelease', { actor: { role: 'operator', id: 'op' } });
      // day 4: the platform gives 1.00 of its commission back through the ledger
      clock.set(DAY1 + 3 * DAY + 5);
      const [given] = await market.ledger.createTransfers([
        {
          id: 'goodwill-1',
          debitAccountId: escrowAccounts.commission('USD'),
          creditAccountId: escrowAccounts.clearing('USD'),
          amount: 1_00n,
          currency: 'USD',
          code: ESCROW_CODES.refund,
        },
      ]);
      expect(given?.result).toBe('ok');
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    it('puts each figure on its UTC day, to the millisecond', async () => {
      const days = await daily(DAY1 - DAY, DAY1 + 5 * DAY);
      const held = PRICE - PARTIAL;
      expect(days.map((d) => [d.day, d.gmv, d.refunds.amount, d.disputes.count, d.commission, d.netRevenue])).toEqual([
        ['2026-05-10', PRICE, 0n, 0, 0n, 0n],
        ['2026-05-11', 0n, PARTIAL, 1, 0n, 0n],
        ['2026-05-12', 0n, 0n, 0, FEE, FEE],
        ['2026-05-13', 0n, 0n, 0, 0n, -1_00n],
      ]);
      expect(days.map((d) => [d.escrowOutstanding, d.escrowOldestAgeMs])).toEqual([
        [PRICE, 1],
        [held, DAY + 1],
        [0n, null],
        [0n, null],
      ]);
      expect(days[0]?.takeRate).toBe('0.0000'); // a paid day without commission; '0' is for a day without GMV
      expect(days[1]).toMatchObject({ refunds: { count: 1, rate: '0' }, disputes: { amount: PRICE, rate: '0' } });
      expect(days[2]).toMatchObject({ commissionRefunded: 0n, takeRate: '0' });
      expect(days[3]).toMatchObject({ commissionRefunded: 1_00n });
    });

    it('reads the stocks at the end of the range’s first day from everything before it', async () => {
      const [day2] = await daily(DAY1 + DAY, DAY1 + 2 * DAY);
      expect(day2).toMatchObject({ day: '2026-05-11', escrowOutstanding: PRICE - PARTIAL, escrowOldestAgeMs: DAY + 1 });
    });

    it('answers an empty list for a range or a currency without activity', async () => {
      expect(await daily(DAY1 - 30 * DAY, DAY1)).toEqual([]);
      expect(await daily(DAY1 + 4 * DAY, DAY1 + 4 * DAY + ANALYTICS_LIMITS.maxDays * DAY)).toEqual([]);
      expect(await daily(DAY1 - DAY, DAY1 + 5 * DAY, 'EUR')).toEqual([]);
    });

    it('refuses bad ranges with VALIDATION_FAILED', async () => {
      const bad: unknown[] = [
        { from: new Date(DAY1), to: new Date(DAY1) },
        { from: new Date(DAY1 + DAY), to: new Date(DAY1) },
        { from: new Date(DAY1 + 1), to: new Date(DAY1 + DAY) },
        { from: new Date(DAY1), to: new Date(DAY1 + DAY - 1) },
        { from: new Date(DAY1), to: new Date(DAY1 + (ANALYTICS_LIMITS.maxDays + 1) * DAY) },
        { from: new Date(Number.NaN), to: new Date(DAY1) },
        { from: new Date(-DAY), to: new Date(DAY1) },
        { from: DAY1, to: DAY1 + DAY },
        { from: new Date(DAY1), to: new Date(DAY1 + DAY), currency: 'usd' },
        { from: new Date(DAY1), to: new Date(DAY1 + DAY), currency: 'XXQ' },
        { from: new Date(DAY1), to: new Date(DAY1 + DAY), extra: 1 },
        undefined,
      ];
      for (const input of bad) {
        await expect(market.analytics.daily(input as never), JSON.stringify(input)).rejects.toMatchObject({
          code: 'VALIDATION_FAILED',
        });
      }
      await expect(daily(DAY1, DAY1 + ANALYTICS_LIMITS.maxDays * DAY)).resolves.toHaveLength(4);
    });
  });
}

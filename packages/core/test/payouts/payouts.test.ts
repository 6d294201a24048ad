import { createMarketplace, escrowAccounts, isMarketkitError, type Marketplace } from '@marketkit/core';
import {
  checkMarketInvariants,
  ManualClock,
  SandboxPaymentProvider,
  type TestDatabase,
  testBackends,
} from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completedSale } from './completed-sale.js';

for (const backend of testBackends()) {
  describe(`payouts on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    const psp = new SandboxPaymentProvider();
    const clock = new ManualClock();

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({
        adapter: database.adapter(),
        clock,
        payments: psp,
        commission: { kind: 'fixed', amountMinor: 0n },
      });
      await market.migrate();
      await completedSale(market);
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    const balance = async () => {
      const a = await market.ledger.getAccount(escrowAccounts.seller('bob', 'USD'));
      return (a?.creditsPosted ?? 0n) - (a?.debitsPosted ?? 0n) - (a?.debitsPending ?? 0n);
    };

    it('never pays out more than the available balance, even concurrently', async () => {
      expect(await balance()).toBe(100_00n);
      const outcomes = await Promise.all(
        [1, 2, 3].map((i) =>
          market.payouts
            .request({
              payoutId: `race-${i}`,
              sellerId: 'bob',
              currency: 'USD',
              amountMinor: 40_00n,
              destination: 'ba_bob',
            })
            .then(
              (p) => p.status,
              (e: unknown) => (isMarketkitError(e) ? e.code : String(e)),
            ),
        ),
      );
      expect(outcomes.filter((o) => o === 'paid')).toHaveLength(2);
      expect(outcomes.filter((o) => o === 'INSUFFICIENT_FUNDS')).toHaveLength(1);
      expect(await balance()).toBe(20_00n);
      expect(psp.effects().paidOutMinor).toBe(80_00n);
      await checkMarketInvariants(market);
    });

    it('voids the hold when the provider declines, and retries after a timeout without paying twice', async () => {
      psp.injectFault('payout', 'decline');
      await expect(
        market.payouts.request({
          payoutId: 'declined',
          sellerId: 'bob',
          currency: 'USD',
          amountMinor: 5_00n,
          destination: 'ba_bob',
        }),
      ).rejects.toMatchObject({ code: 'PAYMENT_DECLINED' });
      expect(await balance()).toBe(20_00n);
      psp.injectFault('payout', 'errorAfterApply');
      await expect(
        market.payouts.request({
          payoutId: 'flaky',
          sellerId: 'bob',
          currency: 'USD',
          amountMinor: 5_00n,
          destination: 'ba_bob',
        }),
      ).rejects.toMatchObject({ code: 'PROVIDER_TIMEOUT' });
      expect(await market.payouts.get('declined')).toMatchObject({
        status: 'failed',
        failure: expect.stringMatching(/declin/i),
      });
      expect((await market.sagas.get('payout:declined'))?.status).toBe('compensated');
      expect((await market.payouts.get('flaky'))?.status).toBe('requested');
      const waiting = await market.sagas.get('payout:flaky');
      expect(waiting).toMatchObject({ status: 'running', attempts: 1 });
      // a worker retries it once the durable backoff has passed, with the same idempotency key
      await market.worker().runOnce();
      expect(await market.sagas.get('payout:flaky')).toMatchObject({ status: 'running', attempts: 1 }); // not due yet
      clock.advance(waiting!.nextRunAt! - clock.now());
      await market.worker().runOnce();
      expect((await market.payouts.get('flaky'))?.status).toBe('paid');
      expect(psp.effects().paidOutMinor).toBe(85_00n);
      expect(psp.effects().counts.payout).toBe(3);
      expect(await balance()).toBe(15_00n);
      expect((await market.sagas.history('payout:flaky')).map((e) => `${e.stepName}:${e.outcome}`)).toEqual([
        'hold:completed',
        'send:retrying',
        'send:completed',
        'settle:completed',
      ]);
      await checkMarketInvariants(market);
    });

    it('answers a repeated request from the stored outcome and refuses a changed one', async () => {
      const request = {
        payoutId: 'again',
        sellerId: 'bob',
        currency: 'USD',
        amountMinor: 1_00n,
        destination: 'ba_bob',
      };
      const first = await market.payouts.request(request);
      expect(first.status).toBe('paid');
      const calls = psp.effects().counts.payout;
      expect(await market.payouts.request(request)).toEqual(first);
      expect(psp.effects().counts.payout).toBe(calls);
      await expect(market.payouts.request({ ...request, amountMinor: 2_00n })).rejects.toMatchObject({
        code: 'IDEMPOTENCY_KEY_REUSED',
      });
      const tooMuch = { ...request, payoutId: 'too-much', amountMinor: 1_000_00n };
      await expect(market.payouts.request(tooMuch)).rejects.toMatchObject({ code: 'INSUFFICIENT_FUNDS' });
      await expect(market.payouts.request(tooMuch)).rejects.toMatchObject({ code: 'INSUFFICIENT_FUNDS' });
      expect(await market.payouts.get('too-much')).toBeUndefined(); // nothing held, nothing recorded
      expect(psp.effects().counts.payout).toBe(calls);
      await expect(market.payouts.request({ ...request, amountMinor: -1n })).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
      });
      // an idempotency key (without payoutId) names one payout per seller and key
      const { payoutId: _, ...keyed } = { ...request, idempotencyKey: 'weekly-payout-7' };
      const k1 = await market.payouts.request(keyed);
      expect(await market.payouts.request(keyed)).toEqual(k1);
      expect(psp.effects().counts.payout).toBe(calls + 1);
      await expect(market.payouts.request({ ...keyed, currency: 'EUR' })).rejects.toMatchObject({
        code: 'IDEMPOTENCY_KEY_REUSED',
      });
      await checkMarketInvariants(market);
    });
  });
}

import { createMarketplace, ERROR_CODES, escrowAccounts, isMarketkitError, type Marketplace } from '@marketkit/core';
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
  describe(`stored payout destinations on ${backend.name}`, () => {
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
      // Bob sells a desk for 100.00 and the order completes: 100.00 on his balance.
      await completedSale(market);
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    const balance = async (sellerId = 'bob') => {
      const a = await market.ledger.getAccount(escrowAccounts.seller(sellerId, 'USD'));
      return (a?.creditsPosted ?? 0n) - (a?.debitsPosted ?? 0n) - (a?.debitsPending ?? 0n);
    };
    const providerSaw = async (payoutId: string) =>
      (await psp.listEffects({ keys: [payoutId], limit: 10 })).effects.map((e) =>
        e.type === 'payout' ? e.destination : e.type,
      );
    const codeOf = (p: Promise<unknown>) =>
      p.then(
        () => 'resolved',
        (e: unknown) => (isMarketkitError(e) ? e : String(e)),
      );

    it('a payout without destination and none stored is PAYOUT_DESTINATION_MISSING, and writes nothing', async () => {
      const before = await balance();
      const error = await codeOf(
        market.payouts.request({ payoutId: 'no-dest', sellerId: 'bob', currency: 'USD', amountMinor: 10_00n }),
      );
      expect(isMarketkitError(error) && error.code).toBe('PAYOUT_DESTINATION_MISSING');
      expect(ERROR_CODES.PAYOUT_DESTINATION_MISSING.httpStatus).toBe(422);
      expect(isMarketkitError(error) && error.details).toEqual({ sellerId: 'bob' });
      expect(await market.payouts.get('no-dest')).toBeUndefined();
      expect(await market.sagas.get('payout:no-dest')).toBeUndefined();
      expect(await providerSaw('no-dest')).toEqual([]);
      expect(await balance()).toBe(before);
      expect(await market.payouts.getDestination('bob')).toBeUndefined();
    });

    it('sets, gets and overwrites a seller destination', async () => {
      const t0 = clock.now();
      const set = await market.payouts.setDestination({ sellerId: 'bob', destination: 'acct_bob_1' });
      expect(set).toEqual({ sellerId: 'bob', destination: 'acct_bob_1', updatedAt: t0 });
      expect(await market.payouts.getDestination('bob')).toEqual(set);
      clock.advance(5);
      await market.payouts.setDestination({ sellerId: 'bob', destination: 'acct_bob_2' });
      expect(await market.payouts.getDestination('bob')).toEqual({
        sellerId: 'bob',
        destination: 'acct_bob_2',
        updatedAt: t0 + 5,
      });
      expect(await market.payouts.getDestination('carol')).toBeUndefined();
    });

    it('pays to the stored destination, and a later change leaves payouts already requested as they were', async () => {
      const first = await market.payouts.request({
        payoutId: 'stored-1',
        sellerId: 'bob',
        currency: 'USD',
        amountMinor: 10_00n,
      });
      expect(first).toMatchObject({ status: 'paid', destination: 'acct_bob_2' });
      expect(await providerSaw('stored-1')).toEqual(['acct_bob_2']);

      await market.payouts.setDestination({ sellerId: 'bob', destination: 'acct_bob_3' });
      const second = await market.payouts.request({
        payoutId: 'stored-2',
        sellerId: 'bob',
        currency: 'USD',
        amountMinor: 10_00n,
      });
      expect(second.destination).toBe('acct_bob_3');
      expect(await providerSaw('stored-2')).toEqual(['acct_bob_3']);
      expect((await market.payouts.get('stored-1'))?.destination).toBe('acct_bob_2');
      // A replay of the first request answers with the destination it was paid to.
      const replay = await market.payouts.request({
        payoutId: 'stored-1',
        sellerId: 'bob',
        currency: 'USD',
        amountMinor: 10_00n,
      });
      expect(replay.destination).toBe('acct_bob_2');
      expect(await providerSaw('stored-1')).toEqual(['acct_bob_2']);

      // A destination passed with the request wins over the stored one.
      const explicit = await market.payouts.request({
        payoutId: 'explicit',
        sellerId: 'bob',
        currency: 'USD',
        amountMinor: 5_00n,
        destination: 'ba_other',
      });
      expect(explicit.destination).toBe('ba_other');
      expect(await providerSaw('explicit')).toEqual(['ba_other']);
      expect(await balance()).toBe(75_00n);
      await checkMarketInvariants(market);
    });

    it('a payout retried by a worker after the destination changed is still sent where it was recorded', async () => {
      psp.injectFault('payout', 'timeout');
      await expect(
        market.payouts.request({ payoutId: 'retried', sellerId: 'bob', currency: 'USD', amountMinor: 5_00n }),
      ).rejects.toMatchObject({ code: 'PROVIDER_TIMEOUT' });
      expect(await market.payouts.get('retried')).toMatchObject({ status: 'requested', destination: 'acct_bob_3' });
      await market.payouts.setDestination({ sellerId: 'bob', destination: 'acct_bob_4' });
      const waiting = await market.sagas.get('payout:retried');
      clock.advance(waiting!.nextRunAt! - clock.now());
      await market.worker().runOnce();
      expect(await market.payouts.get('retried')).toMatchObject({ status: 'paid', destination: 'acct_bob_3' });
      expect(await providerSaw('retried')).toEqual(['acct_bob_3']);
      await market.payouts.setDestination({ sellerId: 'bob', destination: 'acct_bob_3' });
      expect(await balance()).toBe(70_00n);
      await checkMarketInvariants(market);
    });

    it('refuses malformed input with VALIDATION_FAILED and stores nothing', async () => {
      const bad: unknown[] = [
        { sellerId: 'bob', destination: '' },
        { sellerId: 'bob', destination: 'x'.repeat(256) },
        { sellerId: 'bob', destination: 'a\u0000b' },
        { sellerId: 'bo b', destination: 'acct_x' },
        { sellerId: 'bob' },
        { sellerId: 'bob', destination: 'acct_x', extra: 1 },
      ];
      for (const input of bad) {
        const error = await codeOf(market.payouts.setDestination(input as { sellerId: string; destination: string }));
        expect(isMarketkitError(error) && error.code).toBe('VALIDATION_FAILED');
      }
      expect((await market.payouts.getDestination('bob'))?.destination).toBe('acct_bob_3');
      const error = await codeOf(market.payouts.getDestination(''));
      expect(isMarketkitError(error) && error.code).toBe('VALIDATION_FAILED');
      const empty = await codeOf(
        market.payouts.request({ sellerId: 'bob', currency: 'USD', amountMinor: 1_00n, destination: '' }),
      );
      expect(isMarketkitError(empty) && empty.code).toBe('VALIDATION_FAILED');
    });
  });
}

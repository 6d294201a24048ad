import { createMarketplace, type Marketplace } from '@marketkit/core';
import { checkLedgerInvariants, ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

for (const backend of testBackends()) {
  describe(`ledger basics on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    const clock = new ManualClock();

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), clock });
      await market.migrate();
      const results = await market.ledger.createAccounts([
        { id: 'ext', currency: 'USD', code: 1, flags: { creditsMustNotExceedDebits: false } },
        { id: 'buyer', currency: 'USD', code: 2, flags: { debitsMustNotExceedCredits: true } },
        { id: 'seller', currency: 'USD', code: 3, flags: { debitsMustNotExceedCredits: true } },
        { id: 'eur', currency: 'EUR', code: 3 },
      ]);
      expect(results.map((r) => r.result)).toEqual(['ok', 'ok', 'ok', 'ok']);
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    it('applies a transfer once and reports exists on replay', async () => {
      const t = { id: 'fund-1', debitAccountId: 'ext', creditAccountId: 'buyer', amount: 10_000n, currency: 'USD' };
      expect((await market.ledger.createTransfers([t]))[0]?.result).toBe('ok');
      expect((await market.ledger.createTransfers([t]))[0]?.result).toBe('exists');
      expect((await market.ledger.createTransfers([{ ...t, amount: 1n }]))[0]?.result).toBe(
        'existsWithDifferentAmount',
      );
      const buyer = await market.ledger.getAccount('buyer');
      expect(buyer?.creditsPosted).toBe(10_000n);
      await checkLedgerInvariants(market);
    });

    it('refuses an overdraft and a currency mismatch', async () => {
      const res = await market.ledger.createTransfers([
        { id: 'over', debitAccountId: 'buyer', creditAccountId: 'seller', amount: 10_001n, currency: 'USD' },
        { id: 'fx', debitAccountId: 'buyer', creditAccountId: 'eur', amount: 1n, currency: 'USD' },
      ]);
      expect(res.map((r) => r.result)).toEqual(['exceedsCredits', 'currencyMismatch']);
    });

    it('posts part of a pending transfer and releases the rest', async () => {
      const res = await market.ledger.createTransfers([
        {
          id: 'hold',
          debitAccountId: 'buyer',
          creditAccountId: 'seller',
          amount: 4000n,
          currency: 'USD',
          flags: { pending: true },
        },
        { id: 'post', pendingId: 'hold', amount: 3000n, flags: { postPending: true } },
        { id: 'post-again', pendingId: 'hold', flags: { postPending: true } },
      ]);
      expect(res.map((r) => r.result)).toEqual(['ok', 'ok', 'pendingTransferAlreadyPosted']);
      const [buyer, seller] = await market.ledger.getAccounts(['buyer', 'seller']);
      expect(buyer?.debitsPosted).toBe(3000n);
      expect(buyer?.debitsPending).toBe(0n);
      expect(seller?.creditsPosted).toBe(3000n);
      await checkLedgerInvariants(market);
    });

    it('expires a pending transfer after its timeout', async () => {
      await market.ledger.createTransfers([
        {
          id: 'h2',
          debitAccountId: 'buyer',
          creditAccountId: 'seller',
          amount: 100n,
          currency: 'USD',
          flags: { pending: true },
          timeoutSeconds: 60,
        },
      ]);
      clock.advance(61_000);
      expect(await market.ledger.expirePendingTransfers()).toBe(1);
      const res = await market.ledger.createTransfers([{ id: 'v2', pendingId: 'h2', flags: { voidPending: true } }]);
      expect(res[0]?.result).toBe('pendingTransferExpired');
      expect((await market.ledger.getAccount('buyer'))?.debitsPending).toBe(0n);
      await checkLedgerInvariants(market);
    });

    it('rolls back a linked chain when one member fails', async () => {
      const res = await market.ledger.createTransfers([
        {
          id: 'l1',
          debitAccountId: 'ext',
          creditAccountId: 'seller',
          amount: 5n,
          currency: 'USD',
          flags: { linked: true },
        },
        { id: 'l2', debitAccountId: 'buyer', creditAccountId: 'seller', amount: 10n ** 12n, currency: 'USD' },
      ]);
      expect(res.map((r) => r.result)).toEqual(['linkedEventFailed', 'exceedsCredits']);
      const page = await market.ledger.listTransfers({ accountId: 'seller', limit: 2 });
      expect(page.transfers.map((t) => t.id)).not.toContain('l1');
      await checkLedgerInvariants(market);
    });

    it('rejects malformed input with VALIDATION_FAILED and writes nothing', async () => {
      await expect(
        market.ledger.createTransfers([
          { id: 'bad', debitAccountId: 'ext', creditAccountId: 'buyer', amount: -1, currency: 'USD' },
        ]),
      ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      expect((await market.ledger.listTransfers({ accountId: 'ext' })).transfers.map((t) => t.id)).not.toContain('bad');
    });
  });
}

import { createMarketplace, ESCROW_CODES, type Marketplace, Money } from '@marketkit/core';
import {
  checkLedgerInvariants,
  checkMarketInvariants,
  checkStockInvariants,
  ManualClock,
  SandboxPaymentProvider,
  type TestDatabase,
  testBackends,
} from '@marketkit/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawSql } from './raw-sql.js';

// Each test corrupts rows by hand (raw SQL past every check Marketkit makes), expects exactly the problem the
// verifier exists to report, naming the account, listing or order, and the checker built on it to throw it; then it
// repairs the rows and expects a clean report again, so the next test starts clean.
for (const backend of testBackends()) {
  describe(`the verifiers catch hand-corrupted rows on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    let raw: ReturnType<typeof rawSql>;
    const clock = new ManualClock();
    const psp = new SandboxPaymentProvider({ clock });
    const seller = { role: 'seller', id: 'bob' } as const;
    const buyer = { role: 'buyer', id: 'alice' } as const;

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({
        adapter: database.adapter(),
        clock,
        payments: psp,
        commission: { kind: 'percentage', percent: '10' },
      });
      await market.migrate();
      raw = rawSql(database);
      // A small ledger in its own currency: the funding account `ext-EUR` paid 100 to the flagged `alice-EUR`.
      await market.ledger.createAccounts([
        { id: 'ext-EUR', currency: 'EUR', code: 1 },
        { id: 'alice-EUR', currency: 'EUR', code: 2, flags: { debitsMustNotExceedCredits: true } },
      ]);
      await market.ledger.createTransfers([
        { id: 'fund-alice', debitAccountId: 'ext-EUR', creditAccountId: 'alice-EUR', amount: 100n, currency: 'EUR' },
      ]);
    });
    afterAll(async () => {
      await raw?.close();
      await market?.close();
      await database?.drop();
    });

    const listing = async (id: string, quantity: number) =>
      (await market.listings.create({ id, sellerId: 'bob', title: 'Lamp', price: Money.of('40.00', 'USD'), quantity }))
        .id;
    const paidOrder = (orderId: string, listingId: string) =>
      market.orders.checkout({ orderId, buyerId: 'alice', listingId, quantity: 1, paymentMethod: 'tok_visa' });
    /** Runs `fn` with the listings table's stock CHECK off: dropped (PostgreSQL) or ignored on our connection (SQLite). */
    const withoutStockCheck = async (fn: () => Promise<void>) => {
      if (backend.name === 'sqlite') await raw.run(sql`pragma ignore_check_constraints = 1`);
      else await raw.run(sql`alter table mk_listings drop constraint mk_listings_stock_check`);
      try {
        await fn();
      } finally {
        if (backend.name === 'sqlite') await raw.run(sql`pragma ignore_check_constraints = 0`);
        else
          await raw.run(sql`alter table mk_listings add constraint mk_listings_stock_check
            check (sold >= 0 and reserved >= 0 and sold + reserved <= quantity)`);
      }
    };
    const expectClean = async () => {
      expect((await market.ledger.verify()).problems).toEqual([]);
      expect((await market.listings.verifyStock()).problems).toEqual([]);
      expect((await market.orders.verifyEscrow()).problems).toEqual([]);
      expect((await market.orders.verifyCheckouts()).problems).toEqual([]);
      await checkMarketInvariants(market, { provider: psp });
    };

    describe('ledger.verify and checkLedgerInvariants', () => {
      it('report a cached balance that is not the sum of the transfers, and the currency it unbalances', async () => {
        await expectClean();
        await raw.run(sql`update mk_accounts set credits_posted = credits_posted + 7 where id = 'alice-EUR'`);
        const result = await market.ledger.verify();
        expect(result.ok).toBe(false);
        expect(result.problems).toEqual([
          'account alice-EUR: cached creditsPosted 107 != sum of transfers 100',
          'EUR: posted debits 100 != posted credits 107',
        ]);
        await expect(checkLedgerInvariants(market)).rejects.toThrow(
          'Ledger invariants broken:\naccount alice-EUR: cached creditsPosted 107 != sum of transfers 100\n',
        );
        await expect(checkMarketInvariants(market)).rejects.toThrow('EUR: posted debits 100 != posted credits 107');
        await raw.run(sql`update mk_accounts set credits_posted = credits_posted - 7 where id = 'alice-EUR'`);
        await expectClean();
      });

      it('report a flagged account overdrawn by a transfer written past the check', async () => {
        await raw.run(sql`insert into mk_transfers (id, debit_account_id, credit_account_id, amount, currency, code, flags,
          timeout_seconds, created_at) values ('forged', 'alice-EUR', 'ext-EUR', 150, 'EUR', 1, 0, 0, 0)`);
        await raw.run(sql`update mk_accounts set debits_posted = debits_posted + 150 where id = 'alice-EUR'`);
        await raw.run(sql`update mk_accounts set credits_posted = credits_posted + 150 where id = 'ext-EUR'`);
        expect((await market.ledger.verify()).problems).toEqual([
          'account alice-EUR: debits exceed credits though flagged debitsMustNotExceedCredits',
        ]);
        await expect(checkLedgerInvariants(market)).rejects.toThrow('account alice-EUR: debits exceed credits');
        // And the mirror flag: `ext-EUR` has taken in more than it paid out.
        await raw.run(sql`update mk_accounts set flags = 2 where id = 'ext-EUR'`);
        expect((await market.ledger.verify()).problems).toEqual([
          'account alice-EUR: debits exceed credits though flagged debitsMustNotExceedCredits',
          'account ext-EUR: credits exceed debits though flagged creditsMustNotExceedDebits',
        ]);
        await raw.run(sql`update mk_accounts set flags = 0 where id = 'ext-EUR'`);
        await raw.run(sql`delete from mk_transfers where id = 'forged'`);
        await raw.run(sql`update mk_accounts set debits_posted = debits_posted - 150 where id = 'alice-EUR'`);
        await raw.run(sql`update mk_accounts set credits_posted = credits_posted - 150 where id = 'ext-EUR'`);
        await expectClean();
      });

      it('report money created in one currency and destroyed in another', async () => {
        await raw.run(sql`update mk_accounts set currency = 'GBP' where id = 'alice-EUR'`);
        expect((await market.ledger.verify()).problems).toEqual([
          'EUR: posted debits 100 != posted credits 0',
          'GBP: posted debits 0 != posted credits 100',
        ]);
        await expect(checkMarketInvariants(market)).rejects.toThrow('GBP: posted debits 0 != posted credits 100');
        await raw.run(sql`update mk_accounts set currency = 'EUR' where id = 'alice-EUR'`);
        await expectClean();
      });

      it('report pending amounts no pending transfer holds', async () => {
        await market.ledger.createTransfers([
          {
            id: 'hold-alice',
            debitAccountId: 'ext-EUR',
            creditAccountId: 'alice-EUR',
            amount: 30n,
            currency: 'EUR',
            flags: { pending: true },
          },
        ]);
        await expectClean();
        await raw.run(sql`update mk_pending_transfers set status = 'voided' where id = 'hold-alice'`);
        expect((await market.ledger.verify()).problems).toEqual([
          'account alice-EUR: cached creditsPending 30 != sum of transfers 0',
          'account ext-EUR: cached debitsPending 30 != sum of transfers 0',
        ]);
        await raw.run(sql`update mk_pending_transfers set status = 'pending' where id = 'hold-alice'`);
        await expectClean();
      });
    });

    describe('listings.verifyStock and checkStockInvariants', () => {
      it('report counters that are not the sums of the reservations, and a listing sold past its quantity', async () => {
        const id = await listing('stock-l', 5);
        await paidOrder('stock-o', id); // one unit sold
        const held = await market.listings.reserve({ listingId: id, quantity: 1 }); // one unit reserved
        await expectClean();

        await raw.run(sql`update mk_listings set sold = sold + 1 where id = ${id}`);
        expect((await market.listings.verifyStock()).problems).toEqual([
          `listing ${id}: sold 2 != units of sold reservations 1`,
        ]);
        await expect(checkStockInvariants(market)).rejects.toThrow(
          `Stock invariants broken:\nlisting ${id}: sold 2 != units of sold reservations 1`,
        );
        await raw.run(sql`update mk_listings set sold = sold - 1 where id = ${id}`);

        await raw.run(sql`update mk_stock_reservations set quantity = 3 where id = ${held.id}`);
        expect((await market.listings.verifyStock()).problems).toEqual([
          `listing ${id}: reserved 1 != units of active reservations 3`,
        ]);
        await raw.run(sql`update mk_stock_reservations set quantity = 1 where id = ${held.id}`);

        // The table's CHECK refuses this row; a database without it (turned off here) is what the verifier covers.
        await withoutStockCheck(async () => {
          await raw.run(sql`update mk_listings set quantity = 1 where id = ${id}`);
          expect((await market.listings.verifyStock()).problems).toEqual([
            `listing ${id}: sold 1 + reserved 1 exceeds quantity 1 or is negative`,
          ]);
          await expect(checkMarketInvariants(market)).rejects.toThrow(`listing ${id}: sold 1 + reserved 1 exceeds`);
          await raw.run(sql`update mk_listings set quantity = 5 where id = ${id}`);
        });
        await market.listings.release(held.id);
        await expectClean();
      });
    });

    describe('orders.verifyEscrow (escrow closes)', () => {
      it('reports a terminal order holding money, a capture of another amount, and refunds not recorded', async () => {
        const id = await listing('escrow-l', 10);
        const order = await paidOrder('escrow-a', id);
        await expectClean();

        await raw.run(sql`update mk_orders set state = 'completed' where id = ${order.id}`);
        expect((await market.orders.verifyEscrow()).problems).toEqual([
          `order ${order.id}: terminal state completed with 4000 left in escrow`,
        ]);
        await expect(checkMarketInvariants(market)).rejects.toThrow(
          `order ${order.id}: terminal state completed with 4000 left in escrow`,
        );
        await raw.run(sql`update mk_orders set state = 'paid' where id = ${order.id}`);

        await raw.run(sql`update mk_orders set amount_minor = 4001 where id = ${order.id}`);
        expect((await market.orders.verifyEscrow()).problems).toEqual([
          `order ${order.id}: captured 4000 != order amount 4001`,
        ]);
        await raw.run(sql`update mk_orders set amount_minor = 4000 where id = ${order.id}`);

        await raw.run(sql`update mk_orders set refunded_minor = 100 where id = ${order.id}`);
        expect((await market.orders.verifyEscrow()).problems).toEqual([`order ${order.id}: refunds 0 != recorded 100`]);
        await raw.run(sql`update mk_orders set refunded_minor = 0 where id = ${order.id}`);
        await expectClean();
      });

      it('reports more paid out of an escrow than was captured into it', async () => {
        const id = await listing('escrow-l2', 10);
        const order = await paidOrder('escrow-b', id);
        await market.orders.transition(order.id, 'ship', { actor: seller });
        await market.orders.transition(order.id, 'deliver', { actor: seller });
        await market.orders.transition(order.id, 'confirm', { actor: buyer });
        await expectClean();
        const release = sql`reference = ${order.id} and code = ${BigInt(ESCROW_CODES.releaseToSeller)}`;
        await raw.run(sql`update mk_transfers set amount = amount + 100 where ${release}`);
        expect((await market.orders.verifyEscrow()).problems).toEqual([
          `order ${order.id}: more left escrow (4100) than entered (4000)`,
          `order ${order.id}: terminal state completed with -100 left in escrow`,
        ]);
        await expect(checkMarketInvariants(market)).rejects.toThrow(`order ${order.id}: more left escrow (4100)`);
        await raw.run(sql`update mk_transfers set amount = amount - 100 where ${release}`);
        await expectClean();
      });
    });
  });
}

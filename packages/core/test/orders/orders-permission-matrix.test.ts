import {
  type ActorRole,
  createMarketplace,
  escrowAccounts,
  isMarketkitError,
  type Marketplace,
  Money,
} from '@marketkit/core';
import {
  checkMarketInvariants,
  ManualClock,
  SANDBOX_3DS_PAYMENT_METHOD,
  SandboxPaymentProvider,
  type TestDatabase,
  testBackends,
} from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buyerShare, commission, PURCHASE_TABLE, ROLES, type TableRow } from './fixtures/purchase-table.js';

const COMMISSION_TENTHS = 100; // 10 %
const REFUND = 100n;
const BUYER_PERCENT = 30;
const PATHS: Readonly<Record<string, readonly [string, ActorRole][]>> = {
  checkout: [],
  paid: [],
  shipped: [['ship', 'seller']],
  delivered: [
    ['ship', 'seller'],
    ['deliver', 'seller'],
  ],
  disputed: [
    ['ship', 'seller'],
    ['openDispute', 'buyer'],
  ],
};
const PARAMS: Readonly<Record<string, { amountMinor?: bigint; buyerPercent?: number }>> = {
  refundPartial: { amountMinor: REFUND },
  resolveSplit: { buyerPercent: BUYER_PERCENT },
};
const actorFor = (role: ActorRole) => ({
  role,
  id: role === 'buyer' ? 'alice' : role === 'seller' ? 'bob' : `${role}-1`,
});

// Every (state, transition) of the hand-written table, by every role: who may fire what is the table's, not the code's.
const cases = PURCHASE_TABLE.flatMap((row) => ROLES.map((role) => ({ row, role })));

/** What the row does to an order with `escrow` in escrow and `refunded` already refunded, by hand. */
function effectOf(row: TableRow, escrow: bigint, refunded: bigint, frozen: boolean) {
  const toBuyer =
    row.refund === 'escrow'
      ? escrow
      : row.refund === 'amount'
        ? REFUND
        : row.refund === 'buyerShare'
          ? buyerShare(escrow, BUYER_PERCENT)
          : 0n;
  const base =
    row.seller === 'escrowLessCommission' ? escrow : row.seller === 'restLessCommission' ? escrow - toBuyer : 0n;
  return {
    escrow: row.escrow === 'empty' ? 0n : row.escrow === 'less' ? escrow - REFUND : escrow,
    frozen: frozen || row.escrow === 'freeze', // a resolved dispute keeps the mark
    refunded: refunded + toBuyer,
    seller: base - commission(base, COMMISSION_TENTHS),
    available: row.stock === 'release' ? 1 : 0,
  };
}

for (const backend of testBackends()) {
  describe(`transition × role matrix on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    const psp = new SandboxPaymentProvider();
    let listingId: string;
    let n = 0;

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({
        adapter: database.adapter(),
        clock: new ManualClock(),
        payments: psp,
        commission: { kind: 'percentage', percent: '10' },
      });
      await market.migrate();
      listingId = (
        await market.listings.create({
          sellerId: 'bob',
          title: 'Lamp',
          price: Money.of('40.00', 'USD'),
          quantity: 1000,
        })
      ).id;
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    async function orderIn(state: string): Promise<string> {
      const orderId = `m${n++}`;
      if (state === 'checkout') {
        psp.injectFault('capture', 'timeout');
        await expect(
          market.orders.checkout({ orderId, buyerId: 'alice', listingId, quantity: 1, paymentMethod: 'tok_visa' }),
        ).rejects.toMatchObject({ code: 'PROVIDER_TIMEOUT' });
      } else if (state === 'awaitingCustomer') {
        const paymentMethod = SANDBOX_3DS_PAYMENT_METHOD; // the sandbox's card that needs 3-D Secure
        await market.orders.checkout({ orderId, buyerId: 'alice', listingId, quantity: 1, paymentMethod });
      } else {
        await market.orders.checkout({ orderId, buyerId: 'alice', listingId, quantity: 1, paymentMethod: 'tok_visa' });
      }
      for (const [name, role] of PATHS[state] ?? [])
        await market.orders.transition(orderId, name, { actor: actorFor(role) });
      expect((await market.orders.get(orderId))?.state).toBe(state);
      return orderId;
    }

    const sellerBalance = async () => {
      const a = await market.ledger.getAccount(escrowAccounts.seller('bob', 'USD'));
      return (a?.creditsPosted ?? 0n) - (a?.debitsPosted ?? 0n);
    };
    const available = async () => (await market.listings.get(listingId))?.available ?? Number.NaN;

    it.each(cases.map((c) => [c.row.transition, c.row.state, c.role, c] as const))(
      '%s from %s by %s: as the hand-written table says (allowed: its next state and effects; else FORBIDDEN, nothing changed)',
      async (_name, from, role, { row }) => {
        const orderId = await orderIn(from);
        const before = await market.orders.get(orderId);
        const historyBefore = await market.orders.history(orderId);
        const [sellerBefore, availableBefore] = [await sellerBalance(), await available()];
        const outcome = await market.orders
          .transition(orderId, row.transition, { actor: actorFor(role), ...(PARAMS[row.transition] ?? {}) })
          .then(
            (o) => o.state,
            (e: unknown) => (isMarketkitError(e) ? e.code : String(e)),
          );
        if (row.roles.includes(role)) {
          expect(outcome).toBe(row.next);
          const after = await market.orders.get(orderId);
          const expected = effectOf(row, before!.escrowBalance.minor, before!.refunded.minor, before!.frozen);
          expect({
            escrow: after?.escrowBalance.minor,
            frozen: after?.frozen,
            refunded: after?.refunded.minor,
            seller: (await sellerBalance()) - sellerBefore,
            available: (await available()) - availableBefore,
          }).toEqual(expected);
        } else {
          expect(outcome).toBe('FORBIDDEN');
          expect(await market.orders.get(orderId)).toEqual(before);
          expect(await market.orders.history(orderId)).toEqual(historyBefore);
        }
      },
    );

    it('refuses a buyer or seller who is not a party to the order', async () => {
      const orderId = await orderIn('paid');
      for (const actor of [
        { role: 'buyer', id: 'mallory' },
        { role: 'seller', id: 'eve' },
      ] as const) {
        await expect(market.orders.transition(orderId, 'cancel', { actor })).rejects.toMatchObject({
          code: 'FORBIDDEN',
        });
      }
      expect((await market.orders.get(orderId))?.state).toBe('paid');
    });

    it('keeps every invariant after the whole matrix', async () => {
      await checkMarketInvariants(market);
    });
  });
}

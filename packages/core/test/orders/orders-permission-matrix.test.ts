import {
  type ActorRole,
  createMarketplace,
  isMarketkitError,
  type Marketplace,
  Money,
  purchaseProcess,
} from '@marketkit/core';
import {
  checkMarketInvariants,
  ManualClock,
  SandboxPaymentProvider,
  type TestDatabase,
  testBackends,
} from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROLES: readonly ActorRole[] = ['buyer', 'seller', 'operator', 'system'];
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
  refundPartial: { amountMinor: 100n },
  resolveSplit: { buyerPercent: 50 },
};
const actorFor = (role: ActorRole) => ({
  role,
  id: role === 'buyer' ? 'alice' : role === 'seller' ? 'bob' : `${role}-1`,
});

const cases = purchaseProcess().transitions.flatMap((t) =>
  (typeof t.from === 'string' ? [t.from] : t.from).flatMap((from) => ROLES.map((role) => ({ t, from, role }))),
);

for (const backend of testBackends()) {
  describe(`transition × role matrix on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    const psp = new SandboxPaymentProvider();
    let listingId: string;
    let n = 0;

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), clock: new ManualClock(), payments: psp });
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
      } else {
        await market.orders.checkout({ orderId, buyerId: 'alice', listingId, quantity: 1, paymentMethod: 'tok_visa' });
      }
      for (const [name, role] of PATHS[state] ?? [])
        await market.orders.transition(orderId, name, { actor: actorFor(role) });
      expect((await market.orders.get(orderId))?.state).toBe(state);
      return orderId;
    }

    it.each(cases.map((c) => [c.t.name, c.from, c.role, c] as const))(
      '%s from %s by %s: allowed roles succeed, others (and anyone for an engine transition) get FORBIDDEN and change nothing',
      async (_name, from, role, c) => {
        const orderId = await orderIn(from);
        const before = await market.orders.get(orderId);
        const historyBefore = await market.orders.history(orderId);
        const outcome = await market.orders
          .transition(orderId, c.t.name, { actor: actorFor(role), ...(PARAMS[c.t.name] ?? {}) })
          .then(
            (o) => o.state,
            (e: unknown) => (isMarketkitError(e) ? e.code : String(e)),
          );
        if (c.t.actors.includes(role) && !c.t.engine) {
          expect(outcome).toBe(c.t.to);
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

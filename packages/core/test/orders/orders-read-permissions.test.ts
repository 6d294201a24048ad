import {
  type Actor,
  type ActorRole,
  createMarketplace,
  isMarketkitError,
  type Marketplace,
  Money,
} from '@marketkit/core';
import {
  checkMarketInvariants,
  ManualClock,
  SandboxPaymentProvider,
  type TestDatabase,
  testBackends,
} from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** Who reads: each role as a party to the order and as someone else. Operators and the system have no party. */
const READERS: readonly { role: ActorRole; party: boolean; actor: Actor; sees: boolean }[] = [
  { role: 'buyer', party: true, actor: { role: 'buyer', id: 'alice' }, sees: true },
  { role: 'buyer', party: false, actor: { role: 'buyer', id: 'mallory' }, sees: false },
  // The order's seller id, but in the buyer role: a role is checked against its own party only.
  { role: 'buyer', party: false, actor: { role: 'buyer', id: 'bob' }, sees: false },
  { role: 'seller', party: true, actor: { role: 'seller', id: 'bob' }, sees: true },
  { role: 'seller', party: false, actor: { role: 'seller', id: 'eve' }, sees: false },
  { role: 'seller', party: false, actor: { role: 'seller', id: 'alice' }, sees: false },
  { role: 'operator', party: false, actor: { role: 'operator', id: 'ops-1' }, sees: true },
  { role: 'operator', party: false, actor: { role: 'operator', id: 'ops-2' }, sees: true },
  { role: 'system', party: false, actor: { role: 'system', id: 'system' }, sees: true },
];
const READS = ['get', 'history'] as const;
const MISSING = 'no-such-order';

/** An error as a caller sees it, with the order id replaced, so two errors about two ids can be compared. */
function shape(e: unknown, id: string): unknown {
  if (!isMarketkitError(e)) return e;
  return { name: e.name, ...JSON.parse(JSON.stringify(e.toJSON()).replaceAll(id, '<id>')) };
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (v) => ({ resolved: v }),
    (e: unknown) => e,
  );
}

for (const backend of testBackends()) {
  describe(`order reads × role on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    const psp = new SandboxPaymentProvider();
    let orderId: string;

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), clock: new ManualClock(), payments: psp });
      await market.migrate();
      const listing = await market.listings.create({
        sellerId: 'bob',
        title: 'Lamp',
        price: Money.of('40.00', 'USD'),
        quantity: 10,
      });
      const order = await market.orders.checkout({
        buyerId: 'alice',
        listingId: listing.id,
        quantity: 1,
        paymentMethod: 'tok_visa',
      });
      orderId = order.id;
      await market.orders.transition(orderId, 'ship', { actor: { role: 'seller', id: 'bob' } });
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    const read = (name: (typeof READS)[number], id: string, actor?: Actor): Promise<unknown> =>
      actor === undefined ? market.orders[name](id) : market.orders[name](id, { actor });

    it.each(
      READERS.flatMap((r) =>
        READS.map((name) => [name, r.role, r.party ? 'party' : `non-party ${r.actor.id}`, r, name] as const),
      ),
    )('%s by %s (%s)', async (_name, _role, _party, r, name) => {
      const trusted = await read(name, orderId);
      const outcome = await failure(read(name, orderId, r.actor));
      if (r.sees) {
        expect(outcome).toEqual({ resolved: trusted });
        return;
      }
      // Refused exactly as a missing order is refused, by the same reader: existence does not leak.
      const missing = await failure(read(name, MISSING, r.actor));
      expect(isMarketkitError(outcome) && outcome.code).toBe('NOT_FOUND');
      expect(shape(outcome, orderId)).toEqual(shape(missing, MISSING));
    });

    it('refuses a missing order to every reader with NOT_FOUND, the error a transition on it gets', async () => {
      const transition = await failure(
        market.orders.transition(MISSING, 'ship', { actor: { role: 'seller', id: 'bob' } }),
      );
      expect(shape(transition, MISSING)).toMatchObject({ code: 'NOT_FOUND', retryable: false });
      for (const { actor } of READERS) {
        for (const name of READS)
          expect(shape(await failure(read(name, MISSING, actor)), MISSING)).toEqual(shape(transition, MISSING));
      }
    });

    it('without an actor reads as today: every order, and nothing for a missing one', async () => {
      const order = await market.orders.get(orderId);
      expect(order).toMatchObject({ id: orderId, state: 'shipped', buyerId: 'alice', sellerId: 'bob' });
      expect(await market.orders.get(orderId, {})).toEqual(order);
      expect((await market.orders.history(orderId)).map((e) => e.to)).toEqual(['checkout', 'paid', 'shipped']);
      expect(await market.orders.history(orderId, {})).toEqual(await market.orders.history(orderId));
      expect(await market.orders.get(MISSING)).toBeUndefined();
      expect(await market.orders.history(MISSING)).toEqual([]);
    });

    it.each([
      ['an unknown role', { actor: { role: 'admin', id: 'x' } }],
      ['an actor without id', { actor: { role: 'buyer' } }],
      ['an empty actor id', { actor: { role: 'buyer', id: '' } }],
      ['an actor id with a space', { actor: { role: 'buyer', id: 'al ice' } }],
      ['an actor with an extra field', { actor: { role: 'buyer', id: 'alice', admin: true } }],
      ['an unknown option', { actor: { role: 'buyer', id: 'alice' }, as: 'operator' }],
      ['an actor that is a string', { actor: 'alice' }],
      ['options that are not an object', 'buyer'],
    ])('refuses %s with VALIDATION_FAILED before looking the order up', async (_what, options) => {
      for (const name of READS) {
        for (const id of [orderId, MISSING]) {
          const outcome = await failure(
            (market.orders[name] as (id: string, options: unknown) => Promise<unknown>)(id, options),
          );
          expect(outcome).toMatchObject({ name: 'ValidationError', code: 'VALIDATION_FAILED' });
        }
      }
    });

    it('keeps every invariant', async () => {
      await checkMarketInvariants(market);
    });
  });
}

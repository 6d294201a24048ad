import {
  createMarketplace,
  hasErrorCode,
  isReplayed,
  KEYED_OPERATIONS,
  type Marketplace,
  Money,
  type TransitionInput,
} from '@marketkit/core';
import { SandboxPaymentProvider, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const seller = { role: 'seller', id: 'bob' } as const;
const buyer = { role: 'buyer', id: 'alice' } as const;

/**
 * Runs one call of docs/idempotency.md's table with a key, and returns the key and the actor (written here by hand,
 * from what the docs say) under which its record must be found. The table's row is the index.
 */
type Runner = (market: Marketplace, listingId: string) => Promise<{ key: string; actor: string; name?: string }>;

const transition = (market: Marketplace, id: string, name: string, input: TransitionInput) =>
  market.orders.transition(id, name, input);

const RUNNERS: Record<string, Runner> = {
  'orders.checkout(input)': async (market, listingId) => {
    const key = 'k-checkout';
    await market.orders.checkout({
      buyerId: 'alice',
      listingId,
      quantity: 1,
      paymentMethod: 'tok',
      idempotencyKey: key,
    });
    return { key, actor: 'alice' };
  },
  'orders.transition(id, name, input)': async (market, listingId) => {
    const order = await market.orders.checkout({ buyerId: 'alice', listingId, quantity: 1, paymentMethod: 'tok' });
    await transition(market, order.id, 'ship', { actor: seller, idempotencyKey: 'k-ship' });
    return { key: 'k-ship', actor: 'bob', name: 'ship' };
  },
  'listings.create(input)': async (market) => {
    const price = Money.of('5', 'USD');
    await market.listings.create({ sellerId: 'carol', title: 'Cup', price, quantity: 1, idempotencyKey: 'k-create' });
    return { key: 'k-create', actor: 'carol' };
  },
  'listings.update(id, { …, idempotencyKey })': async (market, listingId) => {
    const listing = (await market.listings.get(listingId))!;
    await market.listings.update(listingId, {
      expectedVersion: listing.version,
      title: 'Lamp 2',
      idempotencyKey: 'k-u',
    });
    return { key: 'k-u', actor: `listing:${listingId}` };
  },
  'listings.reserve({ …, idempotencyKey })': async (market, listingId) => {
    await market.listings.reserve({ listingId, quantity: 1, ttlMs: 60_000, idempotencyKey: 'k-reserve' });
    return { key: 'k-reserve', actor: `listing:${listingId}` };
  },
  'listings.markSold(reservationId, { idempotencyKey })': async (market, listingId) => {
    const hold = await market.listings.reserve({ listingId, quantity: 1, ttlMs: 60_000 });
    await market.listings.markSold(hold.id, { idempotencyKey: 'k-sold' });
    return { key: 'k-sold', actor: `reservation:${hold.id}` };
  },
  'listings.release(reservationId, { idempotencyKey })': async (market, listingId) => {
    const hold = await market.listings.reserve({ listingId, quantity: 1, ttlMs: 60_000 });
    await market.listings.release(hold.id, { idempotencyKey: 'k-release' });
    return { key: 'k-release', actor: `reservation:${hold.id}` };
  },
  'listings.restock(reservationId, { idempotencyKey })': async (market, listingId) => {
    const hold = await market.listings.reserve({ listingId, quantity: 1, ttlMs: 60_000 });
    await market.listings.markSold(hold.id);
    await market.listings.restock(hold.id, { idempotencyKey: 'k-restock' });
    return { key: 'k-restock', actor: `reservation:${hold.id}` };
  },
};

for (const backend of testBackends()) {
  describe(`the operations keys are stored under (docs/idempotency.md) on ${backend.name}`, () => {
    let market: Marketplace;
    let listingId: string;
    let drop: () => Promise<void>;

    beforeAll(async () => {
      const database = await backend.createDatabase();
      drop = () => database.drop();
      market = createMarketplace({
        adapter: database.adapter(),
        payments: new SandboxPaymentProvider(),
      });
      await market.migrate();
      const price = Money.of('40', 'USD');
      listingId = (await market.listings.create({ sellerId: 'bob', title: 'Lamp', price, quantity: 50 })).id;
    });
    afterAll(async () => {
      await market?.close();
      await drop?.();
    });

    it('covers every documented call with a runner, and no other', () => {
      expect(KEYED_OPERATIONS.map((o) => o.call).sort()).toEqual(
        [...Object.keys(RUNNERS), 'payouts.request({ …, idempotencyKey })'].sort(),
      );
    });

    for (const row of KEYED_OPERATIONS.filter((o) => o.call in RUNNERS)) {
      it(`finds the key of ${row.call} under ${row.operation}`, async () => {
        const { key, actor, name } = await RUNNERS[row.call]!(market, listingId);
        const operation = row.operation.replace('<transition>', name ?? '<transition>');
        expect(await market.idempotency.inspect({ key, actor, operation })).toMatchObject({ status: 'succeeded' });
      });
    }

    it('names a payout key by the documented operation, and replays it by seller and key', async () => {
      const row = KEYED_OPERATIONS.find((o) => o.call.startsWith('payouts.request'))!;
      const order = await market.orders.checkout({ buyerId: 'alice', listingId, quantity: 1, paymentMethod: 'tok' });
      for (const [name, actor] of [
        ['ship', seller],
        ['deliver', seller],
        ['confirm', buyer],
      ] as const)
        await transition(market, order.id, name, { actor });
      const request = {
        sellerId: 'bob',
        currency: 'USD',
        amountMinor: 10_00n,
        destination: 'ba_1',
        idempotencyKey: 'p1',
      };
      await market.payouts.request(request);
      expect(isReplayed(await market.payouts.request(request))).toBe(true);
      const reused = await market.payouts.request({ ...request, amountMinor: 11_00n }).catch((e: unknown) => e);
      expect(hasErrorCode(reused, 'IDEMPOTENCY_KEY_REUSED') && reused.details.operation).toBe(row.operation);
    });
  });
}

import { createMarketplace, type Marketplace, Money } from '@marketkit/core';
import { ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

for (const backend of testBackends()) {
  describe(`a price in Money's JSON form on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), clock: new ManualClock() });
      await market.migrate();
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    it('creates and updates a listing from { amount, currency }, as Money.toJSON() writes it', async () => {
      const price = JSON.parse(JSON.stringify(Money.of('40.00', 'USD'))) as { amount: string; currency: string };
      const listing = await market.listings.create({ sellerId: 'bob', title: 'Lamp', price, quantity: 1 });
      expect(listing.price.equals(Money.of('40.00', 'USD'))).toBe(true);
      const updated = await market.listings.update(listing.id, {
        expectedVersion: listing.version,
        price: { amount: '4500', currency: 'USD' },
      });
      expect(updated.price.equals(Money.of('45.00', 'USD'))).toBe(true);
    });

    it('replays a keyed create sent once as Money and once as its JSON form (the same request)', async () => {
      const input = { sellerId: 'bob', title: 'Desk', quantity: 1, idempotencyKey: 'desk-1' };
      const first = await market.listings.create({ ...input, price: Money.of('10.00', 'USD') });
      const again = await market.listings.create({ ...input, price: { amount: '1000', currency: 'USD' } });
      expect(again.id).toBe(first.id);
    });

    it('says how to write a price it refuses', async () => {
      for (const price of [
        { amount: 1000, currency: 'USD' },
        { amount: '10.00', currency: 'USD' },
        '10 USD',
        { amount: '1', currency: 'XYZ' },
      ]) {
        const refused = market.listings.create({ sellerId: 'bob', title: 'Lamp', price: price as never, quantity: 1 });
        await expect(refused).rejects.toMatchObject({
          code: 'VALIDATION_FAILED',
          message: expect.stringContaining('{ "amount": "1234", "currency": "USD" }'),
        });
      }
      await expect(
        market.listings.create({
          sellerId: 'bob',
          title: 'Lamp',
          price: { amount: '-1', currency: 'USD' },
          quantity: 1,
        }),
      ).rejects.toMatchObject({ code: 'VALIDATION_FAILED', message: expect.stringContaining('must not be negative') });
    });
  });
}

import { createMarketplace, type Marketplace, Money } from '@marketkit/core';
import { checkStockInvariants, ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

for (const backend of testBackends()) {
  describe(`listings on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    const clock = new ManualClock();

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), clock });
      await market.migrate();
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    it('creates a listing idempotently by id and reads it back', async () => {
      const input = { id: 'lamp', sellerId: 'bob', title: 'Lamp', price: Money.of('40.00', 'USD'), quantity: 3 };
      const a = await market.listings.create(input);
      const b = await market.listings.create(input);
      expect(b).toEqual(a);
      expect(a).toMatchObject({ quantity: 3, sold: 0, reserved: 0, available: 3, version: 0 });
      expect(a.price.equals(Money.of('40', 'USD'))).toBe(true);
    });

    it('rejects a stale edit with CONCURRENCY_CONFLICT and changes nothing', async () => {
      const l = await market.listings.create({
        sellerId: 'bob',
        title: 'Chair',
        price: Money.of('10', 'USD'),
        quantity: 1,
      });
      const edited = await market.listings.update(l.id, { expectedVersion: 0, title: 'Oak chair' });
      expect(edited.version).toBe(1);
      await expect(market.listings.update(l.id, { expectedVersion: 0, title: 'Pine chair' })).rejects.toMatchObject({
        code: 'CONCURRENCY_CONFLICT',
        retryable: true,
      });
      expect((await market.listings.get(l.id))?.title).toBe('Oak chair');
    });

    it('reserves, sells, releases and restocks while conserving stock', async () => {
      const l = await market.listings.create({
        sellerId: 'amy',
        title: 'Mug',
        price: Money.of('8', 'USD'),
        quantity: 5,
      });
      const r1 = await market.listings.reserve({ listingId: l.id, quantity: 2 });
      const r2 = await market.listings.reserve({ listingId: l.id, quantity: 3, reservationId: 'r2' });
      expect(await market.listings.reserve({ listingId: l.id, quantity: 3, reservationId: 'r2' })).toEqual(r2);
      await expect(market.listings.reserve({ listingId: l.id, quantity: 1 })).rejects.toMatchObject({
        code: 'INSUFFICIENT_STOCK',
      });
      await market.listings.markSold(r1.id);
      await market.listings.release(r2.id);
      expect(await market.listings.get(l.id)).toMatchObject({ sold: 2, reserved: 0, available: 3 });
      await market.listings.restock(r1.id);
      expect(await market.listings.get(l.id)).toMatchObject({ sold: 0, reserved: 0, available: 5 });
      await expect(market.listings.update(l.id, { expectedVersion: 0, quantity: 0 })).resolves.toMatchObject({
        quantity: 0,
      });
      await checkStockInvariants(market);
    });

    it('refuses to sell an expired hold with RESERVATION_EXPIRED, swept by the expiry job or not yet', async () => {
      const l = await market.listings.create({
        sellerId: 'amy',
        title: 'Vase',
        price: Money.of('30', 'USD'),
        quantity: 2,
      });
      const r1 = await market.listings.reserve({ listingId: l.id, quantity: 1, ttlMs: 60_000 });
      const r2 = await market.listings.reserve({ listingId: l.id, quantity: 1, ttlMs: 60_000 });
      clock.advance(60_001);
      // Past its expiry, not yet swept: expired by the sale's own transaction.
      await expect(market.listings.markSold(r1.id)).rejects.toMatchObject({
        code: 'RESERVATION_EXPIRED',
        details: { reservationId: r1.id, expiresAt: r1.expiresAt },
      });
      // Swept first by the worker's expiry job: the same error, as markSold's docs promise.
      expect(await market.listings.expireReservations()).toBeGreaterThanOrEqual(1);
      await expect(market.listings.markSold(r2.id)).rejects.toMatchObject({
        code: 'RESERVATION_EXPIRED',
        details: { reservationId: r2.id, expiresAt: r2.expiresAt },
      });
      expect(await market.listings.get(l.id)).toMatchObject({ reserved: 0, available: 2 });
      await checkStockInvariants(market);
    });

    it('refuses a quantity below sold + reserved', async () => {
      const l = await market.listings.create({
        sellerId: 'amy',
        title: 'Rug',
        price: Money.of('90', 'USD'),
        quantity: 4,
      });
      await market.listings.reserve({ listingId: l.id, quantity: 3 });
      await expect(market.listings.update(l.id, { expectedVersion: 0, quantity: 2 })).rejects.toMatchObject({
        code: 'INSUFFICIENT_STOCK',
      });
    });

    it('rejects bad input with VALIDATION_FAILED and writes nothing', async () => {
      await expect(
        market.listings.create({ sellerId: 'x', title: '', price: Money.of('1', 'USD'), quantity: -1 }),
      ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      await expect(market.listings.reserve({ listingId: 'lamp', quantity: 0 })).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
      });
      expect(await market.listings.get('lamp')).toMatchObject({ reserved: 0 });
    });
  });
}

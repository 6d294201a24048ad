import { createMarketplace, type Marketplace, Money } from '@marketkit/core';
import { checkStockInvariants, ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

for (const backend of testBackends()) {
  describe(`listings under idempotency keys on ${backend.name}`, () => {
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

    it('creates once per key and seller, replays the stored listing, refuses a changed request', async () => {
      const input = {
        sellerId: 'bob',
        title: 'Lamp',
        price: Money.of('40.00', 'USD'),
        quantity: 3,
        commission: { kind: 'percentage' as const, percent: '12.5', minimumMinor: 50n },
        idempotencyKey: 'create-lamp',
      };
      const a = await market.listings.create(input);
      const b = await market.listings.create(input);
      expect(b).toEqual(a);
      expect(b.price.equals(Money.of('40.00', 'USD'))).toBe(true);
      expect(b.commission).toEqual({ kind: 'percentage', percent: '12.5', minimumMinor: 50n });
      await expect(market.listings.create({ ...input, quantity: 4 })).rejects.toMatchObject({
        code: 'IDEMPOTENCY_KEY_REUSED',
      });
      // the same key from another seller is another scope
      const other = await market.listings.create({ ...input, sellerId: 'carol' });
      expect(other.id).not.toBe(a.id);
    });

    it('applies a keyed edit once: a replay returns the first result even after later edits', async () => {
      const l = await market.listings.create({
        sellerId: 'bob',
        title: 'Desk',
        price: Money.of('90', 'USD'),
        quantity: 2,
      });
      const edit = { expectedVersion: 0, title: 'Oak desk', idempotencyKey: 'edit-1' };
      const first = await market.listings.update(l.id, edit);
      await market.listings.update(l.id, { expectedVersion: 1, title: 'Pine desk' });
      const replay = await market.listings.update(l.id, edit);
      expect(replay).toEqual(first);
      expect(await market.listings.get(l.id)).toMatchObject({ title: 'Pine desk', version: 2 });
      // a retryable error (stale version) is not stored: the key stays free for a corrected retry
      const stale = { expectedVersion: 0, title: 'Elm desk', idempotencyKey: 'edit-stale' };
      await expect(market.listings.update(l.id, stale)).rejects.toMatchObject({ code: 'CONCURRENCY_CONFLICT' });
      expect(await market.listings.update(l.id, { ...stale, expectedVersion: 2 })).toMatchObject({ title: 'Elm desk' });
      // stock that was not there refuses the request before it executes: nothing stored (STORED_UNDER_KEY), so the
      // same request with the key runs again once the stock is free, and applies once
      const hold = await market.listings.reserve({ listingId: l.id, quantity: 2 });
      const shrink = { expectedVersion: 3, quantity: 1, idempotencyKey: 'shrink' };
      await expect(market.listings.update(l.id, shrink)).rejects.toMatchObject({ code: 'INSUFFICIENT_STOCK' });
      expect(
        await market.idempotency.inspect({ key: 'shrink', actor: `listing:${l.id}`, operation: 'listings.update' }),
      ).toBe(undefined);
      await market.listings.release(hold.id);
      const shrunk = await market.listings.update(l.id, shrink);
      expect(shrunk).toMatchObject({ quantity: 1, version: 4 });
      expect(await market.listings.update(l.id, shrink)).toEqual(shrunk);
      await expect(market.listings.update(l.id, { ...shrink, quantity: 0 })).rejects.toMatchObject({
        code: 'IDEMPOTENCY_KEY_REUSED',
      });
      expect(await market.listings.get(l.id)).toMatchObject({ quantity: 1, version: 4 });
    });

    it('reserves and moves reservations once per key', async () => {
      const l = await market.listings.create({
        sellerId: 'bob',
        title: 'Mug',
        price: Money.of('5', 'USD'),
        quantity: 5,
      });
      const hold = { listingId: l.id, quantity: 2, idempotencyKey: 'hold-1' };
      const r1 = await market.listings.reserve(hold);
      const r2 = await market.listings.reserve(hold);
      expect(r2).toEqual(r1);
      expect((await market.listings.get(l.id))?.reserved).toBe(2); // held once
      const sold = await market.listings.markSold(r1.id, { idempotencyKey: 'sell-1' });
      expect(await market.listings.markSold(r1.id, { idempotencyKey: 'sell-1' })).toEqual(sold);
      expect(sold.status).toBe('sold');
      const back = await market.listings.restock(r1.id, { idempotencyKey: 'restock-1' });
      expect(await market.listings.restock(r1.id, { idempotencyKey: 'restock-1' })).toEqual(back);
      expect(await market.listings.get(l.id)).toMatchObject({ sold: 0, reserved: 0, available: 5 });
      await expect(market.listings.release(r1.id, { idempotencyKey: '' })).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
      });
      await checkStockInvariants(market);
    });
  });
}

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createMarketplace, isMarketkitError, type Marketplace, Money, type StockStrategy } from '@marketkit/core';
import { checkStockInvariants, type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const fixture = fileURLToPath(new URL('./fixtures/buyer-process.ts', import.meta.url));
const backend = testBackends().find((b) => b.name === 'postgres');

describe.runIf(backend !== undefined)('contended stock on postgres', () => {
  let database: TestDatabase;
  let market: Marketplace;
  beforeAll(async () => {
    database = await backend!.createDatabase();
    market = createMarketplace({ adapter: database.adapter() });
    await market.migrate();
  });
  afterAll(async () => {
    await market?.close();
    await database?.drop();
  });

  for (const strategy of ['guardedUpdate', 'rowLock'] as StockStrategy[]) {
    it(`never oversells the last items to 64 concurrent buyers on 4 pools (${strategy})`, async () => {
      const listing = await market.listings.create({
        sellerId: 's',
        title: 'last ten',
        price: Money.of('5', 'USD'),
        quantity: 10,
      });
      const markets = Array.from({ length: 4 }, () =>
        createMarketplace({ adapter: database.adapter({ max: 16 }), listings: { stockStrategy: strategy } }),
      );
      const outcomes = await Promise.all(
        Array.from({ length: 64 }, (_, i) =>
          markets[i % 4]!.listings.reserve({ listingId: listing.id, quantity: 1 }).then(
            () => 'ok',
            (e: unknown) => (isMarketkitError(e) ? e.code : 'unexpected'),
          ),
        ),
      );
      await Promise.all(markets.map((m) => m.close()));
      expect(outcomes.filter((o) => o === 'ok')).toHaveLength(10);
      expect(outcomes.filter((o) => o === 'INSUFFICIENT_STOCK')).toHaveLength(54);
      expect(await market.listings.get(listing.id)).toMatchObject({ reserved: 10, available: 0 });
      await checkStockInvariants(market);
    });

    it(`never oversells across 4 buyer processes (${strategy})`, async () => {
      const listing = await market.listings.create({
        sellerId: 's',
        title: 'last seven',
        price: Money.of('5', 'USD'),
        quantity: 7,
      });
      const results = await Promise.all(
        Array.from({ length: 4 }, () =>
          run(process.execPath, ['--import', 'tsx', fixture, database.location, listing.id, '12', strategy], {
            timeout: 60_000,
          }),
        ),
      );
      const summary = results.map((r) => JSON.parse(r.stdout) as { ok: number; refused: number });
      expect(summary.reduce((n, s) => n + s.ok, 0)).toBe(7);
      expect(summary.reduce((n, s) => n + s.refused, 0)).toBe(48 - 7);
      await checkStockInvariants(market);
    }, 90_000);
  }
});

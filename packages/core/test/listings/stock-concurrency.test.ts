import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createMarketplace, isMarketkitError, type Marketplace, Money, type StockStrategy } from '@marketkit/core';
import { checkStockInvariants, type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('./fixtures/buyer-process.ts', import.meta.url));
const backend = testBackends().find((b) => b.name === 'postgres');

interface BuyerSummary {
  readonly ok: number;
  readonly refused: number;
  readonly startedAt: number;
  readonly endedAt: number;
}

/**
 * Starts the buyer processes, waits until every one has connected and said `ready`, then sends `go` to all of them
 * at once (a barrier: none starts its race before the last one is ready) and collects their summaries.
 */
async function raceBuyers(args: readonly string[], processes: number): Promise<BuyerSummary[]> {
  const children = Array.from({ length: processes }, () =>
    spawn(process.execPath, ['--import', 'tsx', fixture, ...args], {
      stdio: ['pipe', 'pipe', 'inherit'],
      timeout: 60_000,
    }),
  );
  const outputs = children.map((child) => {
    let out = '';
    child.stdout.setEncoding('utf8');
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: string) => {
        out += chunk;
        if (out.startsWith('ready\n')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`buyer exited with ${code} before it was ready`)));
    });
    const done = new Promise<string>((resolve, reject) =>
      child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`buyer exited with ${code}: ${out}`)))),
    );
    return { ready, done };
  });
  await Promise.all(outputs.map((o) => o.ready));
  for (const child of children) child.stdin.end('go\n');
  const texts = await Promise.all(outputs.map((o) => o.done));
  return texts.map((t) => JSON.parse(t.slice('ready\n'.length)) as BuyerSummary);
}

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
      const summary = await raceBuyers([database.location, listing.id, '12', strategy], 4);
      // They raced: every process began before any had finished.
      const lastStart = Math.max(...summary.map((s) => s.startedAt));
      const firstEnd = Math.min(...summary.map((s) => s.endedAt));
      expect(lastStart, 'the buyer processes ran one after another').toBeLessThanOrEqual(firstEnd);
      expect(summary.reduce((n, s) => n + s.ok, 0)).toBe(7);
      expect(summary.reduce((n, s) => n + s.refused, 0)).toBe(48 - 7);
      await checkStockInvariants(market);
    }, 90_000);
  }
});

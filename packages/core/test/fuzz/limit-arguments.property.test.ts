/**
 * `limit` arguments of sweeps, lists and maintenance calls (issue 17, point 3): a negative, fractional, non-finite,
 * string or oversized limit made SQLite return nothing and PostgreSQL fail with STORAGE_ERROR. Each is now an
 * integer from 1 to the call's maximum, else VALIDATION_FAILED, the same on both databases.
 */
import { createMarketplace, type Marketplace } from '@marketkit/core';
import { propertyRuns, type TestDatabase, testBackends } from '@marketkit/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** A limit no call accepts: not a whole number of rows, or past every maximum. */
const badLimit = fc.oneof(
  fc.integer({ min: -1_000_000, max: 0 }),
  fc.double({ noInteger: true }),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0.5, 1.5, 2 ** 53, 1_000_001, 10 ** 12),
  fc.constantFrom('5', '-1', '', null, true, 5n, [5], { valueOf: () => 5 }),
);

for (const backend of testBackends()) {
  describe(`limit arguments on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter() });
      await market.migrate();
      await market.ledger.createAccounts([{ id: 'acc', currency: 'USD', code: 1 }]);
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    const calls = (limit: unknown): Record<string, () => Promise<unknown>> => {
      const n = limit as number;
      return {
        'idempotency.sweepExpired': () => market.idempotency.sweepExpired(n),
        'orders.fireDueTransitions': () => market.orders.fireDueTransitions(n),
        'listings.expireReservations': () => market.listings.expireReservations(n),
        'ledger.expirePendingTransfers': () => market.ledger.expirePendingTransfers(n),
        'ledger.listTransfers': () => market.ledger.listTransfers({ accountId: 'acc', limit: n }),
        'ledger.listAccounts': () => market.ledger.listAccounts({ limit: n }),
        'ledger.queryTransfers': () => market.ledger.queryTransfers({ limit: n }),
        'jobs.listFailed': () => market.jobs.listFailed(n),
        'sagas.listFailed': () => market.sagas.listFailed({ limit: n }),
        'orders.stuckCheckouts': () => market.orders.stuckCheckouts({ limit: n }),
        'events.backlog': () => market.events.backlog({ cap: n }),
      };
    };

    it('refuses every limit that is not a whole number of rows within the maximum, with VALIDATION_FAILED', async () => {
      await fc.assert(
        fc.asyncProperty(badLimit, async (limit) => {
          for (const [name, call] of Object.entries(calls(limit))) {
            const outcome = await call().then(
              () => 'accepted',
              (e: unknown) => (e as { code?: string }).code ?? String(e),
            );
            expect(outcome, `${name}(${String(limit)})`).toBe('VALIDATION_FAILED');
          }
        }),
        { numRuns: propertyRuns(40) },
      );
    });

    it('takes 1, the default and the largest limit each call allows', async () => {
      for (const limit of [1, undefined, 1000]) {
        for (const [name, call] of Object.entries(calls(limit))) {
          await expect(call(), `${name}(${String(limit)})`).resolves.toBeDefined();
        }
      }
      await expect(market.orders.fireDueTransitions(10_000)).resolves.toBe(0);
      await expect(market.listings.expireReservations(10_000)).resolves.toBe(0);
      await expect(market.ledger.expirePendingTransfers(10_000)).resolves.toBe(0);
      await expect(market.events.backlog({ cap: 1_000_000 })).resolves.toEqual({
        undelivered: 0,
        capped: false,
        oldestAgeMs: null,
      });
    });
  });
}

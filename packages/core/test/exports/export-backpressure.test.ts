// An export reads its next batch only once the consumer has taken the last one: a consumer that stops reading
// stops the statements, whatever the row count.
import { createMarketplace, type Marketplace } from '@marketkit/core';
import { type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RecordedStatement, recordingAdapter } from '../tenancy/tenancy-checks.js';

const ROWS = 30;
const BATCH = 3;

for (const backend of testBackends()) {
  describe(`export back-pressure on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    const statements: RecordedStatement[] = [];
    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: recordingAdapter(database.adapter(), statements) });
      await market.migrate();
      await market.ledger.createAccounts([
        { id: 'a', currency: 'USD', code: 1 },
        { id: 'b', currency: 'USD', code: 1 },
      ]);
      const transfer = { debitAccountId: 'a', creditAccountId: 'b', currency: 'USD', amount: 1n } as const;
      await market.ledger.createTransfers(Array.from({ length: ROWS }, (_, i) => ({ ...transfer, id: `t${i}` })));
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    it('reads at most one batch beyond what the consumer took', async () => {
      const batchReads = () =>
        statements.filter((s) => /from "mk_transfers"/.test(s.sql) && /limit/i.test(s.sql)).length;
      statements.length = 0;
      const stream = market.exports.transfers({ format: 'ndjson', batchSize: BATCH });
      const chunks = stream[Symbol.asyncIterator]();
      for (let taken = 1; taken <= ROWS / BATCH; taken++) {
        const chunk = await chunks.next();
        expect(String(chunk.value).split('\n').length - 1).toBe(BATCH);
        // Give a read the consumer did not ask for every chance to happen: statements of its own go first.
        for (let i = 0; i < 3; i++) await market.ledger.getAccount('a');
        expect(batchReads()).toBeLessThanOrEqual(taken + 1);
      }
      expect((await chunks.next()).done).toBe(true);
      // The ten full batches, and the empty one that ends the export.
      expect(batchReads()).toBe(ROWS / BATCH + 1);
    });
  });
}

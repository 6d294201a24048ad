import {
  type CreateTransferResult,
  createMarketplace,
  hasErrorCode,
  type Marketplace,
  type TransferInput,
} from '@marketkit/core';
import { checkLedgerInvariants, ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import { Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CountingAdapter, countingAdapter } from './fixtures/counting-adapter.js';

/**
 * Group commit of `createTransfers` (`ledger: { coalesce }`): concurrent calls share transactions, keep their own
 * results, linked chains and errors, and a malformed or failing call never changes another's outcome.
 */

const transfer = (id: string, amount: bigint, over: Partial<TransferInput> = {}): TransferInput => ({
  id,
  debitAccountId: 'ext',
  creditAccountId: 'buyer',
  amount,
  currency: 'USD',
  ...over,
});
const codes = (rs: readonly CreateTransferResult[]) => rs.map((r) => r.result);

/** Settles every promise: its results, or the error code it threw. */
async function settle(calls: readonly Promise<CreateTransferResult[]>[]): Promise<(string[] | string)[]> {
  return Promise.all(
    calls.map((p) =>
      p.then(codes, (e: unknown) =>
        hasErrorCode(e, 'VALIDATION_FAILED') ? 'VALIDATION_FAILED' : String((e as { code?: string }).code),
      ),
    ),
  );
}

for (const backend of testBackends()) {
  describe(`coalesced createTransfers on ${backend.name}`, () => {
    let database: TestDatabase;
    let counting: CountingAdapter;
    let market: Marketplace;
    const clock = new ManualClock();

    beforeAll(async () => {
      database = await backend.createDatabase();
      counting = countingAdapter(database.adapter({ max: 8 }));
      market = createMarketplace({ adapter: counting.adapter, clock, ledger: { coalesce: true } });
      await market.migrate();
      await market.ledger.createAccounts([
        { id: 'ext', currency: 'USD', code: 1 },
        { id: 'buyer', currency: 'USD', code: 2, flags: { debitsMustNotExceedCredits: true } },
        { id: 'seller', currency: 'USD', code: 3, flags: { debitsMustNotExceedCredits: true } },
      ]);
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    it('commits 64 concurrent single-transfer calls in far fewer transactions, each with its own result', async () => {
      const before = counting.transactions();
      const calls = Array.from({ length: 64 }, (_, i) => market.ledger.createTransfers([transfer(`c64-${i}`, 10n)]));
      const results = await Promise.all(calls);
      const used = counting.transactions() - before;
      expect(results.map((r) => r.map((x) => [x.index, x.id, x.result]))).toEqual(
        Array.from({ length: 64 }, (_, i) => [[0, `c64-${i}`, 'ok']]),
      );
      expect(used).toBeLessThanOrEqual(2);
      expect((await market.ledger.getAccount('buyer'))?.creditsPosted).toBe(640n);
      // Calls that arrive while a batch is in flight join the next one.
      const staggered: Promise<CreateTransferResult[]>[] = [];
      const start = counting.transactions();
      for (let i = 0; i < 64; i++) {
        staggered.push(market.ledger.createTransfers([transfer(`s64-${i}`, 1n)]));
        if (i % 8 === 7) await new Promise((r) => setImmediate(r));
      }
      expect((await Promise.all(staggered)).flat().every((r) => r.result === 'ok')).toBe(true);
      expect(counting.transactions() - start).toBeLessThan(64 / 4);
      await checkLedgerInvariants(market);
    });

    it('a malformed call fails alone with VALIDATION_FAILED, before it joins a batch', async () => {
      const out = await settle([
        market.ledger.createTransfers([transfer('v-1', 1n)]),
        market.ledger.createTransfers([transfer('bad id', 1n)]),
        market.ledger.createTransfers([transfer('v-2', 1n)]),
      ]);
      expect(out).toEqual([['ok'], 'VALIDATION_FAILED', ['ok']]);
    });

    it('keeps linked chains and failures inside their call', async () => {
      const out = await settle([
        // a chain that fails: rolled back as a whole
        market.ledger.createTransfers([
          transfer('l-1', 5n, { debitAccountId: 'buyer', creditAccountId: 'seller', flags: { linked: true } }),
          transfer('l-2', 10n ** 9n, { debitAccountId: 'buyer', creditAccountId: 'seller' }),
        ]),
        // an open chain at the end of a call does not link into the next call
        market.ledger.createTransfers([transfer('o-1', 1n, { flags: { linked: true } })]),
        market.ledger.createTransfers([transfer('o-2', 1n)]),
        // a call spending what an earlier call in the batch credited (serial order)
        market.ledger.createTransfers([transfer('f-1', 7n, { creditAccountId: 'seller' })]),
        market.ledger.createTransfers([transfer('f-2', 7n, { debitAccountId: 'seller', creditAccountId: 'buyer' })]),
        // a duplicate id inside one batch: the later call sees `exists`
        market.ledger.createTransfers([transfer('d-1', 3n)]),
        market.ledger.createTransfers([transfer('d-1', 3n)]),
        market.ledger.createTransfers([transfer('d-1', 4n)]),
      ]);
      expect(out).toEqual([
        ['linkedEventFailed', 'exceedsCredits'],
        ['linkedEventChainOpen'],
        ['ok'],
        ['ok'],
        ['ok'],
        ['ok'],
        ['exists'],
        ['existsWithDifferentAmount'],
      ]);
      await checkLedgerInvariants(market);
    });

    it('splits batches at maxBatch transfers, never splitting a call', async () => {
      const capped = countingAdapter(database.adapter());
      const small = createMarketplace({ adapter: capped.adapter, clock, ledger: { coalesce: { maxBatch: 4 } } });
      try {
        const before = capped.transactions();
        const calls = Array.from({ length: 12 }, (_, i) => small.ledger.createTransfers([transfer(`m-${i}`, 1n)]));
        expect((await Promise.all(calls)).flat().map((r) => r.result)).toEqual(Array(12).fill('ok'));
        expect(capped.transactions() - before).toBe(3);
        const three = Array.from({ length: 4 }, (_, i) =>
          small.ledger.createTransfers([transfer(`m3-${i}a`, 1n), transfer(`m3-${i}b`, 1n), transfer(`m3-${i}c`, 1n)]),
        );
        const mid = capped.transactions();
        expect((await Promise.all(three)).flat().every((r) => r.result === 'ok')).toBe(true);
        expect(capped.transactions() - mid).toBe(4);
        // a call larger than maxBatch is never split: it runs alone, in its turn
        const big = Array.from({ length: 6 }, (_, i) => transfer(`mb-${i}`, 1n));
        const around = [
          small.ledger.createTransfers([transfer('mb-before', 1n)]),
          small.ledger.createTransfers(big),
          small.ledger.createTransfers([transfer('mb-after', 1n)]),
        ];
        const last = capped.transactions();
        expect((await Promise.all(around)).map(codes)).toEqual([['ok'], Array(6).fill('ok'), ['ok']]);
        expect(capped.transactions() - last).toBe(3);
      } finally {
        await small.close();
      }
    });

    it('rejects bad coalesce options with VALIDATION_FAILED', () => {
      for (const ledger of [{ coalesce: 'yes' }, { coalesce: { maxBatch: 0 } }, { coalesce: { maxBatch: 8191 } }]) {
        expect(() => createMarketplace({ adapter: database.adapter(), ledger } as never)).toThrow(
          expect.objectContaining({ code: 'VALIDATION_FAILED' }),
        );
      }
    });

    it('a storage error one call causes stays with that call; the others commit', async () => {
      await installPoison(database, backend.name);
      const before = counting.transactions();
      const out = await settle([
        market.ledger.createTransfers([transfer('p-ok-1', 1n)]),
        market.ledger.createTransfers([transfer('p-ok-2', 1n), transfer('poison', 1n)]),
        market.ledger.createTransfers([transfer('p-ok-3', 1n)]),
      ]);
      expect(out).toEqual([['ok'], 'STORAGE_ERROR', ['ok']]);
      // the shared attempt rolled back, then each call alone
      expect(counting.transactions() - before).toBe(4);
      const seen = await market.ledger.listTransfers({ accountId: 'ext', limit: 1000 });
      const ids = new Set(seen.transfers.map((t) => t.id));
      expect([ids.has('p-ok-1'), ids.has('p-ok-2'), ids.has('poison'), ids.has('p-ok-3')]).toEqual([
        true,
        false,
        false,
        true,
      ]);
      await checkLedgerInvariants(market);
    });

    if (backend.name === 'postgres') {
      it('a retryable failure fails every call of the batch, with nothing committed', async () => {
        const out = await settle([
          market.ledger.createTransfers([transfer('r-ok-1', 1n)]),
          market.ledger.createTransfers([transfer('retry-me', 1n)]),
        ]);
        expect(out).toEqual(['SERIALIZATION_FAILURE', 'SERIALIZATION_FAILURE']);
        const seen = await market.ledger.listTransfers({ accountId: 'ext', limit: 1000 });
        expect(seen.transfers.some((t) => t.id === 'r-ok-1' || t.id === 'retry-me')).toBe(false);
      });
    }
  });
}

/** A trigger that fails inserting transfer `poison` (a plain error) and `retry-me` (a serialization failure). */
async function installPoison(database: TestDatabase, backend: string): Promise<void> {
  const db = new Kysely<unknown>({ dialect: database.adapter().dialect });
  try {
    if (backend === 'postgres') {
      await sql`create or replace function mk_test_poison() returns trigger language plpgsql as $$
        begin
          if new.id = 'poison' then raise exception 'poisoned transfer'; end if;
          if new.id = 'retry-me' then raise exception 'retry me' using errcode = '40001'; end if;
          return new;
        end $$`.execute(db);
      await sql`create trigger mk_test_poison before insert on mk_transfers
        for each row execute function mk_test_poison()`.execute(db);
    } else {
      await sql`create trigger mk_test_poison before insert on mk_transfers
        when new.id = 'poison' begin select raise(abort, 'poisoned transfer'); end`.execute(db);
    }
  } finally {
    await db.destroy();
  }
}

import {
  type AccountInput,
  createMarketplace,
  isMarketkitError,
  LEDGER_LIMITS,
  MAX_INT64,
  type Marketplace,
  type TransferInput,
  type ValidationIssue,
} from '@marketkit/core';
import { type TestDatabase, testBackends } from '@marketkit/testing';
import { Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const L = LEDGER_LIMITS;
type Path = readonly (string | number)[];

/** A transfer that passes validation, to be spoiled one field at a time. */
const good = { id: 'good', debitAccountId: 'ext', creditAccountId: 'a', amount: 1n, currency: 'USD' } as const;
const goodAccount = { id: 'acc', currency: 'USD', code: 1 } as const;

/** Input the types forbid, as a caller without TypeScript could send it. */
const transfers = (value: unknown) => value as readonly TransferInput[];
const accounts = (value: unknown) => value as readonly AccountInput[];

interface BadCase {
  readonly name: string;
  readonly input: unknown;
  /** A path that must appear among the issues. */
  readonly path: Path;
}

const badTransfers: readonly BadCase[] = [
  { name: 'an amount of the wrong type', input: [{ ...good, amount: true }], path: [0, 'amount'] },
  { name: 'an id of the wrong type', input: [{ ...good, id: 42 }], path: [0, 'id'] },
  { name: 'flags of the wrong type', input: [{ ...good, flags: 'pending' }], path: [0, 'flags'] },
  { name: 'a batch that is not an array', input: { ...good }, path: [] },
  { name: 'a null item', input: [null], path: [0] },
  { name: 'a negative number amount', input: [{ ...good, amount: -1 }], path: [0, 'amount'] },
  { name: 'a negative bigint amount', input: [{ ...good, amount: -1n }], path: [0, 'amount'] },
  { name: 'a negative string amount', input: [{ ...good, amount: '-1' }], path: [0, 'amount'] },
  { name: 'a fractional number amount', input: [{ ...good, amount: 1.5 }], path: [0, 'amount'] },
  { name: 'a fractional string amount', input: [{ ...good, amount: '1.5' }], path: [0, 'amount'] },
  { name: 'a number amount beyond 2^53-1', input: [{ ...good, amount: 2 ** 53 }], path: [0, 'amount'] },
  { name: 'a bigint amount of 2^63', input: [{ ...good, amount: MAX_INT64 + 1n }], path: [0, 'amount'] },
  { name: 'a string amount of 2^63', input: [{ ...good, amount: (MAX_INT64 + 1n).toString() }], path: [0, 'amount'] },
  { name: 'a 20-digit string amount', input: [{ ...good, amount: '1'.repeat(20) }], path: [0, 'amount'] },
  { name: 'an unknown currency', input: [{ ...good, currency: 'XYZ' }], path: [0, 'currency'] },
  { name: 'a lowercase currency', input: [{ ...good, currency: 'usd' }], path: [0, 'currency'] },
  { name: 'an id one over the limit', input: [{ ...good, id: 'x'.repeat(L.maxIdLength + 1) }], path: [0, 'id'] },
  { name: 'an empty id', input: [{ ...good, id: '' }], path: [0, 'id'] },
  { name: 'an id with a space', input: [{ ...good, id: 'a b' }], path: [0, 'id'] },
  {
    name: 'an account id one over the limit',
    input: [{ ...good, debitAccountId: 'x'.repeat(L.maxIdLength + 1) }],
    path: [0, 'debitAccountId'],
  },
  {
    name: 'a reference one over the limit',
    input: [{ ...good, reference: 'r'.repeat(L.maxReferenceLength + 1) }],
    path: [0, 'reference'],
  },
  {
    name: 'userData one over the limit',
    input: [{ ...good, userData: 'u'.repeat(L.maxUserDataLength + 1) }],
    path: [0, 'userData'],
  },
  { name: 'a code one over the limit', input: [{ ...good, code: L.maxCode + 1 }], path: [0, 'code'] },
  {
    name: 'a timeout one over the limit',
    input: [{ ...good, flags: { pending: true }, timeoutSeconds: L.maxTimeoutSeconds + 1 }],
    path: [0, 'timeoutSeconds'],
  },
  { name: 'an unknown extra field', input: [{ ...good, memo: 'hi' }], path: [0] },
  { name: 'an unknown flag', input: [{ ...good, flags: { pending: true, urgent: true } }], path: [0, 'flags'] },
  { name: 'an empty batch', input: [], path: [] },
  {
    name: 'one bad item among good ones (nothing of the batch is written)',
    input: [
      { ...good, id: 'ok-1' },
      { ...good, id: 'ok-2' },
      { ...good, id: 'bad-3', amount: -5 },
    ],
    path: [2, 'amount'],
  },
];

const badAccounts: readonly BadCase[] = [
  { name: 'a code of the wrong type', input: [{ ...goodAccount, code: '1' }], path: [0, 'code'] },
  { name: 'a fractional code', input: [{ ...goodAccount, code: 1.5 }], path: [0, 'code'] },
  { name: 'a negative code', input: [{ ...goodAccount, code: -1 }], path: [0, 'code'] },
  { name: 'a code one over the limit', input: [{ ...goodAccount, code: L.maxCode + 1 }], path: [0, 'code'] },
  { name: 'an unknown currency', input: [{ ...goodAccount, currency: 'ABC' }], path: [0, 'currency'] },
  { name: 'a lowercase currency', input: [{ ...goodAccount, currency: 'eur' }], path: [0, 'currency'] },
  { name: 'an id one over the limit', input: [{ ...goodAccount, id: 'x'.repeat(L.maxIdLength + 1) }], path: [0, 'id'] },
  {
    name: 'an ownerId one over the limit',
    input: [{ ...goodAccount, ownerId: 'o'.repeat(L.maxIdLength + 1) }],
    path: [0, 'ownerId'],
  },
  {
    name: 'userData one over the limit',
    input: [{ ...goodAccount, userData: 'u'.repeat(L.maxUserDataLength + 1) }],
    path: [0, 'userData'],
  },
  {
    name: 'flags of the wrong type',
    input: [{ ...goodAccount, flags: { debitsMustNotExceedCredits: 1 } }],
    path: [0, 'flags', 'debitsMustNotExceedCredits'],
  },
  { name: 'an unknown extra field', input: [{ ...goodAccount, balance: 100 }], path: [0] },
  { name: 'an empty batch', input: [], path: [] },
];

for (const backend of testBackends()) {
  describe(`ledger input validation on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    let raw: Kysely<unknown>;

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter() });
      raw = new Kysely<unknown>({ dialect: database.adapter().dialect });
      await market.migrate();
      await market.ledger.createAccounts([
        { id: 'ext', currency: 'USD', code: 1 },
        { id: 'a', currency: 'USD', code: 2, flags: { debitsMustNotExceedCredits: true } },
      ]);
    });
    afterAll(async () => {
      await raw?.destroy();
      await market?.close();
      await database?.drop();
    });

    /** Every row of the ledger's tables, to prove a rejected call wrote nothing. */
    async function contents(): Promise<string> {
      const tables = ['mk_accounts', 'mk_transfers', 'mk_pending_transfers'];
      const dump: unknown[] = [];
      for (const t of tables) dump.push((await sql`select * from ${sql.table(t)} order by id`.execute(raw)).rows);
      return JSON.stringify(dump, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
    }

    /** Asserts `call` fails with VALIDATION_FAILED naming `path`, and leaves the database as it was. */
    async function expectRejected(call: () => Promise<unknown>, path: Path): Promise<void> {
      const before = await contents();
      const error = await Promise.resolve()
        .then(call)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(isMarketkitError(error), `expected a MarketkitError, got ${String(error)}`).toBe(true);
      if (!isMarketkitError(error)) return;
      const json = error.toJSON();
      expect(json.code).toBe('VALIDATION_FAILED');
      expect(json.retryable).toBe(false);
      expect(json.message).toMatch(/\S/);
      if (json.code !== 'VALIDATION_FAILED') return;
      const issues: readonly ValidationIssue[] = json.details.issues;
      expect(issues.map((i) => i.path)).toContainEqual(path);
      expect(JSON.parse(JSON.stringify(json))).toMatchObject({ code: 'VALIDATION_FAILED', retryable: false });
      expect(await contents()).toBe(before);
    }

    describe('createTransfers rejects', () => {
      for (const c of badTransfers) {
        it(`${c.name} at ${JSON.stringify(c.path)}`, async () => {
          await expectRejected(() => market.ledger.createTransfers(transfers(c.input)), c.path);
        });
      }

      it(`a batch of maxBatchSize + 1 (${L.maxBatchSize + 1})`, async () => {
        const batch = Array.from({ length: L.maxBatchSize + 1 }, (_, i) => ({ ...good, id: `over-${i}` }));
        await expectRejected(() => market.ledger.createTransfers(batch), []);
      });
    });

    describe('createAccounts rejects', () => {
      for (const c of badAccounts) {
        it(`${c.name} at ${JSON.stringify(c.path)}`, async () => {
          await expectRejected(() => market.ledger.createAccounts(accounts(c.input)), c.path);
        });
      }

      it(`a batch of maxBatchSize + 1 (${L.maxBatchSize + 1})`, async () => {
        const batch = Array.from({ length: L.maxBatchSize + 1 }, (_, i) => ({ ...goodAccount, id: `acc-over-${i}` }));
        await expectRejected(() => market.ledger.createAccounts(batch), []);
      });
    });

    describe('listTransfers rejects', () => {
      it('a page size one over the limit', async () => {
        await expectRejected(
          () => market.ledger.listTransfers({ accountId: 'a', limit: L.maxPageSize + 1 }),
          ['limit'],
        );
      });
      it('a cursor it did not issue', async () => {
        await expectRejected(() => market.ledger.listTransfers({ accountId: 'a', cursor: 'bogus' }), ['cursor']);
      });
    });

    describe('the ledger queries reject', () => {
      const queries = (value: unknown) => value as Parameters<Marketplace['ledger']['queryTransfers']>[0];
      const accountQueries = (value: unknown) => value as Parameters<Marketplace['ledger']['listAccounts']>[0];
      const balance = (value: unknown) => value as Parameters<Marketplace['ledger']['getAccountBalance']>[0];
      const cases: readonly { name: string; call: () => Promise<unknown>; path: Path }[] = [
        {
          name: 'listAccounts with an unknown field',
          call: () => market.ledger.listAccounts(accountQueries({ owner: 'x' })),
          path: [],
        },
        {
          name: 'listAccounts with a code past the maximum',
          call: () => market.ledger.listAccounts({ code: L.maxCode + 1 }),
          path: ['code'],
        },
        {
          name: 'listAccounts with an unknown currency',
          call: () => market.ledger.listAccounts({ currency: 'XYZ' }),
          path: ['currency'],
        },
        {
          name: 'listAccounts with a flag that is not a boolean',
          call: () => market.ledger.listAccounts(accountQueries({ flags: { debitsMustNotExceedCredits: 1 } })),
          path: ['flags', 'debitsMustNotExceedCredits'],
        },
        {
          name: 'listAccounts with an empty id prefix',
          call: () => market.ledger.listAccounts({ idPrefix: '' }),
          path: ['idPrefix'],
        },
        {
          name: 'listAccounts with a page size one over the limit',
          call: () => market.ledger.listAccounts({ limit: L.maxPageSize + 1 }),
          path: ['limit'],
        },
        {
          name: 'listAccounts with a cursor it did not issue',
          call: () => market.ledger.listAccounts({ cursor: 'bogus' }),
          path: ['cursor'],
        },
        {
          name: 'listAccounts with a transfer cursor',
          call: () => market.ledger.listAccounts({ cursor: Buffer.from('[0,"t"]').toString('base64url') }),
          path: ['cursor'],
        },
        {
          name: 'queryTransfers with input that is not an object',
          call: () => market.ledger.queryTransfers(queries('ext')),
          path: [],
        },
        {
          name: 'queryTransfers by side without an account',
          call: () => market.ledger.queryTransfers({ side: 'debit' }),
          path: ['side'],
        },
        {
          name: 'queryTransfers with an unknown side',
          call: () => market.ledger.queryTransfers(queries({ accountId: 'ext', side: 'both' })),
          path: ['side'],
        },
        {
          name: 'queryTransfers with a fractional instant',
          call: () => market.ledger.queryTransfers({ from: 1.5 }),
          path: ['from'],
        },
        {
          name: 'queryTransfers with a negative instant',
          call: () => market.ledger.queryTransfers({ to: -1 }),
          path: ['to'],
        },
        {
          name: 'queryTransfers with an unknown pending status',
          call: () => market.ledger.queryTransfers(queries({ pendingStatus: 'open' })),
          path: ['pendingStatus'],
        },
        {
          name: 'queryTransfers with an unknown order',
          call: () => market.ledger.queryTransfers(queries({ order: 'asc' })),
          path: ['order'],
        },
        {
          name: 'queryTransfers with a page size of 0',
          call: () => market.ledger.queryTransfers({ limit: 0 }),
          path: ['limit'],
        },
        {
          name: 'queryTransfers with an account cursor',
          call: () => market.ledger.queryTransfers({ cursor: Buffer.from('["a","x"]').toString('base64url') }),
          path: ['cursor'],
        },
        {
          name: 'getAccountBalance without an instant',
          call: () => market.ledger.getAccountBalance(balance({ accountId: 'ext' })),
          path: ['at'],
        },
        {
          name: 'getAccountBalance at an instant past 2^53-1',
          call: () => market.ledger.getAccountBalance({ accountId: 'ext', at: 2 ** 53 }),
          path: ['at'],
        },
        {
          name: 'getAccountBalance with an account id of the wrong type',
          call: () => market.ledger.getAccountBalance(balance({ accountId: 7, at: 0 })),
          path: ['accountId'],
        },
      ];
      for (const c of cases) {
        it(`${c.name} at ${JSON.stringify(c.path)}`, async () => {
          await expectRejected(c.call, c.path);
        });
      }
    });

    describe('accepts input exactly at each limit', () => {
      it('ids, reference, userData, code and timeout at their maximum', async () => {
        const id = 'i'.repeat(L.maxIdLength);
        const account = {
          id,
          currency: 'USD',
          code: L.maxCode,
          ownerId: 'o'.repeat(L.maxIdLength),
          userData: 'u'.repeat(L.maxUserDataLength),
        };
        expect((await market.ledger.createAccounts([account])).map((r) => r.result)).toEqual(['ok']);
        const results = await market.ledger.createTransfers([
          {
            id: 't'.repeat(L.maxIdLength),
            debitAccountId: 'ext',
            creditAccountId: id,
            amount: 5n,
            currency: 'USD',
            code: L.maxCode,
            reference: 'r'.repeat(L.maxReferenceLength),
            userData: 'u'.repeat(L.maxUserDataLength),
          },
          {
            id: 'p'.repeat(L.maxIdLength),
            debitAccountId: 'ext',
            creditAccountId: id,
            amount: 1n,
            currency: 'USD',
            flags: { pending: true },
            timeoutSeconds: L.maxTimeoutSeconds,
          },
        ]);
        expect(results.map((r) => r.result)).toEqual(['ok', 'ok']);
        const stored = await market.ledger.listTransfers({ accountId: id, limit: L.maxPageSize });
        expect(stored.transfers.map((t) => t.id).sort()).toEqual([
          'p'.repeat(L.maxIdLength),
          't'.repeat(L.maxIdLength),
        ]);
        expect((await market.ledger.getAccount(id))?.userData).toBe('u'.repeat(L.maxUserDataLength));
      });

      it('an amount of exactly 2^63-1, as bigint and as a 19-digit string', async () => {
        await market.ledger.createAccounts([
          { id: 'big-src', currency: 'USD', code: 1 },
          { id: 'big-dst', currency: 'USD', code: 1 },
          { id: 'big-dst2', currency: 'USD', code: 1 },
        ]);
        const results = await market.ledger.createTransfers([
          {
            id: 'max-bigint',
            debitAccountId: 'big-src',
            creditAccountId: 'big-dst',
            amount: MAX_INT64,
            currency: 'USD',
          },
          {
            id: 'max-string',
            debitAccountId: 'big-src',
            creditAccountId: 'big-dst2',
            amount: MAX_INT64.toString(),
            currency: 'USD',
          },
          {
            id: 'max-safe',
            debitAccountId: 'big-src',
            creditAccountId: 'big-dst2',
            amount: Number.MAX_SAFE_INTEGER,
            currency: 'USD',
          },
        ]);
        // Validation lets all three through; the ledger then refuses what would overflow the debit balance.
        expect(results.map((r) => r.result)).toEqual(['ok', 'overflowsDebits', 'overflowsDebits']);
        expect((await market.ledger.getAccount('big-dst'))?.creditsPosted).toBe(MAX_INT64);
        expect((await market.ledger.verify()).problems).toEqual([]);
      });

      it(`a batch of exactly maxBatchSize (${L.maxBatchSize}) accounts and transfers`, async () => {
        const ids = Array.from({ length: L.maxBatchSize }, (_, i) => `batch-acc-${i}`);
        const created = await market.ledger.createAccounts(ids.map((id) => ({ id, currency: 'USD', code: 3 })));
        expect(created.filter((r) => r.result === 'ok')).toHaveLength(L.maxBatchSize);
        const results = await market.ledger.createTransfers(
          ids.map((id, i) => ({
            id: `batch-t-${i}`,
            debitAccountId: 'ext',
            creditAccountId: id,
            amount: 1n,
            currency: 'USD',
          })),
        );
        expect(results.filter((r) => r.result === 'ok')).toHaveLength(L.maxBatchSize);
        expect((await market.ledger.getAccount(ids[L.maxBatchSize - 1]!))?.creditsPosted).toBe(1n);
        expect((await market.ledger.verify()).problems).toEqual([]);
      });
    });
  });
}

/**
 * Hostile strings through the public API (issue 17, point 3): a lone UTF-16 surrogate half reaches PostgreSQL as
 * U+FFFD, so two different ids became one (a lease found held, two saga ids colliding as IDEMPOTENCY_KEY_REUSED),
 * and NUL is stored by SQLite but refused by PostgreSQL. Every text entry point refuses both with
 * VALIDATION_FAILED and writes nothing, the same on both databases; well-formed text of any script comes back
 * exactly as it went in.
 */
import {
  createMarketplace,
  defineJob,
  defineSaga,
  isStorableText,
  type Marketplace,
  Money,
  Storage,
} from '@marketkit/core';
import { propertyRuns, SandboxPaymentProvider, type TestDatabase, testBackends } from '@marketkit/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { jsonHasUnstorableText } from '../../src/errors/storable-text.js';

/** One code unit that is never part of a pair here: the ASCII around it cannot pair with it. */
const loneHalf = fc.integer({ min: 0xd800, max: 0xdfff }).map((u) => String.fromCharCode(u));
const ascii = fc.string({ maxLength: 12 });

/** A string that is not storable: ASCII around a lone surrogate half, a NUL, a reversed pair, or a huge one. */
const hostileString = fc.oneof(
  fc.tuple(ascii, loneHalf, ascii).map(([a, b, c]) => `${a}${b}${c}`),
  fc.tuple(ascii, ascii).map(([a, c]) => `${a}\u0000${c}`),
  fc.tuple(ascii, ascii).map(([a, c]) => `${a}\uDE00\uD83D${c}`),
  loneHalf.map((h) => `${'x'.repeat(1_000_000)}${h}`),
);

/** Well-formed text of any script (every code point but NUL), as hosts send names, titles and notes. */
const wellFormedText = fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).filter((s) => !s.includes('\u0000'));

const echoSaga = defineSaga('echo', {
  input: z.object({ text: z.string() }),
  steps: [{ name: 'noop', kind: 'local', run: async () => null }],
});
const echoJob = defineJob('echo', { payload: z.unknown(), run: async () => {} });

const TABLES = ['leases', 'saga_instances', 'jobs', 'listings', 'orders', 'accounts', 'transfers', 'outbox_events'];

for (const backend of testBackends()) {
  describe(`ill-formed strings on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    let storage: Storage;
    let listingId: string;
    const price = Money.of('5.00', 'USD');

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({
        adapter: database.adapter(),
        payments: new SandboxPaymentProvider(),
        sagas: [echoSaga],
        jobs: [echoJob],
      });
      await market.migrate();
      storage = new Storage(database.adapter());
      listingId = (await market.listings.create({ sellerId: 'bob', title: 'Lamp', price, quantity: 5 })).id;
    });
    afterAll(async () => {
      await market?.close();
      await storage?.destroy();
      await database?.drop();
    });

    const rowCounts = async () => {
      const counts: Record<string, number> = {};
      for (const table of TABLES) {
        const row = await storage.db
          .selectFrom(table as 'leases')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow();
        counts[table] = Number(row.n);
      }
      return counts;
    };

    /** Every public entry point that takes text, each given `s` in one text field (or deep in a payload). */
    const entryPoints = (s: string): Record<string, () => Promise<unknown>> => ({
      'leases.acquire name': () => market.leases.acquire(s, 'owner', 10_000),
      'leases.acquire owner': () => market.leases.acquire('lease', s, 10_000),
      'leases.inspect': () => market.leases.inspect(s),
      'idempotency actor': () =>
        market.idempotency.execute({ key: 'k', actor: s, operation: 'op', request: {} }, async () => 1),
      'idempotency operation': () =>
        market.idempotency.execute({ key: 'k', actor: 'a', operation: s, request: {} }, async () => 1),
      'sagas.start id': () => market.sagas.start('echo', { text: 'ok' }, { id: s }),
      'sagas.start input': () => market.sagas.start('echo', { text: s }),
      'sagas.get': () => market.sagas.get(s),
      'sagas.resolve note': () => market.sagas.resolve('saga-1', s),
      'jobs.scheduleJob kind': () => market.jobs.scheduleJob(undefined, { kind: s, runAt: 0 }),
      'jobs.scheduleJob dedupeKey': () => market.jobs.scheduleJob(undefined, { kind: 'echo', runAt: 0, dedupeKey: s }),
      'jobs.scheduleJob payload key': () =>
        market.jobs.scheduleJob(undefined, { kind: 'echo', runAt: 0, payload: { list: [{ [s]: 1 }] } }),
      'jobs.get': () => market.jobs.get(s),
      'events.append type': () =>
        storage.transaction((trx) =>
          market.events.append(trx, [{ type: s, aggregateType: 'a', aggregateId: 'a1', payload: {} }]),
        ),
      'events.append payload': () =>
        storage.transaction((trx) =>
          market.events.append(trx, [{ type: 't', aggregateType: 'a', aggregateId: 'a1', payload: { deep: { s } } }]),
        ),
      'listings.create title': () => market.listings.create({ sellerId: 'bob', title: s, price, quantity: 1 }),
      'listings.create idempotencyKey': () =>
        market.listings.create({ sellerId: 'bob', title: 'T', price, quantity: 1, idempotencyKey: s }),
      'orders.checkout paymentMethod': () =>
        market.orders.checkout({ buyerId: 'alice', listingId, quantity: 1, paymentMethod: s }),
      'orders.transition name': () => market.orders.transition('o1', s, { actor: { role: 'seller', id: 'bob' } }),
      'orders.transition reason': () =>
        market.orders.transition('o1', 'ship', { actor: { role: 'seller', id: 'bob' }, reason: s }),
      'payouts.request destination': () =>
        market.payouts.request({ sellerId: 'bob', currency: 'USD', amountMinor: 1n, destination: s }),
      'ledger.createAccounts userData': () =>
        market.ledger.createAccounts([{ id: 'acc-1', currency: 'USD', code: 1, userData: s }]),
      'ledger.createAccounts ownerId': () =>
        market.ledger.createAccounts([{ id: 'acc-1', currency: 'USD', code: 1, ownerId: s }]),
      'ledger.createTransfers reference': () =>
        market.ledger.createTransfers([
          { id: 't-1', debitAccountId: 'a', creditAccountId: 'b', amount: 1n, currency: 'USD', reference: s },
        ]),
    });

    it('two lease names PostgreSQL would merge are refused, not one lease found held by the other', async () => {
      await expect(market.leases.acquire('l\uD800', 'a', 10_000)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      await expect(market.leases.acquire('l\uDC00', 'b', 10_000)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      expect(await market.leases.acquire('l\uD83D\uDE00', 'a', 10_000)).toMatchObject({ name: 'l\uD83D\uDE00' });
      expect(await market.leases.acquire('l\uFFFD', 'b', 10_000)).toMatchObject({ name: 'l\uFFFD' });
    });

    it('two saga ids PostgreSQL would merge are refused, never IDEMPOTENCY_KEY_REUSED', async () => {
      const start = (id: string, text: string) => market.sagas.start('echo', { text }, { id });
      await expect(start('s\uD800', 'one')).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      await expect(start('s\uDC00', 'two')).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      await expect(start('nul\u0000', 'one')).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    });

    it('refuses a hostile string at every text entry point with VALIDATION_FAILED and writes nothing', async () => {
      const before = await rowCounts();
      await fc.assert(
        fc.asyncProperty(hostileString, async (s) => {
          for (const [name, call] of Object.entries(entryPoints(s))) {
            const outcome = await call().then(
              () => 'accepted',
              (e: unknown) => (e as { code?: string }).code ?? String(e),
            );
            expect(outcome, `${name} with ${JSON.stringify(s.slice(-40))}`).toBe('VALIDATION_FAILED');
          }
        }),
        { numRuns: propertyRuns(30) },
      );
      expect(await rowCounts()).toEqual(before);
    });

    it('stores well-formed text of any script and reads it back unchanged', async () => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(wellFormedText, async (text) => {
          n++;
          const lease = await market.leases.acquire(`${n}:${text}`, text, 10_000);
          expect((await market.leases.inspect(`${n}:${text}`))?.owner).toBe(text);
          expect(lease?.name).toBe(`${n}:${text}`);
          const listing = await market.listings.create({ sellerId: 'bob', title: text, price, quantity: 1 });
          expect((await market.listings.get(listing.id))?.title).toBe(text);
          const saga = await market.sagas.start('echo', { text }, { id: `${n}:${text}` });
          expect((await market.sagas.get(saga.id))?.input).toEqual({ text });
        }),
        { numRuns: propertyRuns(25) },
      );
    });
  });
}

describe('the stored-JSON check', () => {
  /** JSON-like values whose strings (keys included) come from `text`. */
  const jsonOf = (text: fc.Arbitrary<string>) =>
    fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        text,
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('value'), { maxLength: 3 }),
        fc.dictionary(text, tie('value'), { maxKeys: 3 }),
      ),
    })).value;
  const strings = (v: unknown): string[] =>
    typeof v === 'string'
      ? [v]
      : Array.isArray(v)
        ? v.flatMap(strings)
        : typeof v === 'object' && v !== null
          ? Object.entries(v).flatMap(([k, x]) => [k, ...strings(x)])
          : [];
  const anyText = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 6 }),
    fc.string({ unit: fc.oneof(fc.constantFrom('\\', 'u', 'd', '8', '0', '"'), loneHalf), maxLength: 8 }),
  );

  it('finds exactly the strings isStorableText refuses, at any depth and in keys, in what JSON.stringify wrote', () => {
    fc.assert(
      fc.property(jsonOf(anyText), (value) => {
        const json = JSON.stringify({ v: value });
        expect(jsonHasUnstorableText(json)).toBe(!strings(value).every(isStorableText));
      }),
      { numRuns: propertyRuns(2000) },
    );
  });
});

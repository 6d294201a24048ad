// The exports' invariant: an export interrupted at any row and resumed from the last row's cursor, in any batch
// sizes, writes exactly the text of one uninterrupted export (no gap, no repeat, one CSV header), and that text
// holds exactly the rows the public read API shows, money and text exact. Each run is a fresh tenant.
import {
  createMarketplace,
  type ExportFormat,
  type ExportOptions,
  escrowAccounts,
  isStorableText,
  type Marketplace,
  Money,
} from '@marketkit/core';
import { propertyRuns, SandboxPaymentProvider, type TestDatabase, testBackends } from '@marketkit/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedRows } from './fixtures/export-oracle.js';
import { asCsvRow, exportColumns, parseExport, readExport } from './fixtures/export-text.js';

const KINDS = ['orders', 'transfers', 'orderEvents'] as const;
type Kind = (typeof KINDS)[number];
const FORMATS: readonly ExportFormat[] = ['ndjson', 'csv'];

/** Text that CSV must quote and JSON must escape, among ordinary and non-ASCII text. */
const awkwardText = fc
  .oneof(
    fc.string({ unit: fc.constantFrom('a', 'Z', ' ', '"', ',', '\n', '\r', '\r\n', 'é', '😀', '\\', '\t', "'") }),
    fc.string({ unit: 'grapheme', maxLength: 12 }),
  )
  .filter(isStorableText);

// Amounts from 1 (the ledger refuses 0) to a twelfth of 2^63-1: a run of twelve never overflows a balance.
const MAX_PER_RUN = 12;
const transferArb = fc.record({
  amount: fc.bigInt({ min: 1n, max: (2n ** 63n - 1n) / BigInt(MAX_PER_RUN) }),
  reference: fc.option(awkwardText, { nil: undefined }),
  userData: fc.option(awkwardText, { nil: undefined }),
  code: fc.integer({ min: 1, max: 65_535 }),
});

/** One stretch of an export: it ends at its `limit`, or is cut after `stop` rows, or runs to the end. */
const segmentArb = fc.record({
  batchSize: fc.integer({ min: 1, max: 6 }),
  limit: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
  stop: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
});

const runArb = fc.record({
  transfers: fc.array(transferArb, { maxLength: MAX_PER_RUN }),
  orders: fc.array(fc.record({ ship: fc.boolean(), reason: fc.option(awkwardText, { nil: undefined }) }), {
    maxLength: 3,
  }),
  segments: fc.array(segmentArb, { minLength: 1, maxLength: 12 }),
});

/** `ledger.createTransfers`, which refuses an empty batch. */
async function createTransfers(
  market: Marketplace,
  transfers: Parameters<Marketplace['ledger']['createTransfers']>[0],
) {
  return transfers.length === 0 ? [] : market.ledger.createTransfers(transfers);
}

function exportOf(market: Marketplace, kind: Kind, options: ExportOptions) {
  return market.exports[kind](options);
}

type Segment = { readonly batchSize: number; readonly limit?: number | undefined; readonly stop?: number | undefined };

/**
 * An export in `segments`, as a host that crashes or stops writes it to one file: each segment resumes after the last
 * whole row of the file so far; a last one runs to the end. Returns the file's text.
 */
async function resumedText(market: Marketplace, kind: Kind, format: ExportFormat, segments: readonly Segment[]) {
  let text = '';
  for (const [i, s] of [...segments, { batchSize: 5 }].entries()) {
    const last = i === segments.length;
    const after = parseExport(text, format).at(-1)?.cursor;
    const options: ExportOptions = {
      format,
      batchSize: s.batchSize,
      ...(after === undefined ? {} : { after }),
      ...(s.limit === undefined || last ? {} : { limit: s.limit }),
      // A host whose file holds only the header resumes from the start, and asks for no second header.
      ...(after === undefined && text !== '' ? { header: false } : {}),
    };
    text += await readExport(exportOf(market, kind, options), format, last ? undefined : s.stop);
  }
  return text;
}

for (const backend of testBackends()) {
  describe(`exports on ${backend.name}`, () => {
    let database: TestDatabase;
    let run = 0;
    beforeAll(async () => {
      database = await backend.createDatabase();
      const market = createMarketplace({ adapter: database.adapter() });
      await market.migrate();
      await market.close();
    });
    afterAll(async () => database?.drop());

    it('resumed after any row in any batch sizes, writes exactly one full export, and that holds every row', async () => {
      await fc.assert(
        fc.asyncProperty(runArb, async (input) => {
          const market = createMarketplace({
            adapter: database.adapter(),
            tenant: `run-${++run}`,
            payments: new SandboxPaymentProvider(),
            logger: { error() {}, warn() {}, info() {}, debug() {} },
          });
          try {
            const [a, b] = [`a-${run}`, `b-${run}`];
            await market.ledger.createAccounts([
              { id: a, currency: 'USD', code: 1 },
              { id: b, currency: 'USD', code: 1 },
            ]);
            const results = await createTransfers(
              market,
              input.transfers.map((t, i) => ({
                id: `t-${run}-${i}`,
                debitAccountId: a,
                creditAccountId: b,
                currency: 'USD',
                amount: t.amount,
                code: t.code,
                ...(t.reference === undefined ? {} : { reference: t.reference }),
                ...(t.userData === undefined ? {} : { userData: t.userData }),
              })),
            );
            expect(results.map((r) => r.result)).toEqual(results.map(() => 'ok'));
            const orderIds: string[] = [];
            if (input.orders.length > 0) {
              const price = Money.of('19.99', 'USD');
              const { id: listingId } = await market.listings.create({
                sellerId: 'bob',
                title: 'Lamp',
                price,
                quantity: 9,
              });
              for (const [i, o] of input.orders.entries()) {
                const order = await market.orders.checkout({
                  buyerId: `buyer,"${i}"`,
                  listingId,
                  quantity: 1,
                  paymentMethod: 'tok_visa',
                });
                if (o.ship) {
                  const actor = { role: 'seller', id: 'bob' } as const;
                  await market.orders.transition(order.id, 'ship', {
                    actor,
                    ...(o.reason === undefined ? {} : { reason: o.reason }),
                  });
                }
                orderIds.push(order.id);
              }
            }
            const accounts = [a, b, escrowAccounts.clearing('USD'), ...orderIds.map(escrowAccounts.escrow)];
            const expected = await expectedRows(market, orderIds, accounts);
            for (const kind of KINDS) {
              for (const format of FORMATS) {
                const full = await readExport(exportOf(market, kind, { format }), format);
                expect(await resumedText(market, kind, format, input.segments)).toBe(full);
                checkRows(kind, format, full, expected[kind]);
              }
            }
          } finally {
            await market.close();
          }
        }),
        { numRuns: propertyRuns(backend.name === 'sqlite' ? 25 : 15) },
      );
    });
  });
}

const byKey = (kind: Kind) => (r: Readonly<Record<string, unknown>>) =>
  kind === 'orderEvents' ? `${String(r['order_id'])}\u0000${String(r['seq']).padStart(9, '0')}` : String(r['id']);

/** The export's rows are the expected ones (as sets: the database's collation orders ids), columns in order. */
function checkRows(kind: Kind, format: ExportFormat, text: string, expected: readonly Record<string, unknown>[]) {
  const rows = parseExport(text, format);
  expect(new Set(rows.map((r) => r.cursor)).size).toBe(rows.length);
  const got = rows.map(({ cursor, updated_at, ...rest }) => {
    if (kind === 'orders') expect(typeof updated_at === 'string' && !Number.isNaN(Date.parse(updated_at))).toBe(true);
    return rest;
  });
  const want = expected.map((r) => (format === 'csv' ? asCsvRow(r) : { ...r }));
  const key = byKey(kind);
  const sort = (xs: Readonly<Record<string, unknown>>[]) => [...xs].sort((x, y) => (key(x) < key(y) ? -1 : 1));
  expect(sort(got)).toEqual(sort(want));
  const first = expected[0];
  if (first !== undefined) {
    const columns = [...Object.keys(first), ...(kind === 'orders' ? ['updated_at'] : []), 'cursor'];
    expect(exportColumns(text, format)).toEqual(columns);
  }
}
